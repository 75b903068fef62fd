import { expect } from 'chai';
import { sql } from 'kysely';
import request from 'supertest';
import { createLogger, type Logger } from '../src/shared/logger.js';
import { createWebhookApp } from '../src/webhook/app.js';
import { createEventProcessor } from '../src/webhook/event-processor.js';
import { createHarness, TEST_PROCESSING, type Harness } from './support/harness.js';

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

  it('stores an exact replay of a signed 1 MB body once, answering it as a duplicate and counting it', async () => {
    const hook = { eventId: 'replayed-1', eventCreated: '2026-11-20T14:30:00+00:00', event: 'peopleUpdated', resourceIds: [5], padding: 'x'.repeat(1_000_000) };
    const first = await h.deliver(hook);
    expect(first.body).to.deep.equal({ ok: true, stored: 1, duplicates: 0 });
    for (let i = 0; i < 20; i++) {
      const again = await h.deliver(hook);
      expect(again.status).to.equal(200);
      expect(again.body).to.deep.equal({ ok: true, stored: 0, duplicates: 1 });
    }
    expect(await countOf('webhook_deliveries')).to.equal(1);
    const { rows } = await sql<{ bytes: number }>`SELECT sum(octet_length(raw_body))::int AS bytes FROM webhook_deliveries`.execute(h.tdb.db);
    expect(rows[0]!.bytes).to.be.below(1_100_000);
    const health = await request(h.app.callback()).get('/health');
    expect(health.body).to.include({ webhooks_received: 21, webhooks_deduplicated: 20 });

    // The same event in other bytes is another delivery (kept), and still one event.
    const respaced = JSON.stringify(hook, null, 1);
    expect((await h.deliver(respaced)).body).to.deep.equal({ ok: true, stored: 0, duplicates: 1 });
    expect(await countOf('webhook_deliveries')).to.equal(2);
    expect(await countOf('webhook_events')).to.equal(1);
  });

  it('stores a body replayed within one burst once', async () => {
    const hook = { eventId: 'burst-replay', event: 'peopleUpdated', resourceIds: [6] };
    const answers = await Promise.all(Array.from({ length: 12 }, () => h.deliver(hook)));
    expect(answers.map((a) => a.status)).to.deep.equal(Array(12).fill(200));
    expect(answers.reduce((n, a) => n + (a.body as { stored: number }).stored, 0)).to.equal(1);
    expect(await countOf('webhook_deliveries')).to.equal(1);
    const health = await request(h.app.callback()).get('/health');
    expect(health.body).to.include({ webhooks_received: 12, webhooks_deduplicated: 11 });
  });

  it('logs a 2,000-person peopleUpdated in lines that each name at most a few people', async () => {
    const ids = Array.from({ length: 2000 }, (_, i) => 100_000 + i);
    for (const id of ids) h.sim.addPerson(id, 'Lead');
    const { log, lines } = capturingLogger();
    const app = createWebhookApp({ db: h.tdb.db, log, systemKey: h.sim.systemKey });
    const processor = createEventProcessor({ db: h.tdb.db, log, fub: h.fub, options: TEST_PROCESSING });
    const { body, signature } = h.sim.sign({ eventId: 'bulk-1', eventCreated: '2026-11-20T14:30:00+00:00', event: 'peopleUpdated', resourceIds: ids });
    const res = await request(app.callback()).post('/webhooks/fub').set('FUB-Signature', signature).send(body);
    expect(res.status).to.equal(200);
    await processor.drain();
    const changes = await h.tdb.db.selectFrom('stage_changes').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    expect(Number(changes.n)).to.equal(2000);

    const longest = Math.max(...lines.map((l) => l.length));
    const total = lines.reduce((n, l) => n + l.length, 0);
    expect(longest, 'longest log line').to.be.below(1000);
    expect(total, 'log bytes for 2,000 people').to.be.below(2000 * 1000);
    const received = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'webhook received');
    expect(received).to.include({ personCount: 2000 });
    expect(received?.firstPersonIds).to.deep.equal([100_000, 100_001, 100_002]);
  });

  it('names a few of 2,000 people FUB does not show, not all of them, when the event fails', async () => {
    const ids = Array.from({ length: 2000 }, (_, i) => 200_000 + i);
    const { log, lines } = capturingLogger();
    const processor = createEventProcessor({ db: h.tdb.db, log, fub: h.fub, options: TEST_PROCESSING });
    expect((await h.deliver({ eventId: 'bulk-missing', event: 'peopleUpdated', resourceIds: ids })).status).to.equal(200);
    await processor.drain();
    const row = await h.tdb.db.selectFrom('webhook_events').select(['status', 'error_message']).executeTakeFirstOrThrow();
    expect(row.status).to.equal('ignored');
    expect(row.error_message).to.match(/^person 200000, 200001, 200002 and 1997 more not found in FUB yet/);
    expect(lines.length).to.be.greaterThan(0);
    expect(Math.max(...lines.map((l) => l.length)), 'longest log line').to.be.below(1000);
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
