import type { Db } from '../shared/db/database.js';
import { storeDeliveries, type NewDelivery, type StoredDelivery } from './webhook-events.repository.js';

export interface InboxWriter {
  /** Resolves once the delivery is committed; rejects when it could not be stored in time (answer 503). */
  store(delivery: NewDelivery): Promise<StoredDelivery>;
  /** Bytes of bodies waiting for a statement (not yet sent to the database). */
  queuedBytes(): number;
}

export interface InboxWriterOptions {
  maxBatch?: number;
  maxBatchBytes?: number;
  maxInFlight?: number;
  /** Bodies waiting beyond this are refused at once: a stalled database must not fill the memory. */
  maxQueuedBytes?: number;
  /** A delivery not committed by then is answered 503 (FUB waits about 10 s, then retries). */
  deadlineMs?: number;
}

/** The inbox could not take a delivery now; the sender should retry (503). */
export class InboxUnavailableError extends Error {
  override name = 'InboxUnavailableError';
}

/**
 * Group commit for the inbox: deliveries that arrive while a write is in flight go together in the
 * next statement, so a burst costs a few commits instead of one per request. Nothing is answered
 * before its own statement committed. At low traffic each delivery is written alone, at once.
 * If a batch fails, each of its deliveries is tried alone so one cannot sink the others.
 * Bounded: at most `maxQueuedBytes` wait, and each delivery is answered by `deadlineMs`, stored or not
 * (a statement that commits after its deadline only makes FUB's redelivery a duplicate).
 */
export function createInboxWriter(db: Db, options: InboxWriterOptions = {}): InboxWriter {
  const maxBatch = options.maxBatch ?? 200;
  const maxBatchBytes = options.maxBatchBytes ?? 4 * 1024 * 1024;
  const maxInFlight = options.maxInFlight ?? 2;
  const maxQueuedBytes = options.maxQueuedBytes ?? 16 * 1024 * 1024;
  const deadlineMs = options.deadlineMs ?? 5000;
  type Pending = { delivery: NewDelivery; resolve: (stored: StoredDelivery) => void; reject: (error: unknown) => void };
  const queue: Pending[] = [];
  let queued = 0;
  let inFlight = 0;

  async function writeAlone(p: Pending): Promise<void> {
    try {
      p.resolve((await storeDeliveries(db, [p.delivery]))[0]!);
    } catch (error) {
      p.reject(error);
    }
  }

  function dequeue(count: number): Pending[] {
    const taken = queue.splice(0, count);
    for (const p of taken) queued -= p.delivery.rawBody.length;
    return taken;
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
    const batch = dequeue(take);
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
      const size = delivery.rawBody.length;
      if (queued > 0 && queued + size > maxQueuedBytes) {
        return Promise.reject(new InboxUnavailableError(`inbox busy: ${queued} bytes already waiting for the database`));
      }
      return new Promise((resolve, reject) => {
        let settled = false;
        const timer = setTimeout(() => {
          const index = queue.indexOf(pending);
          if (index >= 0) {
            queue.splice(index, 1);
            queued -= size;
          }
          settle(() => reject(new InboxUnavailableError(`not stored within ${deadlineMs} ms`)));
        }, deadlineMs);
        const settle = (answer: () => void): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          answer();
        };
        const pending: Pending = {
          delivery,
          resolve: (stored) => settle(() => resolve(stored)),
          reject: (error) => settle(() => reject(error)),
        };
        queue.push(pending);
        queued += size;
        void pump();
      });
    },
    queuedBytes: () => queued,
  };
}
