import { sql } from 'kysely';
import type { Db, Trx } from '../db/database.js';
import type { StageEvidenceRow } from '../db/schema.js';
import type { Evidence } from './evidence.js';

/**
 * Stores reports about one person; a report already stored (the same webhook's move) is skipped,
 * and the same read again only moves its read time on (a later read of the same state says the
 * state held longer). Returns how many were new or moved on. Must hold the person's lock.
 */
export async function insertEvidence(trx: Trx, personId: number, evidence: readonly Evidence[]): Promise<number> {
  const moves = evidence.filter((e) => e.kind !== 'snapshot');
  const reads = evidence.filter((e) => e.kind === 'snapshot');
  let stored = 0;
  if (moves.length > 0) {
    const rows = await trx
      .insertInto('stage_evidence')
      .values(
        moves.map((e) => ({
          person_id: personId,
          kind: e.kind,
          at: e.at,
          stage: e.kind === 'move' ? e.stage.name : null,
          stage_id: e.kind === 'move' ? e.stage.id : null,
          source: e.source,
          event_id: e.eventId,
          received_at: e.receivedAt,
        })),
      )
      .onConflict((oc) => oc.doNothing())
      .returning('id')
      .execute();
    stored += rows.length;
  }
  for (const read of reads) {
    const { rows } = await sql<{ id: number }>`
      INSERT INTO stage_evidence (person_id, kind, at, stage, stage_id, read_at, person_created_at, source, event_id, received_at)
      VALUES (${personId}, 'snapshot', ${read.at}, ${read.stage.name}, ${read.stage.id}, ${read.readAt}, ${read.personCreatedAt},
              ${read.source}, ${read.eventId}, ${read.receivedAt})
      ON CONFLICT (person_id, at, (coalesce(stage_id::text, stage))) WHERE kind = 'snapshot'
      DO UPDATE SET read_at = excluded.read_at, source = excluded.source, event_id = excluded.event_id, received_at = excluded.received_at
      WHERE stage_evidence.read_at < excluded.read_at
      RETURNING id`.execute(trx);
    stored += rows.length;
  }
  return stored;
}

/** A stored report, with the collector's "watching since" alongside. */
type EvidenceRecord = Omit<StageEvidenceRow, 'id' | 'person_id' | 'recorded_at'> & { watching_since: Date | null };

/**
 * Every report about a person, with stage ids filled in from the names stages are known by (a webhook
 * names the stage only), and since when the collector has been watching (the same for all).
 */
export async function readEvidence(db: Db | Trx, personId: number): Promise<{ evidence: Evidence[]; watchingSince: Date | null }> {
  const { rows } = await sql<EvidenceRecord>`
    SELECT e.kind, e.at, e.stage, coalesce(e.stage_id, n.stage_id) AS stage_id, e.read_at, e.person_created_at,
           e.source, e.event_id, e.received_at, (SELECT watching_since FROM collector_state) AS watching_since
    FROM stage_evidence e LEFT JOIN stage_names n ON n.name = e.stage
    WHERE e.person_id = ${personId}`.execute(db);
  const evidence = rows.map((r): Evidence => {
    const stage = { id: r.stage_id, name: r.stage ?? '' };
    const reported = { at: r.at, source: r.source, receivedAt: r.received_at };
    if (r.kind === 'move') return { ...reported, kind: 'move', stage, eventId: r.event_id ?? '' };
    if (r.kind === 'unnamed_move') return { ...reported, kind: 'unnamed_move', eventId: r.event_id ?? '' };
    return { ...reported, kind: 'snapshot', stage, readAt: r.read_at, personCreatedAt: r.person_created_at, eventId: r.event_id };
  });
  return { evidence, watchingSince: rows[0]?.watching_since ?? (await readWatchingSince(db)) };
}

/** Since when (FUB's clock) webhooks or polls have been watching; null before either ever ran. */
export async function readWatchingSince(db: Db | Trx): Promise<Date | null> {
  const row = await db.selectFrom('collector_state').select('watching_since').executeTakeFirst();
  return row?.watching_since ?? null;
}

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
