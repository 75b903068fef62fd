// FUB (or a proxy in front of it) answers 200 with something that is not a people page. That is not
// "nobody changed": the poll must fail and keep its watermark, so the next poll reads the change
// (accepted data is never lost; a malformed answer is never read as "nothing changed").
import { expect } from 'chai';
import { sql } from 'kysely';
import { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { createHarness, type Harness } from './support/harness.js';
import { runEntrypoint, serviceEnv } from './support/run-entrypoint.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const DAY = 86_400_000;

describe('FUB answers validated: a malformed 200 answer to the poll', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  beforeEach(() => h.reset());
  after(() => h.close());

  const stagesOf = (personId: number) =>
    sql<{ stage_to: string }>`SELECT stage_to FROM stage_changes WHERE person_id = ${personId} ORDER BY changed_at, seq`
      .execute(h.tdb.db)
      .then((r) => r.rows.map((row) => row.stage_to));

  for (const [label, body] of [
    ['an HTML maintenance page', '<html><body>Down for maintenance</body></html>'],
    ['an empty JSON object', {}],
    ['an error object', { errorMessage: 'Internal error, please retry' }],
  ] as const) {
    it(`does not lose a move whose webhooks were lost when one poll gets ${label}`, async () => {
      h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 + 200));
      const installedAt = new Date(h.sim.now().getTime() - 3 * DAY);
      for (const id of [1, 2, 3]) h.sim.addPerson(id, 'Lead', new Date(installedAt.getTime() + id * 1000));
      expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
      // Person 1 moves; its webhooks never arrive.
      h.sim.advanceClock(10_000);
      h.sim.movePerson(1, 'Hot');
      // Ten minutes later a poll gets a 200 that is not a people page.
      h.sim.advanceClock(10 * 60_000);
      h.sim.faults.push((req) => (req.path === '/v1/people' && req.query.get('id') === null ? { status: 200, body } : undefined));
      const broken = await h.newPoller().runOnce();
      h.sim.faults.length = 0;
      h.sim.advanceClock(60_000);
      expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
      expect(await stagesOf(1)).to.deep.equal(['Lead', 'Hot']);
      expect(broken.status).to.equal('failed');
    });
  }
});

describe("FUB answers validated: a webhook's fetch answered with something that is not people", function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  beforeEach(() => h.reset());
  after(() => h.close());

  for (const [label, answer] of [
    ['an HTML page', { status: 200, rawBody: '<html><body>Down for maintenance</body></html>' }],
    ['truncated JSON', { status: 200, rawBody: '{"_metadata":{"collection":"people"},"people":[{"id":1,"sta' }],
    ['an empty JSON object', { status: 200, body: {} }],
    ['an error object', { status: 200, body: { errorMessage: 'Internal error, please retry' } }],
    ['people without _metadata', { status: 200, body: { people: [] } }],
  ] as const) {
    it(`ends the event dead, naming FUB's status and answer, after ${label} (never "person not found")`, async () => {
      h.sim.addPerson(1, 'Lead');
      h.sim.faults.push((req) => (req.path === '/v1/people' ? answer : undefined));
      expect((await h.deliver(h.sim.movePerson(1, 'Hot').peopleUpdated)).status).to.equal(200);
      await h.processor.drain();
      const row = await h.tdb.db.selectFrom('webhook_events').select(['status', 'attempts', 'error_message']).executeTakeFirstOrThrow();
      expect(row.status).to.equal('dead');
      expect(row.attempts).to.equal(3);
      expect(row.error_message).to.match(/^person 1 could not be read from FUB: FUB \/people answered 200 with /);
      expect(row.error_message).to.contain(JSON.stringify(answer.rawBody ?? JSON.stringify(answer.body)).slice(0, 30));
      // Replayed once FUB answers properly, the move is recorded.
      h.sim.faults.length = 0;
      await h.tdb.db.updateTable('webhook_events').set({ status: 'failed', attempts: 0, next_attempt_at: new Date() }).execute();
      await h.processor.drain();
      const stages = await sql<{ stage_to: string }>`SELECT stage_to FROM stage_changes WHERE person_id = 1`.execute(h.tdb.db);
      expect(stages.rows.map((r) => r.stage_to)).to.deep.equal(['Hot']);
    });
  }

  it('still says "not found" when FUB answers a well-formed page without the person', async () => {
    expect((await h.deliver(h.sim.envelope('peopleCreated', [404]))).status).to.equal(200);
    await h.processor.drain();
    const row = await h.tdb.db.selectFrom('webhook_events').select(['status', 'error_message']).executeTakeFirstOrThrow();
    expect(row).to.deep.equal({ status: 'ignored', error_message: 'person 404 not found in FUB yet after 3 attempts' });
  });
});

describe('FUB answers validated: the poller and the report, as the operator runs them', function () {
  this.timeout(120_000);
  const sim = new FubSimulator();
  let tdb: TestDatabase;
  let env: Record<string, string>;
  before(async () => {
    await sim.start();
    tdb = await createTestDatabase();
    env = { ...serviceEnv(sim, tdb.url), LOG_LEVEL: 'silent' };
  });
  after(async () => {
    await sim.stop();
    await tdb.destroy();
  });

  it('npm run poller -- --once exits 1 on an HTML answer, and npm run report names the failed poll', async () => {
    sim.addPerson(1, 'Lead');
    expect((await runEntrypoint('src/poller/main.ts', ['--once'], env)).code).to.equal(0);
    sim.faults.push((req) => (req.path === '/v1/people' ? { status: 200, rawBody: '<html>Bad gateway</html>' } : undefined));
    const poll = await runEntrypoint('src/poller/main.ts', ['--once'], env);
    sim.faults.length = 0;
    expect(poll.code, poll.stderr).to.equal(1);
    expect(poll.stderr).to.contain('Poll failed: FUB /people answered 200 with a body that is not JSON: "<html>Bad gateway</html>"');
    const report = await runEntrypoint('src/cli/main.ts', ['report'], env);
    expect(report.code, report.stdout).to.equal(2);
    expect(report.stdout).to.contain('PROBLEM: the last poll failed: FUB /people answered 200');
  });
});
