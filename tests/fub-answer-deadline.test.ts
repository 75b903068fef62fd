// A FUB (or proxy) that sends its answer's headers at once and then the body a byte at a time never
// goes quiet for the client's timeout, yet never finishes. The timeout must bound the whole answer,
// or one such answer holds a poll (or an event's lease, renewed by heartbeat) forever.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createFubClient, FubApiError } from '../src/shared/fub/fub-client.js';
import { FubRateLimiter } from '../src/shared/fub/rate-limiter.js';
import { testLogger } from './support/harness.js';

describe('FUB answers have a deadline for the whole answer, not only for silence', function () {
  this.timeout(20_000);
  let server: Server;
  let baseUrl: string;
  const timers = new Set<NodeJS.Timeout>();
  before(async () => {
    server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"_metadata":{},"people":[');
      // A space every 200 ms: never idle for a second, never done.
      const timer = setInterval(() => res.write(' '), 200);
      timers.add(timer);
      res.on('close', () => {
        clearInterval(timer);
        timers.delete(timer);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  after(async () => {
    for (const timer of timers) clearInterval(timer);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('gives up on a trickling answer after about timeoutMs', async () => {
    const fub = createFubClient({ baseUrl, apiKey: 'k', limiter: new FubRateLimiter(), log: testLogger(), timeoutMs: 1000, maxRetries: 0 });
    const started = Date.now();
    const outcome = await Promise.race([
      fub.getPeopleByIds([1]).then(
        () => 'answered',
        (error: unknown) => error,
      ),
      new Promise((resolve) => setTimeout(() => resolve('still waiting after 6 s'), 6000)),
    ]);
    expect(outcome).to.be.instanceOf(FubApiError);
    expect((outcome as Error).message).to.match(/unreachable after 1 tries: no complete answer within 1000 ms/);
    expect(Date.now() - started).to.be.below(4000);
  });
});
