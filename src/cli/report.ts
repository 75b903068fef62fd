import type { Db } from '../shared/db/database.js';
import { formatTable } from '../shared/format-table.js';
import { runMonitoringQuery } from '../shared/monitoring.js';

/**
 * The daily check as readable tables: source health, the inbox, recent polls. Returns the exit
 * code: 2 when a source is STALE or events are dead-lettered (so cron can alert), else 0.
 */
export async function printReport(db: Db, write: (text: string) => void, timeZone = 'UTC'): Promise<number> {
  // "Today" in source health is the business's day.
  const health = await runMonitoringQuery<{ source: string; status: string }>(db, 'source_health', { timeZone });
  const inbox = await runMonitoringQuery<{ status: string; events: number }>(db, 'inbox_status', { timeZone });
  const polls = await runMonitoringQuery(db, 'poll_runs', { timeZone });
  write(`Source health\n${formatTable(health)}\n\n`);
  write(`Webhook inbox\n${formatTable(inbox)}\n\n`);
  write(`Recent polls\n${formatTable(polls.slice(0, 5), ['started_at', 'mode', 'status', 'seconds', 'people_seen', 'changes_inserted', 'api_calls', 'error'])}\n\n`);
  const stale = health.filter((r) => r.status !== 'HEALTHY');
  const dead = inbox.find((r) => r.status === 'dead')?.events ?? 0;
  if (stale.length === 0 && dead === 0) {
    write('All sources HEALTHY.\n');
    return 0;
  }
  for (const row of stale) write(`PROBLEM: ${row.source}: ${row.status}\n`);
  if (dead > 0) write(`PROBLEM: ${dead} dead-lettered webhook event(s): npm run cli -- events list --status dead\n`);
  return 2;
}
