import { sql } from 'kysely';
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
  last_webhook_at: Date | null;
  last_stage_change_at: Date | null;
  last_poll_started_at: Date | null;
  last_poll_status: string | null;
  last_successful_poll_at: Date | null;
}

/** Counters read from the database, so they are true across restarts and replicas. */
export async function readHealthCounters(db: Db): Promise<HealthCounters> {
  const { rows } = await sql<HealthCounters>`
    SELECT
      coalesce((SELECT sum(event_count) FROM webhook_deliveries), 0)::int AS webhooks_received,
      coalesce((SELECT sum(duplicate_count) FROM webhook_deliveries), 0)::int AS webhooks_deduplicated,
      (SELECT max(received_at) FROM webhook_deliveries) AS last_webhook_at,
      count(*) FILTER (WHERE status = 'completed')::int AS webhooks_processed,
      count(*) FILTER (WHERE status = 'ignored')::int AS webhooks_ignored,
      count(*) FILTER (WHERE status = 'failed')::int AS webhooks_failed,
      count(*) FILTER (WHERE status = 'dead')::int AS dead_letter,
      count(*) FILTER (WHERE status IN ('received', 'processing', 'failed'))::int AS inbox_pending,
      coalesce(extract(epoch FROM now() - min(received_at) FILTER (WHERE status IN ('received', 'processing', 'failed'))), 0)::float8
        AS oldest_pending_seconds,
      (SELECT count(*) FROM stage_changes WHERE source LIKE 'webhook\_%')::int AS stage_changes_captured,
      (SELECT count(*) FROM stage_changes)::int AS stage_changes_total,
      (SELECT max(recorded_at) FROM stage_changes) AS last_stage_change_at,
      (SELECT max(started_at) FROM poll_runs) AS last_poll_started_at,
      (SELECT status FROM poll_runs ORDER BY started_at DESC LIMIT 1) AS last_poll_status,
      (SELECT max(finished_at) FROM poll_runs WHERE status = 'succeeded') AS last_successful_poll_at
    FROM webhook_events
  `.execute(db);
  return rows[0]!;
}
