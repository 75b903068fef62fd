import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { sql } from 'kysely';
import { createPoller } from '../src/poller/poller.js';
import { createFubClient } from '../src/shared/fub/fub-client.js';
import { FubRateLimiter } from '../src/shared/fub/rate-limiter.js';
import { FubSimulator, type WebhookEnvelope } from './support/fub-simulator.js';
import { testLogger } from './support/harness.js';
import { pendingEvents } from './support/history.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { waitFor } from './support/wait.js';
import { freePort, postWebhook, startWebhookProcess, stopProcess } from './support/webhook-server-process.js';

describe('fault: two webhook servers and a poller on one database under load', function () {
  this.timeout(180_000);
  const sim = new FubSimulator();
  let tdb: TestDatabase;
  const servers: ChildProcess[] = [];

  before(async () => {
    await sim.start();
    tdb = await createTestDatabase();
  });
  after(async () => {
    await Promise.all(servers.map((s) => stopProcess(s)));
    await sim.stop();
    await tdb.destroy();
  });

  it('records every move once and processes no event twice', async () => {
    const ports = [await freePort(), await freePort()];
    for (const port of ports) servers.push(await startWebhookProcess(sim, tdb.url, port));
    const PEOPLE = 400;
    const stages = ['ACQ - Qualified', 'ACQ - Offers Made', 'ACQ - Offer Not Accepted'];
    for (let i = 0; i < PEOPLE; i++) sim.addPerson(60_000 + i, 'Lead', new Date(Date.now() - 48 * 3_600_000));

    const poller = createPoller({
      db: tdb.db,
      log: testLogger(),
      fub: createFubClient({ ...sim.connection(), limiter: new FubRateLimiter(), log: testLogger() }),
      options: { cron: '*/30 * * * *', overlapMs: 5 * 60_000 },
    });
    expect((await poller.runOnce({ full: true })).status).to.equal('succeeded');

    // Three rounds of moves; each move's webhooks (both types) go to a random server, twice for some
    // (redeliveries), and one move in ten is never delivered at all (the poller must fill it).
    let sent = 0;
    let acknowledged = 0;
    let dropped = 0;
    for (const [round, stage] of stages.entries()) {
      const hooks: WebhookEnvelope[] = [];
      for (let i = 0; i < PEOPLE; i++) {
        const move = sim.movePerson(60_000 + i, stage, new Date(Date.now() - (stages.length - round) * 60_000 + i));
        if ((i + round) % 10 === 0) {
          dropped += 1;
          continue;
        }
        hooks.push(move.stageUpdated, move.peopleUpdated);
        if (i % 7 === 0) hooks.push(move.stageUpdated);
      }
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async (_, worker) => {
          while (next < hooks.length) {
            const hook = hooks[next++]!;
            sent += 1;
            const status = await postWebhook(sim, ports[(worker + next) % 2]!, hook);
            if (status === 200) acknowledged += 1;
          }
        }),
      );
      // The poller runs while the servers are still working off the round. (It must run before the
      // next move of a person whose webhook was lost: no poller can see a stage FUB has moved past.)
      expect((await poller.runOnce()).status).to.equal('succeeded');
    }
    await waitFor('every event to be processed', async () => (await pendingEvents(tdb.db)) === 0, 90_000);
    expect((await poller.runOnce()).status).to.equal('succeeded');

    const { rows } = await sql<{ events: number; once: number; rows: number; distinct_moves: number; wrong_latest: number }>`
      SELECT (SELECT count(*) FROM webhook_events)::int AS events,
             (SELECT count(*) FROM webhook_events WHERE status = 'completed' AND attempts = 1)::int AS once,
             (SELECT count(*) FROM stage_changes)::int AS rows,
             (SELECT count(DISTINCT (person_id, stage_to)) FROM stage_changes)::int AS distinct_moves,
             (SELECT count(*) FROM people WHERE stage IS DISTINCT FROM ${stages[stages.length - 1]!})::int AS wrong_latest`.execute(tdb.db);
    const moves = PEOPLE * (stages.length + 1); // first sighting of Lead, then three moves
    expect(rows[0]).to.deep.equal({ events: rows[0]!.events, once: rows[0]!.events, rows: moves, distinct_moves: moves, wrong_latest: 0 });
    expect(acknowledged).to.equal(sent);
    console.log(
      `      replicas: ${sent} webhooks sent to 2 servers, ${acknowledged} acknowledged, ${rows[0]!.events} distinct events processed once each, ` +
        `${dropped} moves never delivered and filled by the poller, ${moves} rows for ${moves} moves: 0 lost, 0 duplicated`,
    );
  });
});
