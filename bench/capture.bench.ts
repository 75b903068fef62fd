// Capture rate of an intermediate stage (A → B → C, B held for the gap) versus the time between
// moves, with and without data.stage in the webhook, beside the old collector's method (re-fetch the
// person when processing) fed the same webhooks in the same run.
import { createFubClient } from '../src/shared/fub/fub-client.js';
import { FubRateLimiter } from '../src/shared/fub/rate-limiter.js';
import { createLogger } from '../src/shared/logger.js';
import { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { historyOf, pendingEvents } from '../tests/support/history.js';
import { createTestDatabase } from '../tests/support/test-database.js';
import { sleep, waitFor } from '../tests/support/wait.js';
import { liveCollector } from './live-collector.js';
import { OldCollector } from './old-collector.js';
import { writeBenchmarkSection } from './report.js';
import { machineLine, withPostgres } from './support.js';

const GAPS = [5000, 1000, 250, 100];
const PEOPLE = 10;
const [A, B, C] = ['ACQ - Qualified', 'ACQ - Offers Made', 'ACQ - Offer Not Accepted'];

await withPostgres(async () => {
  const tdb = await createTestDatabase();
  const sim = new FubSimulator();
  await sim.start();
  sim.latencyMs = 50;
  const collector = await liveCollector(tdb.db, sim, { wakeOnReceive: true });
  collector.processor.start();
  const oldFub = () =>
    createFubClient({ ...sim.connection(), limiter: new FubRateLimiter(), log: createLogger('silent') });
  let nextId = 1;
  const lines = [
    `${PEOPLE} people per cell each move A → B → C with the gap between moves; FUB sends both peopleStageUpdated and peopleUpdated per move and answers fetches in 50 ms. Capture rate = people whose history holds B. ${await machineLine(tdb.db, 'npm run bench:capture')}`,
    '',
    '| gap | fub-collector, webhook with data.stage | fub-collector, without data.stage | old method: re-fetch when processing | old method + its 30 s dedup window |',
    '|---|---|---|---|---|',
  ];
  try {
    for (const gap of GAPS) {
      const withStage = Array.from({ length: PEOPLE }, () => nextId++);
      const bare = Array.from({ length: PEOPLE }, () => nextId++);
      const old = new OldCollector(oldFub(), 0);
      const oldDedup = new OldCollector(oldFub(), 30_000);
      const oldPeople = Array.from({ length: PEOPLE }, () => nextId++);
      const oldDedupPeople = Array.from({ length: PEOPLE }, () => nextId++);
      for (const id of [...withStage, ...bare, ...oldPeople, ...oldDedupPeople]) sim.addPerson(id, 'Lead');
      for (const [step, stage] of [A, B, C].entries()) {
        if (step > 0) await sleep(gap);
        const at = new Date();
        const deliveries: Promise<unknown>[] = [];
        for (const id of withStage) {
          const m = sim.movePerson(id, stage!, at);
          deliveries.push(collector.deliver(m.stageUpdated), collector.deliver(m.peopleUpdated));
        }
        for (const id of bare) {
          const m = sim.movePerson(id, stage!, at);
          deliveries.push(collector.deliver(m.stageUpdatedBare), collector.deliver(m.peopleUpdated));
        }
        for (const [group, target] of [[oldPeople, old], [oldDedupPeople, oldDedup]] as const) {
          for (const id of group) {
            sim.movePerson(id, stage!, at);
            target.receive(id);
            target.receive(id); // the second event type of the same move
          }
        }
        await Promise.all(deliveries);
      }
      await waitFor('the inbox to empty', async () => (await pendingEvents(tdb.db)) === 0, 60_000);
      await Promise.all([old.idle(), oldDedup.idle()]);
      const ours = async (ids: number[]) => {
        let captured = 0;
        for (const id of ids) if ((await historyOf(tdb.db, id)).some((m) => m.to === B)) captured += 1;
        return captured;
      };
      const theirs = (c: OldCollector, ids: number[]) => ids.filter((id) => (c.history.get(id) ?? []).includes(B)).length;
      const pct = (n: number) => `${Math.round((n / PEOPLE) * 100)}% (${n}/${PEOPLE})`;
      lines.push(`| ${gap} ms | ${pct(await ours(withStage))} | ${pct(await ours(bare))} | ${pct(theirs(old, oldPeople))} | ${pct(theirs(oldDedup, oldDedupPeople))} |`);
      console.log(lines[lines.length - 1]);
    }
    await writeBenchmarkSection('Capture rate of intermediate stages', lines.join('\n'));
    console.log(lines.join('\n'));
  } finally {
    await collector.close();
    await sim.stop();
    await tdb.destroy();
  }
});
