import { expect } from 'chai';
import request from 'supertest';
import { createDb } from '../src/shared/db/database.js';
import { createMetrics } from '../src/shared/metrics.js';
import { createWebhookApp } from '../src/webhook/app.js';
import { createHarness, testLogger, type Harness } from './support/harness.js';

/** Prometheus text format → { 'name{label="v"}': value }. */
function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return values;
}

describe('GET /metrics', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness({ maxAttempts: 1 });
  });
  after(() => h.close());

  it('counts a scripted set of webhooks by outcome and reads the shared state from the database', async () => {
    h.sim.addPerson(1, 'Lead');
    h.sim.addPerson(2, 'Lead');
    const a = h.sim.movePerson(1, 'ACQ - Qualified');
    const b = h.sim.movePerson(2, 'ACQ - Qualified');
    await h.deliver(a.stageUpdated); // accepted
    await h.deliver(b.peopleUpdated); // accepted
    await h.deliver(a.stageUpdated); // duplicate
    await request(h.app.callback()).post('/webhooks/fub').set('FUB-Signature', '0'.repeat(64)).send('{}'); // unauthorized
    await h.deliver('not json'); // invalid
    // FUB sends person 3 in a shape we cannot read (a stage that is no name): accepted, will die.
    h.sim.edits.push((req, answer) => {
      if (!req.query.get('id')?.split(',').includes('3')) return undefined;
      const body = answer.body as { people: unknown[] };
      return { ...answer, body: { ...body, people: [...body.people, { id: 3, stage: 42 }] } };
    });
    await h.deliver({ eventId: 'doomed', event: 'peopleUpdated', resourceIds: [3], eventCreated: new Date().toISOString() }); // accepted, will die
    await h.deliver({ eventId: 'later', event: 'peopleCreated', resourceIds: [1] }); // accepted, left in the inbox
    await h.tdb.db.updateTable('webhook_events').set({ next_attempt_at: new Date(Date.now() + 3_600_000) }).where('event_id', '=', 'later').execute();
    await h.processor.drain();
    await h.newPoller().runOnce();

    const res = await request(h.app.callback()).get('/metrics');
    expect(res.status).to.equal(200);
    expect(res.headers['content-type']).to.match(/^text\/plain/);
    const m = parseMetrics(res.text);
    expect(m.get('fub_webhook_requests_total{outcome="accepted"}')).to.equal(4);
    expect(m.get('fub_webhook_requests_total{outcome="duplicate"}')).to.equal(1);
    expect(m.get('fub_webhook_requests_total{outcome="unauthorized"}')).to.equal(1);
    expect(m.get('fub_webhook_requests_total{outcome="invalid"}')).to.equal(1);
    expect(m.get('fub_webhook_ack_seconds_count')).to.equal(7);
    expect(m.get('fub_processing_lag_seconds_count')).to.equal(2); // the two good events
    expect(m.get('fub_inbox_depth')).to.equal(1);
    expect(m.get('fub_inbox_oldest_pending_seconds')).to.be.within(0, 60);
    expect(m.get('fub_dead_letter_events')).to.equal(1);
    expect(m.get('fub_stage_changes_recorded{source="webhook_peopleStageUpdated"}')).to.equal(1);
    expect(m.get('fub_stage_changes_recorded{source="webhook_peopleUpdated"}')).to.equal(1);
    expect(m.get('fub_poll_runs{status="succeeded"}')).to.equal(1);
    expect(m.get('fub_poll_duration_seconds_count{status="succeeded"}')).to.equal(1);
    expect(m.get('fub_api_calls_total{status="200"}')).to.equal(h.sim.requests.length);
    expect(m.get('fub_rate_limit_waits_total')).to.equal(0);
    expect(m.get('fub_metrics_database_ok')).to.equal(1);
    expect(m.get('process_cpu_user_seconds_total')).to.be.a('number');
  });

  it('counts deliveries the database could not take as unavailable', async () => {
    const deadDb = createDb('postgres://postgres@127.0.0.1:1/none', { connectionTimeoutMillis: 300 });
    const metrics = createMetrics(deadDb);
    const app = createWebhookApp({ db: deadDb, log: testLogger(), systemKey: h.sim.systemKey, metrics });
    const { body, signature } = h.sim.sign({ eventId: 'x', event: 'peopleUpdated', resourceIds: [1] });
    expect((await request(app.callback()).post('/webhooks/fub').set('FUB-Signature', signature).send(body)).status).to.equal(503);
    const res = await request(app.callback()).get('/metrics');
    expect(res.status).to.equal(200);
    const m = parseMetrics(res.text);
    expect(m.get('fub_webhook_requests_total{outcome="unavailable"}')).to.equal(1);
    expect(m.get('fub_metrics_database_ok')).to.equal(0);
    await deadDb.destroy();
  });
});
