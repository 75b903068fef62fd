import type { Db } from '../shared/db/database.js';
import { formatTable } from '../shared/format-table.js';
import { readHealthReport } from '../shared/health-report.js';

/**
 * The daily check as readable tables: source health, the inbox, recent polls. Returns the exit
 * code: 2 when a source is STALE, the last poll failed, or events are dead-lettered (so cron can
 * alert), else 0.
 */
export async function printReport(db: Db, write: (text: string) => void, timeZone = 'UTC'): Promise<number> {
  // "Today" in source health is the business's day.
  const { health, inbox, polls, problems } = await readHealthReport(db, timeZone);
  write(`Source health\n${formatTable(health)}\n\n`);
  write(`Webhook inbox\n${formatTable(inbox)}\n\n`);
  write(`Recent polls\n${formatTable(polls.slice(0, 5), ['started_at', 'mode', 'status', 'seconds', 'people_seen', 'changes_inserted', 'api_calls', 'error'])}\n\n`);
  if (problems.length === 0) {
    write('All sources HEALTHY.\n');
    return 0;
  }
  for (const problem of problems) write(`PROBLEM: ${problem.text}\n`);
  return 2;
}
