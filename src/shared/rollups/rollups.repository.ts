import { sql } from 'kysely';
import type { Db } from '../db/database.js';

// The rollup tables of migration 009 (arrival_counts, stay_counts, stay_lengths): signed deltas that
// triggers on stage_changes append, whose sums per key are the counts the monitoring/ files read.

// Any constant works; it only has to be the same in every process of this service.
const FOLD_LOCK_KEY = 0x0f0b_f01d;

/** Each rollup's key columns and summed columns: folding keeps the sums per key. */
const ROLLUPS = [
  { table: 'arrival_counts', keys: ['day', 'stage_to_id', 'stage_to', 'group_by', 'grp'], sums: ['changes', 'webhook_rows', 'polling_rows'] },
  { table: 'stay_counts', keys: ['day', 'stage_to_id', 'stage_to', 'bucket'], sums: ['stays', 'seconds'] },
  { table: 'stay_lengths', keys: ['stage_key', 'bucket', 'day', 'seconds'], sums: ['stays'] },
] as const;

/** The zone whose days the rollups count. */
export async function rollupZone(db: Db): Promise<string> {
  const { rows } = await sql<{ zone: string }>`SELECT zone FROM rollup_zone`.execute(db);
  return rows[0]!.zone;
}

/**
 * Recounts the rollups from stage_changes in `zone`'s days; writers of stage_changes wait meanwhile.
 * Without the statement deadline: at a million rows it takes longer than a request may.
 */
export async function rebuildRollups(db: Db, zone: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await sql`SET LOCAL statement_timeout = 0`.execute(trx);
    await sql`SELECT rebuild_rollups(${zone})`.execute(trx);
  });
}

/**
 * Folds the loose rows of up to `days` days, in each rollup, into one row per key (keys summing to
 * nothing go). Writers keep appending meanwhile: a row this statement did not see stays loose for the
 * next fold. One folder at a time (others return at once, 0). Returns how many days were folded.
 */
export async function foldRollups(db: Db, days: number): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ locked: boolean }>`SELECT pg_try_advisory_xact_lock(${FOLD_LOCK_KEY}) AS locked`.execute(trx);
    if (!rows[0]!.locked) return 0;
    let most = 0;
    for (const { table, keys, sums } of ROLLUPS) {
      const { rows: folded } = await sql<{ days: number }>`
        WITH days AS (SELECT DISTINCT day FROM ${sql.table(table)} WHERE NOT folded ORDER BY day LIMIT ${days}),
        gone AS (DELETE FROM ${sql.table(table)} WHERE day IN (SELECT day FROM days) RETURNING *),
        kept AS (
          INSERT INTO ${sql.table(table)} (${sql.join(keys.map((k) => sql.ref(k)))}, ${sql.join(sums.map((s) => sql.ref(s)))}, folded)
          SELECT ${sql.join(keys.map((k) => sql.ref(k)))}, ${sql.join(sums.map((s) => sql`sum(${sql.ref(s)})`))}, true
          FROM gone
          GROUP BY ${sql.join(keys.map((k) => sql.ref(k)))}
          HAVING ${sql.join(sums.map((s) => sql`sum(${sql.ref(s)}) <> 0`), sql` OR `)}
        )
        SELECT count(*)::int AS days FROM days`.execute(trx);
      most = Math.max(most, folded[0]!.days);
    }
    return most;
  });
}
