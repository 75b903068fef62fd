// The webhook path assembled in-process for benchmarks: app, processor and FUB client against a
// simulator, the way src/webhook/webhook-server.ts assembles it.
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createFubClient } from '../src/shared/fub/fub-client.js';
import { FubRateLimiter } from '../src/shared/fub/rate-limiter.js';
import { createLogger } from '../src/shared/logger.js';
import type { Db } from '../src/shared/db/database.js';
import { createWebhookApp } from '../src/webhook/app.js';
import { createEventProcessor, type EventProcessor } from '../src/webhook/event-processor.js';
import type { FubSimulator } from '../fub-simulator/fub-simulator.js';

export interface LiveCollector {
  processor: EventProcessor;
  deliver(payload: unknown): Promise<number>;
  close(): Promise<void>;
}

/** `wakeOnReceive: false` leaves processing to the periodic sweep (the polling-interval design). */
export async function liveCollector(db: Db, sim: FubSimulator, options: { wakeOnReceive: boolean; sweepIntervalMs?: number }): Promise<LiveCollector> {
  const log = createLogger('silent');
  const fub = createFubClient({ ...sim.connection(), limiter: new FubRateLimiter(), log });
  const processor = createEventProcessor({
    db,
    log,
    fub,
    options: { leaseSeconds: 120, maxAttempts: 10, retryBaseSeconds: 10, sweepIntervalMs: options.sweepIntervalMs ?? 5000 },
  });
  const app = createWebhookApp({ db, log, systemKey: sim.systemKey, ...(options.wakeOnReceive ? { onStored: () => processor.wake() } : {}) });
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
