import { sql } from 'kysely';
import type { Db } from './database.js';

/**
 * Up to this many rows a count is exact; beyond it, PostgreSQL's planner estimate: /health and
 * /metrics then cost a few index lookups whatever the size of the inbox or of stage_changes.
 */
export const EXACT_COUNT_CAP = 10_000;

export interface BoundedCount {
  n: number;
  exact: boolean;
}

/** Each query's rows counted (or its column `n` summed) by bounded_total (migration 005), in one statement. */
export async function boundedCounts<K extends string>(db: Db, queries: Record<K, string>, cap = EXACT_COUNT_CAP): Promise<Record<K, BoundedCount>> {
  const keys = Object.keys(queries) as K[];
  const { rows } = await sql<{ k: K; n: number; exact: boolean }>`
    SELECT t.k, b.n, b.exact
    FROM unnest(${keys}::text[], ${keys.map((k) => queries[k])}::text[]) AS t(k, q), LATERAL bounded_total(t.q, ${cap}) b`.execute(db);
  return Object.fromEntries(rows.map((r) => [r.k, { n: r.n, exact: r.exact }])) as Record<K, BoundedCount>;
}

/** The inbox's unfinished events, and the age of the oldest one (an index lookup). */
export const PENDING_EVENTS = `SELECT 1 AS n FROM webhook_events WHERE status IN ('received', 'processing', 'failed')`;
export const DEAD_EVENTS = `SELECT 1 AS n FROM webhook_events WHERE status = 'dead'`;

export async function oldestPendingSeconds(db: Db): Promise<number> {
  const { rows } = await sql<{ age: number }>`
    SELECT extract(epoch FROM now() - received_at)::float8 AS age FROM webhook_events
    WHERE status IN ('received', 'processing', 'failed') ORDER BY id LIMIT 1`.execute(db);
  return rows[0]?.age ?? 0;
}

/** stage_changes rows per source: exact up to the cap, else estimated from the column's statistics. */
export async function stageChangesBySource(db: Db, cap = EXACT_COUNT_CAP): Promise<{ source: string; n: number; exact: boolean }[]> {
  const { rows } = await sql<{ source: string; n: number; exact: boolean }>`SELECT source, n, exact FROM stage_changes_by_source(${cap})`.execute(db);
  return rows;
}
