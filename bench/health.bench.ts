// /health and /metrics at 1,000,000 inbox rows: their latency, and the webhook ack latency while ten
// unauthenticated callers keep asking /health. Prints its figures (run it on a base checkout for "before").
import type { Server } from 'node:http';
import { sql } from 'kysely';
import { createDb } from '../src/shared/db/database.js';
import { createLogger } from '../src/shared/logger.js';
import { createMetrics } from '../src/shared/metrics.js';
import { createWebhookApp } from '../src/webhook/app.js';
import { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { createTestDatabase } from '../tests/support/test-database.js';
import { writeBenchmarkSection } from './report.js';
import { machineLine, percentile, withPostgres } from './support.js';

const INBOX_ROWS = Number(process.env.BENCH_INBOX_ROWS ?? 1_000_000);
const STAGE_CHANGES = INBOX_ROWS / 5;
const CALLS = 40;
const ACKS = 300;
const HEALTH_CALLERS = 10;

async function timed(url: string, init?: RequestInit): Promise<number> {
  const started = performance.now();
  const res = await fetch(url, init);
  await res.arrayBuffer();
  if (res.status >= 300) throw new Error(`${url} answered ${res.status}`);
  return performance.now() - started;
}

const summary = (ms: number[]): string => {
  const sorted = [...ms].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(1)} ms, p95 ${percentile(sorted, 95).toFixed(1)} ms`;
};

await withPostgres(async () => {
  const tdb = await createTestDatabase();
  const sim = new FubSimulator();
  let server: Server | undefined;
  // Filling takes longer than a service statement may (DATABASE_STATEMENT_TIMEOUT_SECONDS).
  const filler = createDb(tdb.url, { max: 1, statementTimeoutMs: 3_600_000 });
  try {
    console.log(`filling the inbox with ${INBOX_ROWS.toLocaleString('en')} events and ${STAGE_CHANGES.toLocaleString('en')} stage changes…`);
    await sql`
      WITH d AS (INSERT INTO webhook_deliveries (received_at, path, raw_body, event_count, duplicate_count)
                 SELECT now() - (i || ' seconds')::interval, '/webhooks/fub', '{"eventId":"x"}', 1, CASE WHEN i % 50 = 0 THEN 1 ELSE 0 END
                 FROM generate_series(1, ${INBOX_ROWS}) i RETURNING id, received_at)
      INSERT INTO webhook_events (event_id, delivery_id, event, resource_ids, payload, received_at, status, processed_at)
      SELECT 'bench-' || id, id, 'peopleStageUpdated', '{1}', '{}', received_at,
             CASE WHEN id % 500 = 0 THEN 'dead' WHEN id % 7 = 0 THEN 'ignored' ELSE 'completed' END, received_at
      FROM d`.execute(filler);
    await sql`
      INSERT INTO stage_changes (person_id, stage_to, changed_at, received_at, source, seq)
      SELECT i, 'Lead', now(), now(), CASE WHEN i % 3 = 0 THEN 'polling' ELSE 'webhook_peopleStageUpdated' END, 0
      FROM generate_series(1, ${STAGE_CHANGES}) i`.execute(filler);
    await sql`VACUUM ANALYZE webhook_events`.execute(filler);
    await sql`VACUUM ANALYZE webhook_deliveries`.execute(filler);
    await sql`VACUUM ANALYZE stage_changes`.execute(filler);

    const log = createLogger('silent');
    const app = createWebhookApp({ db: tdb.db, log, systemKey: sim.systemKey, metrics: createMetrics(tdb.db) });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server!.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

    const health: number[] = [];
    const metrics: number[] = [];
    for (let i = 0; i < CALLS; i++) health.push(await timed(`${base}/health`));
    for (let i = 0; i < CALLS; i++) metrics.push(await timed(`${base}/metrics`));

    let next = 0;
    const ack = async (): Promise<number> => {
      const { body, signature } = sim.sign({ eventId: `ack-${next++}`, event: 'peopleStageUpdated', resourceIds: [1], uri: 'x', eventCreated: new Date().toISOString(), data: { stage: 'Lead' } });
      return timed(`${base}/webhooks/fub`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'FUB-Signature': signature }, body });
    };
    const quiet: number[] = [];
    for (let i = 0; i < ACKS; i++) quiet.push(await ack());
    let callers = true;
    const loud: number[] = [];
    const healthLoops = Array.from({ length: HEALTH_CALLERS }, async () => {
      while (callers) await timed(`${base}/health`).catch(() => undefined);
    });
    for (let i = 0; i < ACKS; i++) loud.push(await ack());
    callers = false;
    await Promise.all(healthLoops);

    const lines = [
      `${INBOX_ROWS.toLocaleString('en')} inbox rows and ${STAGE_CHANGES.toLocaleString('en')} stage_changes rows; calls one at a time. ${await machineLine(tdb.db, 'npm run bench:health')}`,
      '',
      '| what | latency |',
      '|---|---|',
      `| GET /health (${CALLS} calls) | ${summary(health)} |`,
      `| GET /metrics (${CALLS} calls) | ${summary(metrics)} |`,
      `| webhook ack (${ACKS}), nobody asking /health (baseline) | ${summary(quiet)} |`,
      `| webhook ack (${ACKS}), ${HEALTH_CALLERS} callers asking /health in a loop | ${summary(loud)} |`,
      '',
      'Before the bounded counts (commit 57b8d0d, measured by this script earlier the same day on the same machine, not in this run):',
      '/health p50 633.9 ms, p95 847.4 ms; /metrics p50 75.9 ms, p95 100.6 ms; webhook ack with 10 callers asking /health p50 52.8 ms, p95 144.6 ms.',
    ];
    await writeBenchmarkSection('/health and /metrics at 1,000,000 inbox rows', lines.join('\n'));
    console.log(lines.join('\n'));
  } finally {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    await filler.destroy();
    await tdb.destroy();
  }
});
