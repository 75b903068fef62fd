// Builds the same parts main.ts builds, against a test database and the FUB simulator.
import type Koa from 'koa';
import request from 'supertest';
import type { ProcessingConfig } from '../../src/shared/config.js';
import { createFubClient, type FubClient } from '../../src/shared/fub/fub-client.js';
import { FubRateLimiter } from '../../src/shared/fub/rate-limiter.js';
import { createLogger, type Logger } from '../../src/shared/logger.js';
import { createMetrics, type Metrics } from '../../src/shared/metrics.js';
import { createWebhookApp } from '../../src/webhook/app.js';
import { createEventProcessor, type EventProcessor, type EventProcessorOptions } from '../../src/webhook/event-processor.js';
import { createPoller, type Poller, type PollerOptions } from '../../src/poller/poller.js';
import { FubSimulator } from '../../fub-simulator/fub-simulator.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';

export const TEST_PROCESSING: ProcessingConfig = { leaseSeconds: 30, maxAttempts: 3, retryBaseSeconds: 0, sweepIntervalMs: 200 };

export function testLogger(): Logger {
  return createLogger((process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'silent');
}

export interface Harness {
  sim: FubSimulator;
  tdb: TestDatabase;
  log: Logger;
  fub: FubClient;
  limiter: FubRateLimiter;
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

export async function createHarness(
  options: Partial<EventProcessorOptions> = {},
  fubOptions: Partial<Parameters<typeof createFubClient>[0]> = {},
): Promise<Harness> {
  const sim = new FubSimulator();
  await sim.start();
  const tdb = await createTestDatabase();
  const log = testLogger();
  const metrics = createMetrics(tdb.db);
  const limiter = new FubRateLimiter({ onWait: metrics.fubHooks.onWait });
  const newFub = (): FubClient =>
    createFubClient({
      ...sim.connection(),
      limiter,
      log,
      retryBaseDelayMs: 20,
      retryMaxDelayMs: 200,
      onCall: metrics.fubHooks.onCall,
      ...fubOptions,
    });
  const fub = newFub();
  const newProcessor = (extra: Partial<EventProcessorOptions> = {}): EventProcessor =>
    createEventProcessor({ db: tdb.db, log, fub, metrics, options: { ...TEST_PROCESSING, ...options, ...extra } });
  const app = createWebhookApp({ db: tdb.db, log, systemKey: sim.systemKey, onStored: () => harness.processor.wake(), metrics });
  const callback = app.callback();
  const harness: Harness = {
    sim,
    tdb,
    log,
    fub,
    limiter,
    processor: newProcessor(),
    metrics,
    app,
    deliver(payload, path = '/webhooks/fub') {
      const { body, signature } = sim.sign(payload);
      return request(callback).post(path).set('Content-Type', 'application/json').set('FUB-Signature', signature).send(body);
    },
    newProcessor,
    newPoller(extra = {}) {
      const pollerFub = newFub();
      const poller = createPoller({
        db: tdb.db,
        log,
        fub: pollerFub,
        metrics,
        options: { cron: '*/30 * * * *', overlapMs: 5 * 60_000, ...extra },
      });
      return Object.assign(poller, { fub: pollerFub });
    },
    async reset() {
      await harness.processor.stop();
      sim.reset();
      await tdb.reset();
      // A fresh processor: what one learned (stage names) belonged to the database just emptied.
      harness.processor = newProcessor();
    },
    async close() {
      await harness.processor.stop();
      await sim.stop();
      await tdb.destroy();
    },
  };
  return harness;
}
