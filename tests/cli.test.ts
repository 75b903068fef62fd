import { expect } from 'chai';
import { storeDeliveries } from '../src/webhook/webhook-events.repository.js';
import { toInboxEvents } from '../src/webhook/parse-webhook.js';
import { createEventProcessor } from '../src/webhook/event-processor.js';
import { createFubClient } from '../src/shared/fub/fub-client.js';
import { FubRateLimiter } from '../src/shared/fub/rate-limiter.js';
import { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { testLogger } from './support/harness.js';
import { historyOf } from './support/history.js';
import { runEntrypoint, serviceEnv } from './support/run-entrypoint.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

describe('the operator CLI (npm run cli -- …)', function () {
  this.timeout(60_000);
  const sim = new FubSimulator();
  let tdb: TestDatabase;
  let env: Record<string, string>;
  const cli = (args: string[], extraEnv: Record<string, string> = {}) => runEntrypoint('src/cli/main.ts', args, { ...env, ...extraEnv });
  const URL = 'https://collector.example.com/webhooks/fub';

  before(async () => {
    await sim.start();
    tdb = await createTestDatabase();
    env = serviceEnv(sim, tdb.url);
  });
  beforeEach(async () => {
    sim.reset();
    await tdb.reset();
  });
  after(async () => {
    await sim.stop();
    await tdb.destroy();
  });

  it('webhooks register creates one webhook per needed event, and a second run creates none', async () => {
    const first = await cli(['webhooks', 'register', '--url', URL]);
    expect(first.code, first.stderr).to.equal(0);
    expect(sim.webhooks.map((w) => [w.event, w.url, w.status])).to.deep.equal([
      ['peopleStageUpdated', URL, 'Active'],
      ['peopleUpdated', URL, 'Active'],
      ['peopleCreated', URL, 'Active'],
      ['peopleDeleted', URL, 'Active'],
    ]);
    const second = await cli(['webhooks', 'register', '--url', URL]);
    expect(second.code).to.equal(0);
    expect(second.stdout.match(/exists/g)).to.have.length(4);
    expect(sim.webhooks).to.have.length(4);
    const list = await cli(['webhooks', 'list']);
    expect(list.stdout.split('\n').filter((l) => l.includes(URL))).to.have.length(4);
  });

  it("webhooks register respects FUB's per-event limit instead of failing half-way", async () => {
    sim.webhooks.push(
      { id: 1, event: 'peopleUpdated', url: 'https://other-a.example.com/', status: 'Active', system: sim.system },
      { id: 2, event: 'peopleUpdated', url: 'https://other-b.example.com/', status: 'Active', system: sim.system },
    );
    const result = await cli(['webhooks', 'register', '--url', URL]);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain('peopleUpdated: FUB allows only a couple of webhooks per event');
    expect(sim.webhooks.map((w) => w.event)).to.deep.equal(['peopleUpdated', 'peopleUpdated', 'peopleStageUpdated', 'peopleCreated', 'peopleDeleted']);
  });

  it('webhooks reactivate re-enables the webhooks FUB disabled', async () => {
    await cli(['webhooks', 'register', '--url', URL]);
    sim.webhooks[1]!.status = 'Disabled';
    const result = await cli(['webhooks', 'reactivate']);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.contain('peopleUpdated');
    expect(sim.webhooks.every((w) => w.status === 'Active')).to.equal(true);
  });

  it("says plainly when the key is not the account owner's (403)", async () => {
    const result = await cli(['webhooks', 'list'], { FUB_API_KEY: sim.agentApiKey });
    expect(result.code).to.equal(1);
    expect(result.stderr.trim()).to.equal("Follow Up Boss: FUB refused /webhooks (403): only the account owner's API key may manage webhooks");
  });

  it('names missing credentials, and an unreachable database', async () => {
    const noKey = await runEntrypoint('src/cli/main.ts', ['webhooks', 'list'], { FUB_API_BASE_URL: sim.baseUrl });
    expect(noKey.code).to.equal(1);
    expect(noKey.stderr).to.contain('FUB_API_KEY is required');
    const noDb = await cli(['events', 'list'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    expect(noDb.code).to.equal(1);
    expect(noDb.stderr).to.match(/^Cannot reach the database \(.*ECONNREFUSED.*\)\. Check DATABASE_URL/);
  });

  it('events list shows dead events, and events replay records the stage change they carried', async () => {
    sim.addPerson(42, 'Lead', new Date('2026-11-20T10:00:00Z'));
    sim.movePerson(42, 'ACQ - Offers Made', new Date('2026-11-20T11:00:00Z'));
    await storeDeliveries(tdb.db, [{
      path: '/webhooks/fub',
      rawBody: '{}',
      events: toInboxEvents({ eventId: 'dead-1', event: 'peopleUpdated', eventCreated: '2026-11-20T11:00:00Z', resourceIds: [42] }),
    }]);
    // FUB was failing while the event was processed, so it was dead-lettered.
    sim.faults.push(() => ({ status: 500, body: {} }));
    const fub = createFubClient({ ...sim.connection(), limiter: new FubRateLimiter(), log: testLogger(), maxRetries: 0 });
    await createEventProcessor({ db: tdb.db, log: testLogger(), fub, options: { leaseSeconds: 30, maxAttempts: 1, retryBaseSeconds: 0, sweepIntervalMs: 100 } }).drain();
    sim.faults.length = 0;

    const list = await cli(['events', 'list', '--status', 'dead']);
    expect(list.code, list.stderr).to.equal(0);
    expect(list.stdout).to.contain('dead-1').and.to.contain('answered 500');

    const replay = await cli(['events', 'replay', 'dead-1']);
    expect(replay.code, replay.stderr + replay.stdout).to.equal(0);
    expect(replay.stdout).to.contain('1 event(s) replayed.');
    const row = await tdb.db.selectFrom('webhook_events').select(['status', 'attempts']).where('event_id', '=', 'dead-1').executeTakeFirstOrThrow();
    expect(row).to.deep.equal({ status: 'completed', attempts: 1 });
    expect(await historyOf(tdb.db, 42)).to.deep.equal([{ from: null, to: 'ACQ - Offers Made', at: '2026-11-20T11:00:00.000Z' }]);
  });

  it('report prints the source health and exits 2 while a source is STALE, 0 when all are alive', async () => {
    const stale = await cli(['report']);
    expect(stale.code).to.equal(2);
    expect(stale.stdout).to.contain('STALE - Check polling script').and.to.contain('STALE - Check webhook server');
    expect(stale.stdout).to.match(/PROBLEM: polling: STALE/);

    sim.addPerson(1, 'Lead');
    expect((await cli(['poll', '--once'])).code).to.equal(0);
    for (const event of ['peopleStageUpdated', 'peopleUpdated', 'peopleCreated']) {
      await storeDeliveries(tdb.db, [{ path: '/webhooks/fub', rawBody: '{}', events: toInboxEvents({ eventId: event, event, resourceIds: [1] }) }]);
    }
    await tdb.db.updateTable('webhook_events').set({ status: 'completed' }).execute();
    const healthy = await cli(['report']);
    expect(healthy.code, healthy.stdout).to.equal(0);
    expect(healthy.stdout).to.contain('All sources HEALTHY.');
  });

  it('gives --help for each command', async () => {
    const help = await cli(['webhooks', 'register', '--help']);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.contain('--url <url>');
    expect(help.stdout.replace(/\s+/g, ' ')).to.contain('running it again changes nothing');
    const top = await cli(['--help']);
    for (const command of ['webhooks', 'events', 'backfill', 'poll', 'report']) expect(top.stdout).to.contain(command);
  });
});
