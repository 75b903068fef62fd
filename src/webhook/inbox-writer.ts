import type { Db } from '../shared/db/database.js';
import { storeDeliveries, type NewDelivery, type StoredDelivery } from './webhook-events.repository.js';

export interface InboxWriter {
  /** Resolves once the delivery is committed; rejects when it could not be stored. */
  store(delivery: NewDelivery): Promise<StoredDelivery>;
}

/**
 * Group commit for the inbox: deliveries that arrive while a write is in flight go together in the
 * next statement, so a burst costs a few commits instead of one per request. Nothing is answered
 * before its own statement committed. At low traffic each delivery is written alone, at once.
 * If a batch fails, each of its deliveries is tried alone so one cannot sink the others.
 */
export function createInboxWriter(db: Db, options: { maxBatch?: number; maxBatchBytes?: number; maxInFlight?: number } = {}): InboxWriter {
  const maxBatch = options.maxBatch ?? 200;
  const maxBatchBytes = options.maxBatchBytes ?? 4 * 1024 * 1024;
  const maxInFlight = options.maxInFlight ?? 2;
  type Pending = { delivery: NewDelivery; resolve: (stored: StoredDelivery) => void; reject: (error: unknown) => void };
  const queue: Pending[] = [];
  let inFlight = 0;

  async function writeAlone(p: Pending): Promise<void> {
    try {
      p.resolve((await storeDeliveries(db, [p.delivery]))[0]!);
    } catch (error) {
      p.reject(error);
    }
  }

  async function pump(): Promise<void> {
    if (inFlight >= maxInFlight || queue.length === 0) return;
    // Up to maxBatch deliveries and about maxBatchBytes of bodies (always at least one).
    let take = 0;
    let bytes = 0;
    while (take < Math.min(maxBatch, queue.length) && (take === 0 || bytes + queue[take]!.delivery.rawBody.length <= maxBatchBytes)) {
      bytes += queue[take]!.delivery.rawBody.length;
      take += 1;
    }
    const batch = queue.splice(0, take);
    inFlight += 1;
    try {
      const stored = await storeDeliveries(db, batch.map((p) => p.delivery));
      batch.forEach((p, i) => p.resolve(stored[i]!));
    } catch (error) {
      if (batch.length === 1) batch[0]!.reject(error);
      else {
        // One by one, a few at a time: the pool is shared with processing.
        for (let i = 0; i < batch.length; i += 4) await Promise.all(batch.slice(i, i + 4).map(writeAlone));
      }
    } finally {
      inFlight -= 1;
      void pump();
    }
  }

  return {
    store(delivery) {
      return new Promise((resolve, reject) => {
        queue.push({ delivery, resolve, reject });
        void pump();
      });
    },
  };
}
