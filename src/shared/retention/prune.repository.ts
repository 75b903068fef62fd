import { sql } from 'kysely';
import type { Db } from '../db/database.js';

/**
 * Deletes up to `limit` inbox events finished (completed or ignored) before `cutoff`, oldest first;
 * rows another statement holds are left for the next run. Dead, failed and pending events are never
 * touched. Returns how many went.
 */
export async function deleteFinishedEvents(db: Db, cutoff: Date, limit: number): Promise<number> {
  const result = await sql`
    DELETE FROM webhook_events WHERE id IN (
      SELECT id FROM webhook_events
      WHERE status IN ('completed', 'ignored') AND processed_at < ${cutoff}
      ORDER BY processed_at LIMIT ${limit}
      FOR UPDATE SKIP LOCKED)`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/** The newest delivery received before `cutoff` (0 when none): pruning deliveries stops there. */
export async function lastDeliveryBefore(db: Db, cutoff: Date): Promise<number> {
  const { rows } = await sql<{ id: number | null }>`SELECT max(id) AS id FROM webhook_deliveries WHERE received_at < ${cutoff}`.execute(db);
  return rows[0]?.id ?? 0;
}

/**
 * Deletes up to `limit` raw bodies with ids in (afterId, upToId] that no inbox event points at any more
 * (a dead or unfinished event keeps its body). Returns the ids deleted, in order.
 */
export async function deleteUnreferencedDeliveries(db: Db, range: { afterId: number; upToId: number }, limit: number): Promise<number[]> {
  const { rows } = await sql<{ id: number }>`
    DELETE FROM webhook_deliveries WHERE id IN (
      SELECT d.id FROM webhook_deliveries d
      WHERE d.id > ${range.afterId} AND d.id <= ${range.upToId}
        AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.delivery_id = d.id)
      ORDER BY d.id LIMIT ${limit}
      FOR UPDATE SKIP LOCKED)
    RETURNING id`.execute(db);
  return rows.map((r) => r.id).sort((a, b) => a - b);
}
