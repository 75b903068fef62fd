import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import { recordStageObservation, type RecordOutcome, type StageObservation } from './record-stage.js';

/** Records one observation in its own transaction and logs any change it made. Both sources use it. */
export async function recordObservation(db: Db, log: Logger, obs: StageObservation): Promise<RecordOutcome> {
  const outcome = await db.transaction().execute((trx) => recordStageObservation(trx, obs));
  if (outcome.kind === 'inserted' || outcome.kind === 'redated') {
    log.info(
      {
        personId: obs.personId,
        from: outcome.change.stage_from,
        to: outcome.change.stage_to,
        changedAt: outcome.change.changed_at,
        source: obs.source,
        recorded: outcome.kind,
      },
      'STAGE CHANGE DETECTED',
    );
  }
  return outcome;
}
