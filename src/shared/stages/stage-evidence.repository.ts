import { sql } from 'kysely';
import type { Db } from '../db/database.js';

/**
 * Moves "watching since" back to `at` (FUB's clock) if it is earlier: the first webhooks arrive in any
 * order, and the earliest event or poll tells when watching began. Only by up to a day (FUB's own
 * retries): an old event replayed later does not mean we watched back then. Locks the row only when it changes.
 */
export async function noteWatchingSince(db: Db, at: Date): Promise<void> {
  await sql`
    UPDATE collector_state SET watching_since = ${at}
    WHERE watching_since IS NULL OR (watching_since > ${at} AND watching_since - ${at}::timestamptz < interval '1 day')`.execute(db);
}
