import { createServer, type Server } from 'node:http';
import { startAlertSchedule } from '../alerts/alert-schedule.js';
import { startRetentionSchedule } from '../shared/retention/retention-schedule.js';
import { startRollupUpkeep } from '../shared/rollups/rollup-upkeep.js';
import type { Runtime } from '../shared/runtime.js';
import type { EventProcessor } from './event-processor.js';
import { buildWebhookService } from './webhook-service.js';

export interface RunningWebhookServer {
  server: Server;
  processor: EventProcessor;
  /** Stops accepting, lets the processor finish or hand back its events; the pool stays open. */
  stop(): Promise<void>;
}

/** FUB sends a request's headers at once; a client still sending them after this gets 408. */
const HEADERS_TIMEOUT_MS = 10_000;

export async function startWebhookServer(runtime: Runtime): Promise<RunningWebhookServer> {
  const { config, log, db } = runtime;
  if (config.fub.systemKey === undefined) {
    log.warn('WEBHOOK_ALLOW_UNSIGNED=true: webhook signatures are NOT verified; anyone who finds the URL can write stage changes');
  }
  const { app, processor } = buildWebhookService(runtime);
  // Node's own deadlines, a backstop behind the app's body deadline. They must be given here:
  // set after listen() they are never enforced. Checked every second instead of every 30.
  const server = createServer(
    {
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: HEADERS_TIMEOUT_MS + config.webhookRequests.bodyTimeoutMs + 1000,
      connectionsCheckingInterval: 1000,
    },
    app.callback(),
  );
  server.listen(config.port);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  processor.start();
  const alerts = startAlertSchedule({ db, log, config: config.alerts, timeZone: config.businessTimeZone });
  const retention = startRetentionSchedule({ db, log, retentionDays: config.retentionDays });
  const rollups = startRollupUpkeep({ db, log, timeZone: config.businessTimeZone });
  const address = server.address();
  log.info({ port: typeof address === 'object' && address ? address.port : config.port }, 'webhook server listening');
  return {
    server,
    processor,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
      await Promise.all([processor.stop(), alerts.stop(), retention.stop(), rollups.stop()]);
    },
  };
}
