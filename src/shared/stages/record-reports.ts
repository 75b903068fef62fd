import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import { recordPersonReports, type PersonReports, type RecordOutcome } from './record-person-reports.js';

/** Records one person's reports in their own transaction and logs each row it added. Both sources use it. */
export async function recordReports(db: Db, log: Logger, reports: PersonReports): Promise<RecordOutcome> {
  const outcome = await db.transaction().execute((trx) => recordPersonReports(trx, reports));
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
    log.info({ personId: reports.personId, removed: outcome.removed, revised: outcome.revised }, 'history corrected by a later report');
  }
  return outcome;
}
