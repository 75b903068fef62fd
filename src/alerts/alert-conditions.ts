import type { Db } from '../shared/db/database.js';
import { readHealthReport, type HealthProblem, type HealthReport } from '../shared/health-report.js';

/** A condition that is true now: `key` names it across checks and replicas, `text` says it to a person. */
export type Condition = HealthProblem;

export interface ObservedConditions {
  conditions: Condition[];
  report: HealthReport;
}

const PENDING = new Set(['received', 'processing', 'failed']);

/**
 * What is wrong now: the report's problems (a STALE source, which for `polling` means a poll is
 * overdue; the last finished poll having failed; dead events), and an inbox that backs up.
 */
export async function observeConditions(db: Db, options: { now: Date; inboxBacklogMs: number }): Promise<ObservedConditions> {
  const report = await readHealthReport(db);
  const conditions: Condition[] = [...report.problems];
  const pending = report.inbox.filter((r) => PENDING.has(r.status));
  const oldest = Math.min(...pending.map((r) => r.oldest_received_at?.getTime() ?? Infinity));
  const waitedMs = options.now.getTime() - oldest;
  if (waitedMs > options.inboxBacklogMs) {
    const count = pending.reduce((sum, r) => sum + r.events, 0);
    conditions.push({
      key: 'inbox_backlog',
      text: `${count} webhook event(s) waiting, the oldest for ${Math.floor(waitedMs / 60_000)} min: is the processor stuck or FUB unreachable? npm run report`,
    });
  }
  return { conditions, report };
}
