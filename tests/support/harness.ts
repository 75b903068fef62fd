// The service's own parts (composeRuntime, buildWebhookService, createPollerFor) on a test database
// and the FUB simulator, configured from the environment variables production reads.
import type Koa from 'koa';
import request from 'supertest';
import { loadConfig, type ProcessingConfig } from '../../src/shared/config.js';
import type { FubClient } from '../../src/shared/fub/fub-client.js';
import { createLogger, type Logger } from '../../src/shared/logger.js';
import type { Metrics } from '../../src/shared/metrics.js';
import { composeRuntime, createInboxDb, type FubClientTuning, type Runtime } from '../../src/shared/runtime.js';
import { buildWebhookService, createProcessorFor } from '../../src/webhook/webhook-service.js';
import type { EventProcessor, EventProcessorOptions } from '../../src/webhook/event-processor.js';
import type { Poller, PollerOptions } from '../../src/poller/poller.js';
import { createPollerFor } from '../../src/poller/poller-service.js';
import { FubSimulator } from '../../fub-simulator/fub-simulator.js';
import { serviceEnv } from './run-entrypoint.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';

export const TEST_PROCESSING: ProcessingConfig = { leaseSeconds: 30, maxAttempts: 3, retryBaseSeconds: 0, sweepIntervalMs: 200 };

export function testLogger(): Logger {
  return createLogger((process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'silent');
}

export interface Harness {
  sim: FubSimulator;
  tdb: TestDatabase;
  log: Logger;
  runtime: Runtime;
  fub: FubClient;
  processor: EventProcessor;
  metrics: Metrics;
  app: Koa;
  /** Posts a payload signed as FUB signs it. */
  deliver(payload: unknown, path?: string): Promise<request.Response>;
  /** Builds another processor (a second worker or replica) on its own pool-sharing db. */
  newProcessor(options?: Partial<EventProcessorOptions>): EventProcessor;
  /** A poller with its own FUB client on the shared rate limiter, as in the all-in-one process. */
  newPoller(options?: Partial<PollerOptions>): Poller & { fub: FubClient };
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** Retries a test can wait for: FUB's real back-off (0.5 s doubling to 30 s) would time tests out. */
const TEST_FUB_TUNING: FubClientTuning = { retryBaseDelayMs: 20, retryMaxDelayMs: 200 };

export async function createHarness(options: Partial<EventProcessorOptions> = {}, fubTuning: FubClientTuning = {}): Promise<Harness> {
  const sim = new FubSimulator();
  await sim.start();
  const tdb = await createTestDatabase();
  const log = testLogger();
  const config = loadConfig(serviceEnv(sim, tdb.url));
  const processing: EventProcessorOptions = { ...TEST_PROCESSING, ...options };

  // Webhooks are written as the service writes them: on an inbox pool of their own, planned once.
  const inboxDb = createInboxDb(tdb.url);
  // What a process learns (FUB's clock, its rate budget, stage names) belongs to the database and
  // simulator it talked to: reset() builds these again, as a restarted process would.
  const build = () => {
    const runtime = composeRuntime({ config, log, db: tdb.db, inboxDb, fubTuning: { ...TEST_FUB_TUNING, ...fubTuning } });
    const service = buildWebhookService(runtime, { processing });
    return { runtime, ...service, callback: service.app.callback() };
  };
  let parts = build();

  const harness: Harness = {
    sim,
    tdb,
    log,
    get runtime() {
      return parts.runtime;
    },
    get fub() {
      return parts.fub;
    },
    get processor() {
      return parts.processor;
    },
    get metrics() {
      return parts.runtime.metrics;
    },
    get app() {
      return parts.app;
    },
    deliver(payload, path = '/webhooks/fub') {
      const { body, signature } = sim.sign(payload);
      return request(parts.callback).post(path).set('Content-Type', 'application/json').set('FUB-Signature', signature).send(body);
    },
    newProcessor(extra = {}) {
      return createProcessorFor(parts.runtime, parts.fub, { ...processing, ...extra });
    },
    newPoller(extra = {}) {
      const fub = parts.runtime.newFubClient();
      return Object.assign(createPollerFor(parts.runtime, { fub, options: extra }), { fub });
    },
    async reset() {
      await parts.processor.stop();
      sim.reset();
      await tdb.reset();
      parts = build();
    },
    async close() {
      await parts.processor.stop();
      await inboxDb.destroy();
      await sim.stop();
      await tdb.destroy();
    },
  };
  return harness;
}
