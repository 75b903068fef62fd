import type { Server } from 'node:http';
import { startRetentionSchedule } from '../shared/retention/retention-schedule.js';
import type { Runtime } from '../shared/runtime.js';
import { createWebhookApp } from './app.js';
import { createEventProcessor, type EventProcessor } from './event-processor.js';

export interface RunningWebhookServer {
  server: Server;
  processor: EventProcessor;
  /** Stops accepting, lets the processor finish or hand back its events; the pool stays open. */
  stop(): Promise<void>;
}

export async function startWebhookServer(runtime: Runtime): Promise<RunningWebhookServer> {
  const { config, log, db } = runtime;
  const fub = runtime.newFubClient();
  if (config.fub.systemKey === undefined) {
    log.warn('WEBHOOK_ALLOW_UNSIGNED=true: webhook signatures are NOT verified; anyone who finds the URL can write stage changes');
  }
  const processor = createEventProcessor({ db, log, fub, options: config.processing, metrics: runtime.metrics });
  const app = createWebhookApp({ db, log, systemKey: config.fub.systemKey, onStored: () => processor.wake(), metrics: runtime.metrics });
  const server = app.listen(config.port);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  // FUB waits ~10 s for an answer; a slow client must not hold a socket forever.
  server.requestTimeout = 15_000;
  processor.start();
  const retention = startRetentionSchedule({ db, log, retentionDays: config.retentionDays });
  const address = server.address();
  log.info({ port: typeof address === 'object' && address ? address.port : config.port }, 'webhook server listening');
  return {
    server,
    processor,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
      await Promise.all([processor.stop(), retention.stop()]);
    },
  };
}
