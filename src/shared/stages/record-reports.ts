import { inTransaction, type Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import { recordPeopleReports, type PersonReports, type RecordOutcome } from './record-person-reports.js';

/**
 * Records reports about one person or many in one transaction and logs each row it added. Both
 * sources use it.
 */
export async function recordReports(db: Db, log: Logger, reports: PersonReports | readonly PersonReports[]): Promise<RecordOutcome[]> {
  const all = Array.isArray(reports) ? reports : [reports as PersonReports];
  if (all.length === 0) return [];
  const outcomes = await inTransaction(db, (trx) => recordPeopleReports(trx, all));
  logOutcomes(log, outcomes);
  return outcomes;
}

export function logOutcomes(log: Logger, outcomes: readonly RecordOutcome[]): void {
  for (const outcome of outcomes) {
    for (const change of outcome.inserted) {
      log.info(
        {
          personId: change.person_id,
          kind: change.kind,
          from: change.stage_from,
          to: change.stage_to,
          changedAt: change.changed_at,
          source: change.source,
        },
        change.kind === 'first_seen' ? 'FIRST STAGE SEEN' : 'STAGE CHANGE DETECTED',
      );
    }
    if (outcome.removed > 0 || outcome.revised > 0) {
      log.info({ personId: outcome.personId, removed: outcome.removed, revised: outcome.revised }, 'history corrected by a later report');
    }
  }
}
