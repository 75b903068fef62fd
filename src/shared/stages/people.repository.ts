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

/** Saves the current stage and any details learned; only fields that are known overwrite. Must hold the lock. */
export async function updatePersonState(
  trx: Trx,
  personId: number,
  state: { stage: string | null; stageChangedAt: Date | null },
  details: PersonDetails,
): Promise<void> {
  await trx
    .updateTable('people')
    .set({
      stage: state.stage,
      stage_changed_at: state.stageChangedAt,
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

/** Notes what FUB showed for these people just now (a page of a poll); people not yet known are skipped. */
export async function saveFubStages(db: Db, seen: { personId: number; stage: string | null }[], at: Date): Promise<void> {
  if (seen.length === 0) return;
  await sql`
    UPDATE people SET fub_stage = u.stage, fub_stage_seen_at = ${at}
    FROM unnest(${seen.map((s) => s.personId)}::bigint[], ${seen.map((s) => s.stage)}::text[]) AS u(person_id, stage)
    WHERE people.person_id = u.person_id`.execute(db);
}
