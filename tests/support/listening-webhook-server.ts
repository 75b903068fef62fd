// The real webhook server (startWebhookServer: its sockets, timeouts and limits) in this process,
// configured from environment variables as in production, on a test database and the FUB simulator.
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/shared/config.js';
import type { Logger } from '../../src/shared/logger.js';
import { composeRuntime } from '../../src/shared/runtime.js';
import { startWebhookServer, type RunningWebhookServer } from '../../src/webhook/webhook-server.js';
import type { FubSimulator } from '../../fub-simulator/fub-simulator.js';
import { testLogger } from './harness.js';
import { serviceEnv } from './run-entrypoint.js';
import type { TestDatabase } from './test-database.js';

export interface ListeningWebhookServer {
  running: RunningWebhookServer;
  port: number;
  stop(): Promise<void>;
}

export async function startListeningWebhookServer(
  sim: FubSimulator,
  tdb: TestDatabase,
  env: Record<string, string> = {},
  log: Logger = testLogger(),
): Promise<ListeningWebhookServer> {
  const config = loadConfig({ ...serviceEnv(sim, tdb.url), PORT: '0', ...env });
  // The test owns the database: the runtime's close leaves it open.
  const runtime = composeRuntime({ config, log, db: tdb.db });
  const running = await startWebhookServer(runtime);
  return {
    running,
    port: (running.server.address() as AddressInfo).port,
    stop: () => running.stop(),
  };
}
