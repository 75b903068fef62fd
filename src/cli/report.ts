import type { Db } from '../shared/db/database.js';
import { formatTable } from '../shared/format-table.js';
import { runMonitoringQuery } from '../shared/monitoring.js';

/**
 * The daily check as readable tables: source health, the inbox, recent polls. Returns the exit
 * code: 2 when a source is STALE, the last poll failed, or events are dead-lettered (so cron can
 * alert), else 0.
 */
export async function printReport(db: Db, write: (text: string) => void): Promise<number> {
  const health = await runMonitoringQuery<{ source: string; status: string }>(db, 'source_health');
  const inbox = await runMonitoringQuery<{ status: string; events: number }>(db, 'inbox_status');
  const polls = await runMonitoringQuery(db, 'poll_runs');
  write(`Source health\n${formatTable(health)}\n\n`);
  write(`Webhook inbox\n${formatTable(inbox)}\n\n`);
  write(`Recent polls\n${formatTable(polls.slice(0, 5), ['started_at', 'mode', 'status', 'seconds', 'people_seen', 'changes_inserted', 'api_calls', 'error'])}\n\n`);
  const stale = health.filter((r) => r.status !== 'HEALTHY');
  const dead = inbox.find((r) => r.status === 'dead')?.events ?? 0;
  // A poll that failed has not moved the watermark; until one succeeds, changes since wait unread.
  const lastPoll = polls[0] as { status?: unknown; error?: unknown } | undefined;
  const pollFailed = lastPoll?.status === 'failed';
  if (stale.length === 0 && dead === 0 && !pollFailed) {
    write('All sources HEALTHY.\n');
    return 0;
  }
  for (const row of stale) write(`PROBLEM: ${row.source}: ${row.status}\n`);
  if (pollFailed) write(`PROBLEM: the last poll failed: ${String(lastPoll.error)}\n`);
  if (dead > 0) write(`PROBLEM: ${dead} dead-lettered webhook event(s): npm run cli -- events list --status dead\n`);
  return 2;
}
