import type { Db } from '../shared/db/database.js';
import type { PollMode, PollRunRow } from '../shared/db/schema.js';

export interface PollCounts {
  pages: number;
  people_seen: number;
  changes_inserted: number;
  changes_skipped_as_duplicate: number;
  api_calls: number;
}

export function startPollRun(db: Db, mode: PollMode, watermark: Date | null): Promise<PollRunRow> {
  return db.insertInto('poll_runs').values({ mode, watermark }).returningAll().executeTakeFirstOrThrow();
}

export async function finishPollRun(
  db: Db,
  id: number,
  result: { status: 'succeeded'; completeAsOf: Date } | { status: 'failed' | 'interrupted'; error?: string },
  counts: PollCounts,
): Promise<void> {
  await db
    .updateTable('poll_runs')
    .set({
      ...counts,
      status: result.status,
      error: 'error' in result ? (result.error ?? null) : null,
      complete_as_of: result.status === 'succeeded' ? result.completeAsOf : null,
      finished_at: new Date(),
    })
    .where('id', '=', id)
    .execute();
}

/** Everything FUB changed before this moment has been read by a successful poll. */
export async function lastCompletePoint(db: Db): Promise<Date | undefined> {
  const row = await db
    .selectFrom('poll_runs')
    .select('complete_as_of')
    .where('status', '=', 'succeeded')
    .where('complete_as_of', 'is not', null)
    .orderBy('complete_as_of', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.complete_as_of ?? undefined;
}

/** Runs left 'running' by a process that died cannot be running now (we hold the poll lock). */
export async function closeAbandonedRuns(db: Db): Promise<void> {
  await db
    .updateTable('poll_runs')
    .set({ status: 'failed', error: 'poller stopped before finishing', finished_at: new Date() })
    .where('status', '=', 'running')
    .execute();
}

export interface BackfillState {
  cursor: string | null;
  startedAt: Date | null;
  peopleSeen: number;
}

export async function readBackfillState(db: Db): Promise<BackfillState> {
  const row = await db.selectFrom('poll_state').selectAll().executeTakeFirstOrThrow();
  return { cursor: row.backfill_cursor, startedAt: row.backfill_started_at, peopleSeen: row.backfill_people_seen };
}

/** Saves where a full walk is (after each page), or clears it with null when the walk is done. */
export async function saveBackfillState(db: Db, state: BackfillState | null): Promise<void> {
  await db
    .updateTable('poll_state')
    .set({
      backfill_cursor: state?.cursor ?? null,
      backfill_started_at: state?.startedAt ?? null,
      backfill_people_seen: state?.peopleSeen ?? 0,
      updated_at: new Date(),
    })
    .execute();
}

export async function readDescendingSort(db: Db): Promise<boolean | null> {
  const row = await db.selectFrom('poll_state').select('descending_sort').executeTakeFirstOrThrow();
  return row.descending_sort;
}

export async function saveDescendingSort(db: Db, honoured: boolean): Promise<void> {
  await db.updateTable('poll_state').set({ descending_sort: honoured, updated_at: new Date() }).execute();
}
