// Every FUB call carries the API key and X-System-Key (the key that signs webhooks: whoever holds it
// can forge them). A redirect (a proxy, a hijacked DNS name behind a wrong FUB_API_BASE_URL) must not
// carry them to another address, nor make another address's answer pass for FUB's.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createFubClient, FubApiError } from '../src/shared/fub/fub-client.js';
import { FubRateLimiter } from '../src/shared/fub/rate-limiter.js';
import { testLogger } from './support/harness.js';

describe('FUB client: redirects are not followed', function () {
  let elsewhere: Server;
  let redirecting: Server;
  const seenElsewhere: IncomingHttpHeaders[] = [];
  const listen = async (server: Server): Promise<number> => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  };
  before(async () => {
    elsewhere = createServer((req, res) => {
      seenElsewhere.push(req.headers);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"stages":[{"id":1,"name":"Planted"}]}');
    });
    const elsewherePort = await listen(elsewhere);
    redirecting = createServer((_req, res) => {
      res.writeHead(302, { Location: `http://127.0.0.1:${elsewherePort}/v1/stages` });
      res.end();
    });
    await listen(redirecting);
  });
  after(async () => {
    for (const server of [elsewhere, redirecting]) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('sends neither key to the address a 302 names, and fails with the 302', async () => {
    const fub = createFubClient({
      baseUrl: `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}/v1`,
      apiKey: 'the-api-key',
      system: 'collector',
      systemKey: 'the-system-key',
      limiter: new FubRateLimiter(),
      log: testLogger(),
      maxRetries: 0,
    });
    const outcome = await fub.getStages().then(
      (stages) => stages,
      (error: unknown) => error,
    );
    expect(seenElsewhere.map((h) => h['x-system-key'] ?? null)).to.deep.equal([]);
    expect(outcome).to.be.instanceOf(FubApiError);
    expect((outcome as Error).message).to.match(/answered 302/);
  });
});
