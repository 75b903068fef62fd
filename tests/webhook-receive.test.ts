import { expect } from 'chai';
import request from 'supertest';
import { sql } from 'kysely';
import { createDb } from '../src/shared/db/database.js';
import { createWebhookApp, MAX_BODY_BYTES } from '../src/webhook/app.js';
import { createHarness, testLogger, type Harness } from './support/harness.js';

describe('receiving webhooks', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  beforeEach(() => h.reset());
  after(() => h.close());

  const inboxCount = async (): Promise<number> =>
    Number((await h.tdb.db.selectFrom('webhook_events').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const deliveryCount = async (): Promise<number> =>
    Number((await h.tdb.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  const envelope = (overrides: Record<string, unknown> = {}) => ({
    eventId: 'e2a4c1f0-0000-4000-8000-000000000001',
    eventCreated: '2026-11-20T14:30:00+00:00',
    event: 'peopleStageUpdated',
    resourceIds: [27713],
    uri: 'https://api.followupboss.com/v1/people?id=27713',
    data: { stage: 'ACQ - Offers Made' },
    ...overrides,
  });

  it('stores a correctly signed webhook before answering 200', async () => {
    const res = await h.deliver(envelope());
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ ok: true, stored: 1, duplicates: 0 });
    const row = await h.tdb.db.selectFrom('webhook_events').selectAll().executeTakeFirstOrThrow();
    expect(row.event_id).to.equal('e2a4c1f0-0000-4000-8000-000000000001');
    expect(row.event).to.equal('peopleStageUpdated');
    expect(row.resource_ids).to.deep.equal([27713]);
    expect(row.event_created?.toISOString()).to.equal('2026-11-20T14:30:00.000Z');
    expect(row.status).to.equal('received');
    expect(row.payload).to.deep.equal(envelope());
    const delivery = await h.tdb.db.selectFrom('webhook_deliveries').selectAll().executeTakeFirstOrThrow();
    expect(delivery.raw_body).to.equal(JSON.stringify(envelope()));
  });

  it('accepts the old system path /webhook/fub/stage-change too', async () => {
    const res = await h.deliver(envelope(), '/webhook/fub/stage-change');
    expect(res.status).to.equal(200);
    expect(await inboxCount()).to.equal(1);
  });

  it('answers 401 and stores nothing when the signature is wrong', async () => {
    const { body } = h.sim.sign(envelope());
    const wrong = h.sim.sign(envelope(), 'not-the-system-key').signature;
    const res = await request(h.app.callback()).post('/webhooks/fub').set('FUB-Signature', wrong).send(body);
    expect(res.status).to.equal(401);
    expect(await inboxCount()).to.equal(0);
    expect(await deliveryCount()).to.equal(0);
  });

  it('answers 401 when the body was altered after signing', async () => {
    const { signature } = h.sim.sign(envelope());
    const tampered = JSON.stringify(envelope({ data: { stage: 'Closed' } }));
    const res = await request(h.app.callback()).post('/webhooks/fub').set('FUB-Signature', signature).send(tampered);
    expect(res.status).to.equal(401);
    expect(await inboxCount()).to.equal(0);
  });

  it('answers 401 and stores nothing when the signature is missing', async () => {
    const res = await request(h.app.callback()).post('/webhooks/fub').set('Content-Type', 'application/json').send(JSON.stringify(envelope()));
    expect(res.status).to.equal(401);
    expect(res.body.error).to.equal('missing FUB-Signature');
    expect(await inboxCount()).to.equal(0);
  });

  it('verifies the signature over the exact bytes, not re-serialized JSON', async () => {
    const spaced = '{ "eventId": "spaced-1",  "event": "peopleUpdated", "resourceIds": [5] }';
    const res = await h.deliver(spaced);
    expect(res.status).to.equal(200);
    const delivery = await h.tdb.db.selectFrom('webhook_deliveries').selectAll().executeTakeFirstOrThrow();
    expect(delivery.raw_body).to.equal(spaced);
  });

  it('stores every body byte for byte and every event as sent, for bodies written together in one statement', async () => {
    // Escapes, quotes, backslashes, CRLF, non-ASCII, an emoji, an escaped NUL and a lone surrogate escape.
    const awkward = (n: number) =>
      `{\r\n  "eventId": "awkward-${n}", "event": "peopleUpdated", "resourceIds": [${n}],\t"note": "quote \\" back\\\\slash \\u0000 nul \\ud800 lone é 😀 ${n}" }\n`;
    const batch = `[{"eventId":"batch-a","event":"peopleUpdated","resourceIds":[7]},{"eventId":"batch-b","event":"peopleCreated","resourceIds":[8],"x":"\\u0000"}]`;
    const bodies = [...Array.from({ length: 8 }, (_, i) => awkward(i + 1)), batch];
    const answers = await Promise.all(bodies.map((b) => h.deliver(b)));
    expect(answers.map((r) => r.status)).to.deep.equal(bodies.map(() => 200));
    const stored = await sql<{ raw_body: string; hashed: boolean }>`
      SELECT raw_body, body_sha256 = sha256(convert_to(raw_body, 'UTF8')) AS hashed FROM webhook_deliveries`.execute(h.tdb.db);
    expect(stored.rows.map((r) => r.raw_body).sort()).to.deep.equal([...bodies].sort());
    expect(stored.rows.every((r) => r.hashed)).to.equal(true);
    const events = await sql<{ event_id: string; payload: string }>`SELECT event_id, payload::text AS payload FROM webhook_events ORDER BY event_id`.execute(h.tdb.db);
    const sent = new Map<string, unknown>();
    for (const body of bodies) for (const element of [JSON.parse(body) as unknown].flat()) sent.set((element as { eventId: string }).eventId, element);
    expect(events.rows.map((r) => r.event_id)).to.deep.equal([...sent.keys()].sort());
    for (const row of events.rows) expect(JSON.parse(row.payload), row.event_id).to.deep.equal(sent.get(row.event_id));
  });

  it('answers 400 for a signed body that is not JSON, storing nothing', async () => {
    const res = await h.deliver('event=peopleUpdated&id=1');
    expect(res.status).to.equal(400);
    expect(await inboxCount()).to.equal(0);
    expect(await deliveryCount()).to.equal(0);
  });

  it('answers 413 for a body over 1 MB, storing nothing', async () => {
    const big = JSON.stringify({ ...envelope(), padding: 'x'.repeat(MAX_BODY_BYTES) });
    const res = await h.deliver(big);
    expect(res.status).to.equal(413);
    expect(await inboxCount()).to.equal(0);
  });

  it('stores an unknown event and marks it ignored with a reason', async () => {
    const res = await h.deliver(envelope({ eventId: 'unknown-1', event: 'dealsCreated', data: undefined }));
    expect(res.status).to.equal(200);
    await h.processor.drain();
    const row = await h.tdb.db.selectFrom('webhook_events').selectAll().executeTakeFirstOrThrow();
    expect(row.status).to.equal('ignored');
    expect(row.error_message).to.equal('event "dealsCreated" cannot change a stage');
  });

  it('stores odd shapes (no eventId, a bare string, NUL escapes) instead of refusing them', async () => {
    expect((await h.deliver('"hello"')).status).to.equal(200);
    expect((await h.deliver({ event: 'peopleTagsCreated', resourceIds: [1] })).status).to.equal(200);
    expect((await h.deliver(envelope({ eventId: 'nul-1', data: { stage: 'A\u0000B' } }))).status).to.equal(200);
    expect(await inboxCount()).to.equal(3);
    // The same id-less payload again is a redelivery, not a new event.
    const again = await h.deliver({ event: 'peopleTagsCreated', resourceIds: [1] });
    expect(again.body).to.deep.equal({ ok: true, stored: 0, duplicates: 1 });
  });

  it('treats a JSON array as a batch: every element stored', async () => {
    const batch = [envelope({ eventId: 'b1' }), envelope({ eventId: 'b2', resourceIds: [1, 2] }), envelope({ eventId: 'b3' })];
    const res = await h.deliver(batch);
    expect(res.body).to.deep.equal({ ok: true, stored: 3, duplicates: 0 });
    const ids = (await h.tdb.db.selectFrom('webhook_events').select('event_id').orderBy('event_id').execute()).map((r) => r.event_id);
    expect(ids).to.deep.equal(['b1', 'b2', 'b3']);
  });

  it('answers 2xx to a redelivery and counts it as deduplicated, storing it once', async () => {
    expect((await h.deliver(envelope())).status).to.equal(200);
    const res = await h.deliver(envelope());
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ ok: true, stored: 0, duplicates: 1 });
    expect(await inboxCount()).to.equal(1);
    const health = await request(h.app.callback()).get('/health');
    expect(health.body.webhooks_received).to.equal(2);
    expect(health.body.webhooks_deduplicated).to.equal(1);
  });

  it('answers 503 when the database cannot take the write, and nothing is stored', async () => {
    const deadDb = createDb('postgres://postgres@127.0.0.1:1/none', { connectionTimeoutMillis: 500 });
    const app = createWebhookApp({ db: deadDb, log: testLogger(), systemKey: h.sim.systemKey });
    const { body, signature } = h.sim.sign(envelope());
    const res = await request(app.callback()).post('/webhooks/fub').set('FUB-Signature', signature).send(body);
    expect(res.status).to.equal(503);
    expect(res.headers['retry-after']).to.equal('5');
    expect(res.body.ok).to.equal(false);
    const health = await request(app.callback()).get('/health');
    expect(health.status).to.equal(503);
    expect(health.body).to.include({ healthy: false, database: 'unreachable' });
    await deadDb.destroy();
    expect(await inboxCount()).to.equal(0);
  });

  it('accepts unsigned webhooks only when built without a system key', async () => {
    const app = createWebhookApp({ db: h.tdb.db, log: testLogger(), systemKey: undefined });
    const res = await request(app.callback()).post('/webhooks/fub').send(JSON.stringify(envelope()));
    expect(res.status).to.equal(200);
    expect(await inboxCount()).to.equal(1);
  });

  it('reports health counters from the database', async () => {
    h.sim.addPerson(27713, 'ACQ - Qualified');
    await h.deliver(envelope());
    await h.deliver(envelope({ eventId: 'tags-1', event: 'peopleTagsCreated' }));
    await h.processor.drain();
    const res = await request(h.app.callback()).get('/health');
    expect(res.status).to.equal(200);
    expect(res.body).to.include({
      healthy: true,
      database: 'ok',
      webhooks_received: 2,
      webhooks_processed: 1,
      webhooks_ignored: 1,
      webhooks_deduplicated: 0,
      webhooks_failed: 0,
      dead_letter: 0,
      inbox_pending: 0,
      stage_changes_captured: 1,
      success_rate: 100,
      signature_verification: true,
    });
    expect(new Date(res.body.last_webhook_at).getTime()).to.be.closeTo(Date.now(), 60_000);
    expect(res.body).to.include({ last_poll_started_at: null, last_poll_status: null, last_successful_poll_at: null });
  });

  it('shows in /health whether the poller is alive', async () => {
    h.sim.addPerson(1, 'Lead');
    const result = await h.newPoller().runOnce();
    expect(result.status).to.equal('succeeded');
    const res = await request(h.app.callback()).get('/health');
    expect(res.body.last_poll_status).to.equal('succeeded');
    expect(new Date(res.body.last_successful_poll_at).getTime()).to.be.closeTo(Date.now(), 60_000);
    expect(res.body.stage_changes_total).to.equal(1);
    expect(res.body.stage_changes_captured).to.equal(0); // that row came from polling, not a webhook
  });

  it('writes a burst of concurrent deliveries in a few statements, each answered only once stored', async () => {
    const hooks = Array.from({ length: 60 }, (_, i) => envelope({ eventId: `burst-${i}`, resourceIds: [i + 1] }));
    // The same event twice in the burst (FUB redelivering while the first is in flight).
    const answers = await Promise.all([...hooks, hooks[0]].map((hook) => h.deliver(hook)));
    expect(answers.every((r) => r.status === 200)).to.equal(true);
    expect(answers.reduce((n, r) => n + (r.body as { stored: number }).stored, 0)).to.equal(60);
    expect(await inboxCount()).to.equal(60);
    // One statement shares one transaction timestamp: fewer distinct times than deliveries. The
    // redelivery is the same bytes again: counted on the first copy, not stored twice.
    const { rows } = await sql<{ statements: number; deliveries: number; duplicates: number; replays: number }>`
      SELECT count(DISTINCT received_at)::int AS statements, count(*)::int AS deliveries, sum(duplicate_count)::int AS duplicates,
             sum(replay_count)::int AS replays
      FROM webhook_deliveries`.execute(h.tdb.db);
    expect(rows[0]).to.include({ deliveries: 60, duplicates: 1, replays: 1 });
    expect(rows[0]!.statements).to.be.below(60);
  });
});
