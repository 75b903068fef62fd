import { sql } from 'kysely';
import { arrayLiteral } from '../db/array-literal.js';
import { PREPARED, type Db, type Trx } from '../db/database.js';
import type { PersonRow } from '../db/schema.js';

export interface PersonDetails {
  firstName?: string | null;
  lastName?: string | null;
  assignedUserId?: number | null;
  assignedUserName?: string | null;
  /** FUB's person `source`. */
  leadSource?: string | null;
}

const PERSON_COLUMNS = sql.raw(
  'person_id, first_name, last_name, stage, stage_id, stage_changed_at, assigned_user_id, assigned_user_name, lead_source, ' +
    'fub_stage, fub_stage_id, fub_updated_at, fub_stage_seen_at, deleted_at, created_at, updated_at',
);

/**
 * Creates the people's state rows where missing, then locks them until the transaction ends, in
 * person id order (every writer takes them in that order, so two batches never wait on each other
 * in a circle). Every stage decision for a person goes through this lock, so they happen one at a
 * time. One statement (prepared: every report takes these locks) that inserts rows or locks those there.
 */
export async function lockPeople(trx: Trx, personIds: readonly number[]): Promise<Map<number, PersonRow>> {
  const sorted = [...new Set(personIds)].sort((a, b) => a - b);
  if (sorted.length === 0) return new Map();
  const ids = arrayLiteral(sorted);
  // Columns named, not *: a prepared statement whose result columns change (a migration adds one
  // while servers run) fails until its connection closes.
  const { rows } = await sql<PersonRow>`${sql.raw(`${PREPARED}lock_people */`)}
    WITH inserted AS (
      INSERT INTO people (person_id) SELECT unnest(${ids}::bigint[]) ORDER BY 1
      ON CONFLICT (person_id) DO NOTHING RETURNING ${PERSON_COLUMNS}
    ), existing AS (
      SELECT ${PERSON_COLUMNS} FROM people WHERE person_id = ANY(${ids}::bigint[]) ORDER BY person_id FOR UPDATE
    )
    SELECT * FROM inserted UNION ALL SELECT * FROM existing`.execute(trx);
  const locked = new Map(rows.map((row) => [Number(row.person_id), row]));
  // Rows another transaction created after this statement's snapshot: lock them now.
  const late = sorted.filter((id) => !locked.has(id));
  if (late.length > 0) {
    const rest = await trx.selectFrom('people').selectAll().where(sql<boolean>`person_id = ANY(${arrayLiteral(late)}::bigint[])`).orderBy('person_id').forUpdate().execute();
    for (const row of rest) locked.set(Number(row.person_id), row);
  }
  return locked;
}

/** What a rebuild settles about a person: where their history ends, and what FUB showed at the latest read. */
export interface PersonState {
  stage: string | null;
  stageId: number | null;
  stageChangedAt: Date | null;
  /** The latest read of the person, when there is one. */
  lastRead?: { stage: string; stageId: number | null; updated: Date; readAt: Date };
  deletedAt?: Date | null;
}

export function findPerson(db: Db | Trx, personId: number): Promise<PersonRow | undefined> {
  return db.selectFrom('people').selectAll().where('person_id', '=', personId).executeTakeFirst();
}

export function findPeople(db: Db | Trx, personIds: number[]): Promise<PersonRow[]> {
  if (personIds.length === 0) return Promise.resolve([]);
  return db.selectFrom('people').selectAll().where('person_id', 'in', personIds).execute();
}

/**
 * Notes that a poll saw these people just now (`at`, FUB's clock); people not yet known are skipped.
 * Their rows are locked in person id order first, as recording does (a batch holds many people's
 * locks at once): updated in table order, this waited on a batch for one person while holding
 * another the batch needed next, a deadlock.
 */
export async function markSeenByPoll(db: Db, personIds: number[], at: Date): Promise<void> {
  if (personIds.length === 0) return;
  await sql`
    UPDATE people p SET fub_stage_seen_at = ${at}
    FROM (SELECT person_id FROM people WHERE person_id = ANY(${personIds}::bigint[]) ORDER BY person_id FOR UPDATE) locked
    WHERE p.person_id = locked.person_id`.execute(db);
}

/**
 * Of these people, those whose latest recorded read shows FUB's `updated` at or after `since` (FUB's
 * clock) and, when `eventId` is given, whose move from that event is stored. `updated` moves on every
 * edit, so such a read was made after any edit FUB stamped before it: an event of that time has
 * nothing left to learn about them.
 */
export async function findReadSince(db: Db, personIds: number[], since: Date, eventId: string | null): Promise<number[]> {
  if (personIds.length === 0) return [];
  const { rows } = await sql<{ person_id: number | string }>`
    SELECT p.person_id FROM people p
    WHERE p.person_id = ANY(${personIds}::bigint[]) AND p.fub_updated_at >= ${since}
      AND (${eventId}::text IS NULL OR EXISTS (
        SELECT 1 FROM stage_evidence e WHERE e.person_id = p.person_id AND e.event_id = ${eventId} AND e.kind <> 'snapshot'))`.execute(db);
  return rows.map((r) => Number(r.person_id));
}
