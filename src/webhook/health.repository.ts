import { sql } from 'kysely';
import { boundedCounts, DEAD_EVENTS, oldestPendingSeconds, PENDING_EVENTS } from '../shared/db/bounded-counts.js';
import type { Db } from '../shared/db/database.js';

export interface HealthCounters {
  webhooks_received: number;
  webhooks_deduplicated: number;
  webhooks_processed: number;
  webhooks_ignored: number;
  webhooks_failed: number;
  dead_letter: number;
  inbox_pending: number;
  oldest_pending_seconds: number;
  stage_changes_captured: number;
  stage_changes_total: number;
  /** Which of the counters above are the planner's estimates (more than EXACT_COUNT_CAP rows): none while small. */
  counts_estimated: string[];
  last_webhook_at: Date | null;
  last_stage_change_at: Date | null;
  last_poll_started_at: Date | null;
  last_poll_status: string | null;
  last_successful_poll_at: Date | null;
}

const COUNTS = {
  inbox_events: 'SELECT 1 AS n FROM webhook_events',
  webhooks_deduplicated: 'SELECT duplicate_count AS n FROM webhook_deliveries WHERE duplicate_count > 0',
  webhooks_processed: `SELECT 1 AS n FROM webhook_events WHERE status = 'completed'`,
  webhooks_ignored: `SELECT 1 AS n FROM webhook_events WHERE status = 'ignored'`,
  webhooks_failed: `SELECT 1 AS n FROM webhook_events WHERE status = 'failed'`,
  dead_letter: DEAD_EVENTS,
  inbox_pending: PENDING_EVENTS,
  stage_changes_total: 'SELECT 1 AS n FROM stage_changes',
  stage_changes_polled: `SELECT 1 AS n FROM stage_changes WHERE source = 'polling'`,
};

/**
 * Counters read from the database, so they are true across restarts and replicas, each at the cost
 * of a few index lookups: exact up to EXACT_COUNT_CAP rows, estimated beyond (named in counts_estimated).
 */
export async function readHealthCounters(db: Db): Promise<HealthCounters> {
  const counts = await boundedCounts(db, COUNTS);
  const { rows } = await sql<Pick<HealthCounters, 'last_webhook_at' | 'last_stage_change_at' | 'last_poll_started_at' | 'last_poll_status' | 'last_successful_poll_at'>>`
    SELECT
      (SELECT max(received_at) FROM webhook_deliveries) AS last_webhook_at,
      (SELECT recorded_at FROM stage_changes ORDER BY id DESC LIMIT 1) AS last_stage_change_at,
      (SELECT max(started_at) FROM poll_runs) AS last_poll_started_at,
      (SELECT status FROM poll_runs ORDER BY started_at DESC LIMIT 1) AS last_poll_status,
      (SELECT max(finished_at) FROM poll_runs WHERE status = 'succeeded') AS last_successful_poll_at
  `.execute(db);
  const estimated = (Object.keys(counts) as (keyof typeof COUNTS)[]).filter((k) => !counts[k].exact);
  const named = (field: string, ...from: (keyof typeof COUNTS)[]): string[] => (from.some((k) => estimated.includes(k)) ? [field] : []);
  return {
    webhooks_received: counts.inbox_events.n + counts.webhooks_deduplicated.n,
    webhooks_deduplicated: counts.webhooks_deduplicated.n,
    webhooks_processed: counts.webhooks_processed.n,
    webhooks_ignored: counts.webhooks_ignored.n,
    webhooks_failed: counts.webhooks_failed.n,
    dead_letter: counts.dead_letter.n,
    inbox_pending: counts.inbox_pending.n,
    oldest_pending_seconds: await oldestPendingSeconds(db),
    stage_changes_captured: Math.max(0, counts.stage_changes_total.n - counts.stage_changes_polled.n),
    stage_changes_total: counts.stage_changes_total.n,
    counts_estimated: [
      ...named('webhooks_received', 'inbox_events', 'webhooks_deduplicated'),
      ...(['webhooks_deduplicated', 'webhooks_processed', 'webhooks_ignored', 'webhooks_failed', 'dead_letter', 'inbox_pending'] as const).flatMap((k) => named(k, k)),
      ...named('stage_changes_captured', 'stage_changes_total', 'stage_changes_polled'),
      ...named('stage_changes_total', 'stage_changes_total'),
    ],
    ...rows[0]!,
  };
}
