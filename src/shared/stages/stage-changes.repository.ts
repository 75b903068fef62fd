import { sql } from 'kysely';
import type { Trx } from '../db/database.js';
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

/**
 * The poller's guarded insert: `INSERT … SELECT … WHERE NOT EXISTS` a row for the same person and
 * stage within ±`windowSeconds` of this one — a row next to this moment in the history, that is,
 * with no other stage between them (else the person left and came back, a real change).
 * Returns undefined when such a row exists.
 */
export async function insertStageChangeUnlessNear(
  trx: Trx,
  change: NewStageChange & { confirmed_at: Date },
  windowSeconds: number,
): Promise<StageChangeRow | undefined> {
  const at = sql`${change.changed_at}::timestamptz`;
  const { rows } = await sql<StageChangeRow>`
    INSERT INTO stage_changes (person_id, first_name, last_name, stage_from, stage_to, changed_at, confirmed_at,
                               received_at, source, event_id, assigned_user_id, assigned_user_name)
    SELECT ${change.person_id}::bigint, ${change.first_name ?? null}::text, ${change.last_name ?? null}::text,
           ${change.stage_from ?? null}::text, ${change.stage_to}::text, ${at},
           ${change.confirmed_at}::timestamptz, ${change.received_at}::timestamptz, ${change.source}::text,
           ${change.event_id ?? null}::text, ${change.assigned_user_id ?? null}::bigint, ${change.assigned_user_name ?? null}::text
    WHERE NOT EXISTS (
      SELECT 1 FROM stage_changes s
      WHERE s.person_id = ${change.person_id}::bigint
        AND s.stage_to = ${change.stage_to}::text
        AND s.changed_at BETWEEN ${at} - make_interval(secs => ${windowSeconds}) AND ${at} + make_interval(secs => ${windowSeconds})
        AND NOT EXISTS (
          SELECT 1 FROM stage_changes m
          WHERE m.person_id = s.person_id AND m.stage_to <> s.stage_to
            AND CASE WHEN s.changed_at <= ${at}
                     THEN (m.changed_at, m.id) > (s.changed_at, s.id) AND m.changed_at <= ${at}
                     ELSE (m.changed_at, m.id) < (s.changed_at, s.id) AND m.changed_at > ${at} END
        )
    )
    RETURNING *`.execute(trx);
  return rows[0];
}

export function updateStageChange(trx: Trx, id: number, patch: StageChangeUpdate): Promise<StageChangeRow> {
  return trx.updateTable('stage_changes').set(patch).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
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
