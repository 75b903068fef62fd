import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import { deleteFinishedEvents, deleteUnreferencedDeliveries, lastDeliveryBefore } from './prune.repository.js';

export interface PruneResult {
  cutoff: Date;
  events: number;
  deliveries: number;
}

/**
 * Deletes finished inbox events (completed, ignored) and raw bodies older than `retentionDays`, in
 * batches of `batchSize`, each its own short statement, so no lock is held for long. stage_changes,
 * stage_evidence and dead or failed events (with their bodies) are never pruned.
 */
export async function pruneOldData(deps: { db: Db; log: Logger; retentionDays: number; batchSize?: number }): Promise<PruneResult> {
  const { db, log, retentionDays } = deps;
  const batchSize = deps.batchSize ?? 1000;
  const cutoff = new Date(Date.now() - retentionDays * 86_400_000);
  let events = 0;
  for (;;) {
    const deleted = await deleteFinishedEvents(db, cutoff, batchSize);
    events += deleted;
    if (deleted < batchSize) break;
  }
  // Bodies next: a body goes once none of its events is left.
  const upToId = await lastDeliveryBefore(db, cutoff);
  let deliveries = 0;
  let afterId = 0;
  for (;;) {
    const ids = await deleteUnreferencedDeliveries(db, { afterId, upToId }, batchSize);
    deliveries += ids.length;
    if (ids.length < batchSize) break;
    afterId = ids.at(-1)!;
  }
  log.info({ retentionDays, cutoff, events, deliveries }, 'pruned old inbox rows and raw bodies');
  return { cutoff, events, deliveries };
}
