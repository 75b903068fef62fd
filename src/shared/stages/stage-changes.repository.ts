import { sql } from 'kysely';
import type { Trx } from '../db/database.js';
import type { NewStageChange, StageChangeRow } from '../db/schema.js';

/** A person's rows in history order: FUB's seconds, then the order inside a second. */
export function findChanges(trx: Trx, personId: number): Promise<StageChangeRow[]> {
  return trx.selectFrom('stage_changes').selectAll().where('person_id', '=', personId).orderBy('changed_at').orderBy('seq').execute();
}

export async function insertChanges(trx: Trx, rows: NewStageChange[]): Promise<StageChangeRow[]> {
  if (rows.length === 0) return [];
  return trx.insertInto('stage_changes').values(rows).returningAll().execute();
}

export async function deleteChanges(trx: Trx, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await trx.deleteFrom('stage_changes').where('id', 'in', ids).execute();
}

/** The fields a rebuild may change on a row it keeps. */
export interface ChangeRevision {
  id: number;
  kind: StageChangeRow['kind'];
  stage_from: string | null;
  stage_from_id: number | null;
  stage_to_id: number | null;
  seq: number;
  source: string;
  event_id: string | null;
  received_at: Date;
}

/** Revises kept rows in one statement (the order constraint is checked at commit, so seqs may swap). */
export async function reviseChanges(trx: Trx, revisions: ChangeRevision[]): Promise<void> {
  if (revisions.length === 0) return;
  const col = <T>(pick: (r: ChangeRevision) => T): T[] => revisions.map(pick);
  await sql`
    UPDATE stage_changes s SET kind = u.kind, stage_from = u.stage_from, stage_from_id = u.stage_from_id,
      stage_to_id = u.stage_to_id, seq = u.seq, source = u.source, event_id = u.event_id, received_at = u.received_at
    FROM unnest(${col((r) => r.id)}::bigint[], ${col((r) => r.kind)}::text[], ${col((r) => r.stage_from)}::text[],
                ${col((r) => r.stage_from_id)}::bigint[], ${col((r) => r.stage_to_id)}::bigint[], ${col((r) => r.seq)}::smallint[],
                ${col((r) => r.source)}::text[], ${col((r) => r.event_id)}::text[], ${col((r) => r.received_at)}::timestamptz[])
      AS u(id, kind, stage_from, stage_from_id, stage_to_id, seq, source, event_id, received_at)
    WHERE s.id = u.id`.execute(trx);
}

/** Rows recorded before the person's name or agent was known get them once they are. */
export async function fillMissingDetails(
  trx: Trx,
  personId: number,
  details: { firstName: string | null; lastName: string | null; assignedUserId: number | null; assignedUserName: string | null },
): Promise<void> {
  if (details.firstName !== null || details.lastName !== null) {
    await trx
      .updateTable('stage_changes')
      .set({ first_name: details.firstName, last_name: details.lastName })
      .where('person_id', '=', personId)
      .where('first_name', 'is', null)
      .where('last_name', 'is', null)
      .execute();
  }
  if (details.assignedUserId !== null || details.assignedUserName !== null) {
    await trx
      .updateTable('stage_changes')
      .set({ assigned_user_id: details.assignedUserId, assigned_user_name: details.assignedUserName })
      .where('person_id', '=', personId)
      .where('assigned_user_id', 'is', null)
      .where('assigned_user_name', 'is', null)
      .execute();
  }
}
