import { inTransaction, type Db, type Trx } from '../db/database.js';
import type { Logger } from '../logger.js';
import { recordPeopleReports, type PersonReports, type RecordOutcome } from './record-person-reports.js';

/**
 * Records reports about one person or many in one transaction and logs each row it added. Both
 * sources use it.
 */
export async function recordReports(db: Db, log: Logger, reports: PersonReports | readonly PersonReports[]): Promise<RecordOutcome[]> {
  const all = Array.isArray(reports) ? reports : [reports as PersonReports];
  if (all.length === 0) return [];
  return (await recordReportsWith(db, log, all, async () => undefined)).outcomes;
}

/**
 * recordReports, with `alongside` run in the same transaction (the webhook processor ends its events
 * there, so an event never completes without its rows). Rows are logged once committed.
 */
export async function recordReportsWith<T>(
  db: Db,
  log: Logger,
  reports: readonly PersonReports[],
  alongside: (trx: Trx) => Promise<T>,
): Promise<{ outcomes: RecordOutcome[]; alongside: T }> {
  const done = await inTransaction(db, async (trx) => ({ outcomes: await recordPeopleReports(trx, reports), alongside: await alongside(trx) }));
  logOutcomes(log, done.outcomes);
  return done;
}

function logOutcomes(log: Logger, outcomes: readonly RecordOutcome[]): void {
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
