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

  const countOf = async (table: 'webhook_events' | 'webhook_deliveries'): Promise<number> =>
    Number((await h.tdb.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  it('answers 400 to signed JSON nested 5,000 deep, storing nothing', async () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    const inEnvelope = `{"eventId":"deep-1","event":"peopleUpdated","resourceIds":[1],"data":${deep}}`;
    for (const body of [deep, inEnvelope]) {
      const res = await h.deliver(body);
      expect(res.status).to.equal(400);
      expect(res.body.error).to.match(/nested deeper than \d+ levels/);
    }
    // Strings holding brackets are not nesting.
    const bracketsInText = { eventId: 'text-1', event: 'peopleUpdated', resourceIds: [1], note: '['.repeat(5000) };
    expect((await h.deliver(bracketsInText)).status).to.equal(200);
    expect(await countOf('webhook_events')).to.equal(1);
  });

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
