import { expect } from 'chai';
import request from 'supertest';
import { createLogger, type Logger } from '../src/shared/logger.js';
import { createWebhookApp } from '../src/webhook/app.js';
import { createHarness, type Harness } from './support/harness.js';

/** A logger that keeps every line it writes. */
function capturingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger('info', { write: (line: string) => void lines.push(line) }), lines };
}

describe('hostile webhook bodies', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  beforeEach(() => h.reset());
  after(() => h.close());

  describe('client address in logs (TRUST_PROXY)', () => {
    const rejectedFrom = async (trustProxy: boolean, forwardedFor: string): Promise<unknown> => {
      const { log, lines } = capturingLogger();
      const app = createWebhookApp({ db: h.tdb.db, log, systemKey: h.sim.systemKey, requests: { trustProxy } });
      const res = await request(app.callback()).post('/webhooks/fub').set('X-Forwarded-For', forwardedFor).send('{}');
      expect(res.status).to.equal(401);
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.outcome === 'unauthorized')?.ip;
    };

    it('ignores X-Forwarded-For when the proxy is not trusted', async () => {
      expect(await rejectedFrom(false, '203.0.113.9')).to.match(/127\.0\.0\.1$/);
    });

    it('believes only the entry the trusted proxy added, not what the client wrote before it', async () => {
      expect(await rejectedFrom(true, '198.51.100.1, 203.0.113.9')).to.equal('203.0.113.9');
    });
  });
});
