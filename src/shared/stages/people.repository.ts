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
 */
export async function lockPerson(trx: Trx, personId: number): Promise<PersonRow> {
  await trx.insertInto('people').values({ person_id: personId }).onConflict((oc) => oc.column('person_id').doNothing()).execute();
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

/** Saves the person's state and any details learned; only fields that are known overwrite. Must hold the lock. */
export async function updatePersonState(trx: Trx, personId: number, state: PersonState, details: PersonDetails): Promise<void> {
  await trx
    .updateTable('people')
    .set({
      stage: state.stage,
      stage_id: state.stageId,
      stage_changed_at: state.stageChangedAt,
      ...(state.lastRead
        ? {
            fub_stage: state.lastRead.stage,
            fub_stage_id: state.lastRead.stageId,
            fub_updated_at: state.lastRead.updated,
            fub_stage_seen_at: state.lastRead.readAt,
          }
        : {}),
      ...(state.deletedAt !== undefined ? { deleted_at: state.deletedAt } : {}),
      ...(details.firstName !== undefined ? { first_name: details.firstName } : {}),
      ...(details.lastName !== undefined ? { last_name: details.lastName } : {}),
      ...(details.assignedUserId !== undefined ? { assigned_user_id: details.assignedUserId } : {}),
      ...(details.assignedUserName !== undefined ? { assigned_user_name: details.assignedUserName } : {}),
      updated_at: new Date(),
    })
    .where('person_id', '=', personId)
    .execute();
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
