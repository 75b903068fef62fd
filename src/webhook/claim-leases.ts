import type { Db } from '../shared/db/database.js';
import type { Logger } from '../shared/logger.js';
import { extendLease } from './webhook-events.repository.js';

/**
 * Renews a claim's lease while its batch runs (FUB may keep us waiting past it), three times per
 * lease however short, but not more often than every 100 ms: renewed only once per lease, it ran out
 * just before each renewal. Returns the function that stops the renewals.
 */
export function keepLeaseAlive(db: Db, claim: string, leaseSeconds: number, log: Logger): () => void {
  const heartbeat = setInterval(() => {
    extendLease(db, claim, leaseSeconds).catch((error: unknown) => log.warn({ err: error }, 'could not renew lease'));
  }, Math.max(100, (leaseSeconds * 1000) / 3));
  return () => clearInterval(heartbeat);
}
