import type { Db } from '../shared/db/database.js';
import { runMonitoringQuery, type MonitoringQuery } from '../shared/monitoring.js';

/** Bad input from the browser: a 400 with this message, nothing run. */
export class DashboardInputError extends Error {}

export interface DashboardTable {
  columns: string[];
  rows: Record<string, unknown>[];
  /** What the rows are for (the resolved range and choices), for the page to label and draw them. */
  meta: Record<string, unknown>;
}

type Query = URLSearchParams;
const RANGES = [7, 30, 90, 365];
const PAGE_SIZE = 50;
const MAX_DAYS = 3660;

/** Each table the dashboard shows and downloads: which monitoring/ file answers it, with which parameters. */
const TABLES: Record<string, { query: MonitoringQuery; params: (q: Query, today: string) => Record<string, string>; columns: string[] }> = {
  pipeline: { query: 'stage_changes_per_day', params: (q, today) => arrivals(q, today, 'none'), columns: ['day', 'stage', 'changes', 'webhook_rows', 'polling_rows', 'stage_key'] },
  by_agent: { query: 'stage_changes_per_day', params: (q, today) => arrivals(q, today, 'agent'), columns: ['day', 'grp', 'stage', 'changes', 'stage_key'] },
  by_lead_source: { query: 'stage_changes_per_day', params: (q, today) => arrivals(q, today, 'lead_source'), columns: ['day', 'grp', 'stage', 'changes', 'stage_key'] },
  conversion: {
    query: 'conversion',
    params: (q, today) => ({ ...range(q, today), ...stagePair(q) }),
    columns: ['stage_a', 'stage_b', 'reached_a', 'reached_b', 'percent', 'median_hours', 'p90_hours'],
  },
  time_in_stage: { query: 'time_in_stage', params: range, columns: ['stage', 'completed_stays', 'median_hours', 'p90_hours', 'avg_hours', 'in_stage_now'] },
  recent_moves: {
    query: 'recent_moves',
    params: (q) => {
      const search = q.get('search') ?? '';
      if (search.length > 100) throw new DashboardInputError('search: at most 100 characters');
      const page = whole(q.get('page') ?? '1', 'page', 1, 100_000);
      // One row more than a page tells whether there is a next page.
      return { search, limit: String(PAGE_SIZE + 1), offset: String((page - 1) * PAGE_SIZE) };
    },
    columns: ['changed_at', 'name', 'stage_from', 'stage_to', 'recorded_by', 'agent', 'lead_source', 'person_id', 'source'],
  },
  source_health: { query: 'source_health', params: () => ({}), columns: ['source', 'status', 'records_today', 'latest_change', 'last_alive_at'] },
  inbox: { query: 'inbox_status', params: () => ({}), columns: ['status', 'events', 'oldest_received_at', 'lag_p50_seconds', 'lag_p95_seconds'] },
  poll_runs: {
    query: 'poll_runs',
    params: () => ({}),
    columns: ['started_at', 'mode', 'status', 'seconds', 'pages', 'people_seen', 'changes_inserted', 'api_calls', 'error'],
  },
  stages: { query: 'stages', params: () => ({}), columns: ['stage_key', 'name'] },
};

export const TABLE_NAMES = Object.keys(TABLES);

/** Runs one table's query for a request's query string; times shown in the business zone. */
export async function loadTable(db: Db, name: string, q: Query, timeZone: string, now = new Date()): Promise<DashboardTable> {
  const table = TABLES[name];
  if (table === undefined) throw new DashboardInputError(`no such table: ${name}`);
  const params = table.params(q, dayIn(now, timeZone));
  let rows = await runMonitoringQuery<Record<string, unknown>>(db, table.query, { timeZone, params });
  const meta: Record<string, unknown> = { ...params, timeZone };
  if (name === 'recent_moves') {
    meta.page = Number(params.offset) / PAGE_SIZE + 1;
    meta.hasNext = rows.length > PAGE_SIZE;
    rows = rows.slice(0, PAGE_SIZE);
    delete meta.limit;
  }
  return { columns: table.columns, rows: rows.map((row) => shown(row, timeZone)), meta };
}

function arrivals(q: Query, today: string, groupBy: 'none' | 'agent' | 'lead_source'): Record<string, string> {
  const bucket = q.get('bucket') ?? (groupBy === 'none' ? 'day' : 'week');
  if (bucket !== 'day' && bucket !== 'week') throw new DashboardInputError('bucket: day or week');
  const stages = (q.get('stages') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (stages.length > 100 || stages.some((s) => s.length > 200)) throw new DashboardInputError('stages: at most 100 stage keys');
  return { ...range(q, today), bucket, stages: stages.join(','), group_by: groupBy };
}

/** `days` (7, 30, 90, 365: ending today) or a custom `from`..`to`, days in the business zone. */
function range(q: Query, today: string): { from: string; to: string } {
  const from = q.get('from');
  const to = q.get('to');
  if (from || to) {
    if (!from || !to || !isDay(from) || !isDay(to)) throw new DashboardInputError('from and to: both days, as YYYY-MM-DD');
    const span = (Date.parse(to) - Date.parse(from)) / 86_400_000;
    if (span < 0) throw new DashboardInputError('from must not be after to');
    if (span >= MAX_DAYS) throw new DashboardInputError(`a range of at most ${MAX_DAYS} days`);
    return { from, to };
  }
  const days = Number(q.get('days') ?? '30');
  if (!RANGES.includes(days)) throw new DashboardInputError(`days: one of ${RANGES.join(', ')} (or from and to)`);
  return { from: addDays(today, 1 - days), to: today };
}

function stageKey(q: Query, name: string): string {
  const value = q.get(name) ?? '';
  if (value.length > 200) throw new DashboardInputError(`${name}: a stage key`);
  return value;
}

/** A and B of a conversion: the same stage twice would count each arrival as its own conversion (100%). */
function stagePair(q: Query): { stage_a: string; stage_b: string } {
  const pair = { stage_a: stageKey(q, 'a'), stage_b: stageKey(q, 'b') };
  if (pair.stage_a !== '' && pair.stage_a.trim() === pair.stage_b.trim()) throw new DashboardInputError('a and b: choose two different stages');
  return pair;
}

function whole(raw: string, name: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new DashboardInputError(`${name}: a whole number from ${min} to ${max}`);
  return n;
}

// Years from 1900: PostgreSQL has no year 0, and nothing FUB knows is older.
function isDay(text: string): boolean {
  return /^(19|[2-9]\d)\d{2}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(Date.parse(text)) && new Date(text).toISOString().startsWith(text);
}

function addDays(day: string, n: number): string {
  return new Date(Date.parse(day) + n * 86_400_000).toISOString().slice(0, 10);
}

/** The calendar day `at` falls on in `timeZone`, as YYYY-MM-DD. */
export function dayIn(at: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);
}

/** Moments as the business zone's wall clock; `day` (a date column, read as local midnight) as the date. */
function shown(row: Record<string, unknown>, timeZone: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (!(value instanceof Date)) out[key] = value;
    else if (key === 'day') out[key] = `${value.getFullYear()}-${pad(value.getMonth() + 1)}-${pad(value.getDate())}`;
    else out[key] = wallClock(value, timeZone);
  }
  return out;
}

const pad = (n: number): string => String(n).padStart(2, '0');
const formats = new Map<string, Intl.DateTimeFormat>();

function wallClock(at: Date, timeZone: string): string {
  let format = formats.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    formats.set(timeZone, format);
  }
  return format.format(at);
}
