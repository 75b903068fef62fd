import { sql } from 'kysely';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from './db/database.js';
import { boundedCounts, DEAD_EVENTS, oldestPendingSeconds, PENDING_EVENTS, stageChangesBySource } from './db/bounded-counts.js';
import { withDeadline } from './deadline.js';

/** Past this the database gauges are served stale (fub_metrics_database_ok 0) rather than late. */
const REFRESH_DEADLINE_MS = 3000;

export type WebhookOutcome = 'accepted' | 'duplicate' | 'unauthorized' | 'invalid' | 'unavailable' | 'error';

/**
 * Prometheus metrics. Counters and histograms are per process (Prometheus sums replicas); what
 * describes the shared database (inbox depth, dead letters, rows by source, poll runs) is read
 * from it at scrape time, so every replica reports the same true value.
 */
export interface Metrics {
  registry: Registry;
  webhookRequests: Counter<'outcome'>;
  ackSeconds: Histogram;
  processingLagSeconds: Histogram;
  fubCalls: Counter<'status'>;
  rateLimitWaits: Counter;
  rateLimitWaitSeconds: Counter;
  pollDurationSeconds: Histogram<'status'>;
  /** Hooks for the FUB rate limiter (`onWait`) and clients (`onCall`) that feed the counters above. */
  fubHooks: { onWait(ms: number): void; onCall(status: string): void };
  /** Reads the database-backed gauges; call before rendering. */
  refresh(): Promise<void>;
}

export function createMetrics(db: Db): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const refreshOk = new Gauge({ name: 'fub_metrics_database_ok', help: '1 when the database gauges below were read at this scrape, 0 when they are stale', registers });
  const inboxDepth = new Gauge({ name: 'fub_inbox_depth', help: 'Webhook events not yet processed (received, processing, failed)', registers });
  const oldestPending = new Gauge({ name: 'fub_inbox_oldest_pending_seconds', help: 'Age of the oldest unprocessed webhook event', registers });
  const deadLetters = new Gauge({ name: 'fub_dead_letter_events', help: 'Webhook events that gave up (status dead)', registers });
  const stageChanges = new Gauge({ name: 'fub_stage_changes_recorded', help: 'Rows in stage_changes by source', labelNames: ['source'], registers });
  const pollRuns = new Gauge({ name: 'fub_poll_runs', help: 'Poll runs recorded, by status', labelNames: ['status'], registers });
  const lastPollDuration = new Gauge({ name: 'fub_last_poll_duration_seconds', help: 'Duration of the most recent finished poll', registers });
  const lastPollSuccess = new Gauge({ name: 'fub_last_successful_poll_timestamp_seconds', help: 'When the last successful poll finished (Unix time)', registers });

  const fubCalls = new Counter({ name: 'fub_api_calls_total', help: 'HTTP calls to the FUB API by status (or "network")', labelNames: ['status'], registers });
  const rateLimitWaits = new Counter({ name: 'fub_rate_limit_waits_total', help: 'Times a FUB call waited for the rate budget', registers });
  const rateLimitWaitSeconds = new Counter({ name: 'fub_rate_limit_wait_seconds_total', help: 'Seconds spent waiting for the FUB rate budget', registers });

  const metrics: Metrics = {
    registry,
    fubCalls,
    rateLimitWaits,
    rateLimitWaitSeconds,
    fubHooks: {
      onWait(ms) {
        rateLimitWaits.inc();
        rateLimitWaitSeconds.inc(ms / 1000);
      },
      onCall(status) {
        fubCalls.inc({ status });
      },
    },
    webhookRequests: new Counter({ name: 'fub_webhook_requests_total', help: 'Webhook deliveries by outcome', labelNames: ['outcome'], registers }),
    ackSeconds: new Histogram({
      name: 'fub_webhook_ack_seconds',
      help: 'Time from request to answer for webhook deliveries',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    processingLagSeconds: new Histogram({
      name: 'fub_processing_lag_seconds',
      help: 'Time from receiving a webhook to its stage being recorded',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
      registers,
    }),
    pollDurationSeconds: new Histogram({
      name: 'fub_poll_duration_seconds',
      help: 'Duration of polls run by this process, by status',
      labelNames: ['status'],
      buckets: [0.5, 1, 5, 15, 30, 60, 120, 300, 900, 1800],
      registers,
    }),
    async refresh() {
      refreshOk.set(0);
      await withDeadline(readGauges(), REFRESH_DEADLINE_MS, 'the metrics read');
      refreshOk.set(1);
    },
  };
  return metrics;

  /** Each a few index lookups whatever the table sizes (counts past EXACT_COUNT_CAP are estimates). */
  async function readGauges(): Promise<void> {
    const counts = await boundedCounts(db, { depth: PENDING_EVENTS, dead: DEAD_EVENTS });
    const oldest = await oldestPendingSeconds(db);
    const bySource = await stageChangesBySource(db);
    const { rows } = await sql<{
      by_status: { status: string; n: number }[] | null;
      last_duration: number | null;
      last_success: number | null;
    }>`
      SELECT
        (SELECT json_agg(json_build_object('status', status, 'n', n))
           FROM (SELECT status, count(*)::int AS n FROM poll_runs GROUP BY status) p) AS by_status,
        (SELECT extract(epoch FROM finished_at - started_at) FROM poll_runs
          WHERE finished_at IS NOT NULL ORDER BY started_at DESC LIMIT 1)::float8 AS last_duration,
        (SELECT extract(epoch FROM max(finished_at)) FROM poll_runs WHERE status = 'succeeded')::float8 AS last_success
    `.execute(db);
    const row = rows[0]!;
    inboxDepth.set(counts.depth.n);
    oldestPending.set(oldest);
    deadLetters.set(counts.dead.n);
    stageChanges.reset();
    for (const { source, n } of bySource) stageChanges.set({ source }, n);
    pollRuns.reset();
    for (const { status, n } of row.by_status ?? []) pollRuns.set({ status }, n);
    lastPollDuration.set(row.last_duration ?? 0);
    lastPollSuccess.set(row.last_success ?? 0);
  }
}
