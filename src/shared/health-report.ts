import type { Db } from './db/database.js';
import { runMonitoringQuery } from './monitoring.js';

export interface SourceHealthRow {
  source: string;
  records_today: number;
  latest_change: Date | null;
  last_alive_at: Date | null;
  status: string;
}

export interface InboxStatusRow {
  status: string;
  events: number;
  oldest_received_at: Date | null;
}

/** Something `npm run report` calls a problem; `key` names the condition, `text` says it to a person. */
export interface HealthProblem {
  key: string;
  text: string;
}

export interface HealthReport {
  health: SourceHealthRow[];
  inbox: InboxStatusRow[];
  polls: Record<string, unknown>[];
  problems: HealthProblem[];
}

/** The daily check's judgement, read once for the report, the alerts and the daily summary. */
export async function readHealthReport(db: Db, timeZone = 'UTC'): Promise<HealthReport> {
  // "Today" in source health is the business's day.
  const health = await runMonitoringQuery<SourceHealthRow>(db, 'source_health', { timeZone });
  const inbox = await runMonitoringQuery<InboxStatusRow>(db, 'inbox_status', { timeZone });
  const polls = await runMonitoringQuery(db, 'poll_runs', { timeZone });
  const problems: HealthProblem[] = health
    .filter((r) => r.status !== 'HEALTHY')
    .map((r) => ({ key: `stale:${r.source}`, text: `${r.source}: ${r.status}` }));
  // A poll that failed has not moved the watermark; until one succeeds, changes since wait unread.
  const lastFinished = polls.find((p) => p.status === 'succeeded' || p.status === 'failed');
  if (lastFinished?.status === 'failed') {
    const started = lastFinished.started_at instanceof Date ? ` (started ${lastFinished.started_at.toISOString()})` : '';
    problems.push({ key: 'poll_failed', text: `the last poll failed: ${String(lastFinished.error ?? 'no error recorded')}${started}` });
  }
  const dead = inbox.find((r) => r.status === 'dead')?.events ?? 0;
  if (dead > 0) problems.push({ key: 'dead_events', text: `${dead} dead-lettered webhook event(s): npm run cli -- events list --status dead` });
  return { health, inbox, polls, problems };
}

/** One line for a summary: all healthy, or each problem. */
export function healthLine(problems: readonly HealthProblem[]): string {
  return problems.length === 0 ? 'All sources HEALTHY.' : `PROBLEMS: ${problems.map((p) => p.text).join('; ')}`;
}
