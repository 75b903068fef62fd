import type { Db, Trx } from '../db/database.js';
import type { NewStageChange, StageChangeRow, StageChangeUpdate } from '../db/schema.js';

/** The change in force at `at`: the person's latest change at or before it. */
export function findChangeAtOrBefore(trx: Trx, personId: number, at: Date): Promise<StageChangeRow | undefined> {
  return trx
    .selectFrom('stage_changes')
    .selectAll()
    .where('person_id', '=', personId)
    .where('changed_at', '<=', at)
    .orderBy('changed_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** The person's first change after `at`. */
export function findChangeAfter(trx: Trx, personId: number, at: Date): Promise<StageChangeRow | undefined> {
  return trx
    .selectFrom('stage_changes')
    .selectAll()
    .where('person_id', '=', personId)
    .where('changed_at', '>', at)
    .orderBy('changed_at', 'asc')
    .orderBy('id', 'asc')
    .limit(1)
    .executeTakeFirst();
}

export function findLatestChange(trx: Trx, personId: number): Promise<StageChangeRow | undefined> {
  return trx
    .selectFrom('stage_changes')
    .selectAll()
    .where('person_id', '=', personId)
    .orderBy('changed_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export function insertStageChange(trx: Trx, change: NewStageChange): Promise<StageChangeRow> {
  return trx.insertInto('stage_changes').values(change).returningAll().executeTakeFirstOrThrow();
}

export function updateStageChange(trx: Trx, id: number, patch: StageChangeUpdate): Promise<StageChangeRow> {
  return trx.updateTable('stage_changes').set(patch).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

/** Rows recorded before the person's name was known get it once it is. */
export async function fillMissingNames(
  trx: Trx,
  personId: number,
  names: { firstName: string | null; lastName: string | null },
): Promise<void> {
  if (names.firstName === null && names.lastName === null) return;
  await trx
    .updateTable('stage_changes')
    .set({ first_name: names.firstName, last_name: names.lastName })
    .where('person_id', '=', personId)
    .where('first_name', 'is', null)
    .where('last_name', 'is', null)
    .execute();
}

export function listChangesForPerson(db: Db | Trx, personId: number): Promise<StageChangeRow[]> {
  return db
    .selectFrom('stage_changes')
    .selectAll()
    .where('person_id', '=', personId)
    .orderBy('changed_at', 'asc')
    .orderBy('id', 'asc')
    .execute();
}
