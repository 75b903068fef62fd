import { sql } from 'kysely';
import type { Db, Trx } from '../db/database.js';

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
 *
 * Nothing in the schema stops a body being deleted under its events (no foreign key, migration 010),
 * so this checks twice: the candidates are locked first, then deleted only if, in a snapshot taken
 * after the locks, still no event points at them. One statement cannot: a replay of the body that
 * commits new events between its snapshot and its row lock is invisible to it (the re-check of a
 * locked row sees other tables as of the statement's start), and the body would go from under them.
 * Once locked, a replay's upsert of the body waits for this transaction, and then stores it again.
 */
export async function deleteUnreferencedDeliveries(db: Db | Trx, range: { afterId: number; upToId: number }, limit: number): Promise<number[]> {
  const work = async (trx: Db | Trx): Promise<number[]> => {
    const { rows: locked } = await sql<{ id: number }>`
      SELECT d.id FROM webhook_deliveries d
      WHERE d.id > ${range.afterId} AND d.id <= ${range.upToId}
        AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.delivery_id = d.id)
      ORDER BY d.id LIMIT ${limit}
      FOR UPDATE SKIP LOCKED`.execute(trx);
    if (locked.length === 0) return [];
    const { rows } = await sql<{ id: number }>`
      DELETE FROM webhook_deliveries d
      WHERE d.id = ANY(${locked.map((r) => r.id)}::bigint[])
        AND NOT EXISTS (SELECT 1 FROM webhook_events e WHERE e.delivery_id = d.id)
      RETURNING d.id`.execute(trx);
    return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
  };
  return db.isTransaction ? work(db) : db.transaction().execute(work);
}
