import type { Db } from '../../src/shared/db/database.js';

export interface Move {
  from: string | null;
  to: string;
  at: string;
}

/** A person's stage_changes as [{from, to, at}] in history order. */
export async function historyOf(db: Db, personId: number): Promise<Move[]> {
  const rows = await db
    .selectFrom('stage_changes')
    .select(['stage_from', 'stage_to', 'changed_at'])
    .where('person_id', '=', personId)
    .orderBy('changed_at')
    .orderBy('seq')
    .execute();
  return rows.map((r) => ({ from: r.stage_from, to: r.stage_to, at: r.changed_at.toISOString() }));
}

export async function pendingEvents(db: Db): Promise<number> {
  const row = await db
    .selectFrom('webhook_events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('status', 'in', ['received', 'processing', 'failed'])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
