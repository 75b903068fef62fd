import { sql } from 'kysely';
import type { Trx } from '../shared/db/database.js';
import { healthLine, readHealthReport } from '../shared/health-report.js';
import { runMonitoringQuery } from '../shared/monitoring.js';
import type { AlertMessage } from './alert-channels.js';

/** `now` as a calendar date and time of day in `timeZone`: { date: 'YYYY-MM-DD', time: 'HH:MM' }. */
export function localDateTime(now: Date, timeZone: string): { date: string; time: string } {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(now);
  const part = (type: string): string => parts.find((p) => p.type === type)!.value;
  return { date: `${part('year')}-${part('month')}-${part('day')}`, time: `${part('hour')}:${part('minute')}` };
}

// How long after midnight a summary whose time passed unchecked late the evening before is still sent.
const CATCH_UP_MINUTES = 6 * 60;

/**
 * The day a summary is due for at `now` (yesterday, business time) once `at` has passed today; else
 * undefined. Shortly after midnight, the day before yesterday is still due when its time (late the
 * evening before) was missed: with `at` = 23:59 a single check decides, and a deploy or a long check
 * then would skip the day for good. The claim per day keeps each summary to one.
 */
export function summaryDueFor(now: Date, at: string, timeZone: string): string | undefined {
  const { date, time } = localDateTime(now, timeZone);
  const minutes = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
  const daysBack = time >= at ? 1 : minutes(time) + 24 * 60 - minutes(at) <= CATCH_UP_MINUTES ? 2 : 0;
  if (daysBack === 0) return undefined;
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(year, month - 1, day - daysBack)).toISOString().slice(0, 10);
}

// node-postgres reads a `date` as local midnight; its local calendar date is the one PostgreSQL meant.
function calendarDate(value: Date | string): string {
  if (typeof value === 'string') return value.slice(0, 10);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${value.getFullYear()}-${pad(value.getMonth() + 1)}-${pad(value.getDate())}`;
}

/**
 * `day`'s arrivals per stage, as monitoring/stage_changes_per_day.sql counts them with days in
 * `timeZone`, and the health line. Sets the transaction's TimeZone, so give it a transaction of its own.
 */
export async function composeDailySummary(trx: Trx, day: string, timeZone: string): Promise<AlertMessage> {
  await sql`SELECT set_config('TimeZone', ${timeZone}, true)`.execute(trx);
  const rows = await runMonitoringQuery<{ day: Date | string; stage: string; changes: number }>(trx, 'stage_changes_per_day');
  const arrivals = rows.filter((r) => calendarDate(r.day) === day);
  const total = arrivals.reduce((sum, r) => sum + r.changes, 0);
  const { problems } = await readHealthReport(trx, timeZone);
  const lines = [
    `Arrivals per stage on ${day} (${timeZone}):`,
    ...(arrivals.length === 0 ? ['  none'] : arrivals.map((r) => `  ${r.stage}: ${r.changes}`)),
    `  total: ${total}`,
    `Health: ${healthLine(problems)}`,
  ];
  return { subject: `fub-collector daily summary for ${day}: ${total} arrival(s)`, text: lines.join('\n') };
}
