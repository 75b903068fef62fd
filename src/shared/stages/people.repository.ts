import { sql } from 'kysely';
import type { Db, Trx } from '../db/database.js';
import type { PersonRow } from '../db/schema.js';

export interface PersonDetails {
  firstName?: string | null;
  lastName?: string | null;
  assignedUserId?: number | null;
  assignedUserName?: string | null;
}

/**
 * Creates the person's state row if missing, then locks it until the transaction ends.
 * Every stage decision for one person goes through this lock, so they happen one at a time.
 * One statement: it inserts the row, or locks the one there.
 */
export async function lockPerson(trx: Trx, personId: number): Promise<PersonRow> {
  const { rows } = await sql<PersonRow>`
    WITH inserted AS (
      INSERT INTO people (person_id) VALUES (${personId}) ON CONFLICT (person_id) DO NOTHING RETURNING *
    ), existing AS (
      SELECT * FROM people WHERE person_id = ${personId} FOR UPDATE
    )
    SELECT * FROM inserted UNION ALL SELECT * FROM existing`.execute(trx);
  if (rows[0]) return rows[0];
  // Another transaction created the row after this statement's snapshot: lock it now.
  return trx.selectFrom('people').selectAll().where('person_id', '=', personId).forUpdate().executeTakeFirstOrThrow();
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

/** Notes that a poll saw these people just now (`at`, FUB's clock); people not yet known are skipped. */
export async function markSeenByPoll(db: Db, personIds: number[], at: Date): Promise<void> {
  if (personIds.length === 0) return;
  await sql`UPDATE people SET fub_stage_seen_at = ${at} WHERE person_id = ANY(${personIds}::bigint[])`.execute(db);
}
