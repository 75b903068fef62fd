// The webhook path in-process for benchmarks: the service's own wiring (composeRuntime,
// buildWebhookService) against a simulator, on the bench's database pool.
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/shared/config.js';
import { createLogger } from '../src/shared/logger.js';
import type { Db } from '../src/shared/db/database.js';
import { composeRuntime } from '../src/shared/runtime.js';
import { createWebhookApp } from '../src/webhook/app.js';
import type { EventProcessor } from '../src/webhook/event-processor.js';
import { buildWebhookService } from '../src/webhook/webhook-service.js';
import type { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { serviceEnv } from '../tests/support/run-entrypoint.js';

export interface LiveCollector {
  processor: EventProcessor;
  deliver(payload: unknown): Promise<number>;
  close(): Promise<void>;
}

/** `wakeOnReceive: false` leaves processing to the periodic sweep (the polling-interval design). */
export async function liveCollector(db: Db, sim: FubSimulator, options: { wakeOnReceive: boolean; sweepIntervalMs?: number }): Promise<LiveCollector> {
  const config = loadConfig(serviceEnv(sim, 'postgres://unused-the-bench-passes-its-pool'));
  const runtime = composeRuntime({ config, log: createLogger('silent'), db });
  const processing = { ...config.processing, sweepIntervalMs: options.sweepIntervalMs ?? 5000 };
  const service = buildWebhookService(runtime, { processing });
  const { processor } = service;
  // Without the wake-up on receive, only the sweep finds stored events (the design it replaced).
  const app = options.wakeOnReceive ? service.app : createWebhookApp({ db, log: runtime.log, systemKey: sim.systemKey });
  // A real listener and keep-alive connections, so the sender costs what FUB's deliveries would;
  // at most 64 at once, as a sender does (unbounded, a backlog of thousands of sockets overflowed
  // the listen queue and was reset at 1,000/s on a slower machine).
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  return {
    processor,
    deliver(payload) {
      const { body, signature } = sim.sign(payload);
      return new Promise<number>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, path: '/webhooks/fub', method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'FUB-Signature': signature } },
          (res) => {
            res.resume();
            res.once('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.once('error', reject);
        req.end(body);
      });
    },
    async close() {
      await processor.stop();
      agent.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
