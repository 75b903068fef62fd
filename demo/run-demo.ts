// npm run demo: the whole system on one machine, no FUB account needed. An embedded PostgreSQL, the
// FUB simulator the tests use (a real HTTP server), the webhook server and the poller play a messy
// day of ~200 leads, then compare what FUB did with what stage_changes holds.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { printReport } from '../src/cli/report.js';
import { createPollerFor } from '../src/poller/poller-service.js';
import { loadConfig } from '../src/shared/config.js';
import { startEmbeddedPostgres } from '../src/shared/db/embedded-postgres.js';
import { formatTable } from '../src/shared/format-table.js';
import { createLogger } from '../src/shared/logger.js';
import { openRuntime } from '../src/shared/runtime.js';
import { startWebhookServer } from '../src/webhook/webhook-server.js';
import { FubSimulator, type WebhookEnvelope } from '../tests/support/fub-simulator.js';
import { pendingEvents } from '../tests/support/history.js';
import { serviceEnv } from '../tests/support/run-entrypoint.js';
import { sleep, waitFor } from '../tests/support/wait.js';
import { freePort, postWebhook } from '../tests/support/webhook-server-process.js';

const STAGES = ['ACQ - Qualified', 'ACQ - Offers Made', 'ACQ - Offer Not Accepted', 'ACQ - Under Contract', 'Nurture'];
const say = (text: string): void => void process.stdout.write(`${text}\n`);

interface Scenario {
  name: string;
  people: number[];
  /** Every stage FUB moved each person to, in order (from creation, for leads created today). */
  moves: Map<number, string[]>;
  createdToday?: boolean;
}

const started = Date.now();
// Warnings (429s waited out, retries) are part of the show but would drown the table: errors only.
const log = createLogger('error');
const dataDir = await mkdtemp(join(tmpdir(), 'fub-collector-demo-'));
say('Starting an embedded PostgreSQL, the FUB simulator, the webhook server and the poller...');
const pg = await startEmbeddedPostgres({ dataDir, port: await freePort(), log });
const sim = new FubSimulator();
await sim.start();
const port = await freePort();
const runtime = await openRuntime(
  loadConfig({
    ...serviceEnv(sim, pg.url),
    PORT: String(port),
    PROCESSING_SWEEP_MS: '500',
    PROCESSING_RETRY_BASE_SECONDS: '1',
  }),
  log,
);
const server = await startWebhookServer(runtime);
const poller = createPollerFor(runtime);

let nextId = 1;
const scenarios: Scenario[] = [];
function scenario(name: string, count: number): Scenario {
  const people = Array.from({ length: count }, () => nextId++);
  for (const id of people) sim.addPerson(id, 'Lead', new Date(Date.now() - 48 * 3_600_000), { firstName: `Lead`, lastName: `No${id}` });
  const s = { name, people, moves: new Map(people.map((id) => [id, [] as string[]])) };
  scenarios.push(s);
  return s;
}
function move(s: Scenario, id: number, stage: string, at = new Date()) {
  s.moves.get(id)!.push(stage);
  return sim.movePerson(id, stage, at);
}
const send = (hooks: WebhookEnvelope[]) => Promise.all(hooks.map((h) => postWebhook(sim, port, h)));

try {
  const steady = scenario('steady day (both event types per move)', 100);
  const rapid1s = scenario('rapid moves 1 s apart', 20);
  const rapid100 = scenario('rapid moves 100 ms apart', 20);
  const messy = scenario('duplicate and out-of-order deliveries', 20);
  const outage = scenario('webhook outage, filled by a poll', 30);
  const storm = scenario('burst of 429s from FUB', 10);
  const fresh: Scenario = { name: 'new leads (FUB answers 404 at first)', people: [], moves: new Map(), createdToday: true };
  scenarios.push(fresh);

  say('First poll: learning every lead\'s current stage...');
  await poller.runOnce();

  say('Playing the day...');
  for (let round = 0; round < 2; round++) {
    await send(steady.people.flatMap((id, i) => {
      const m = move(steady, id, STAGES[(i + round) % STAGES.length]!);
      return [m.stageUpdated, m.peopleUpdated];
    }));
    await sleep(300);
  }
  for (const [s, gap] of [[rapid1s, 1000], [rapid100, 100]] as const) {
    for (const stage of STAGES.slice(0, 3)) {
      await send(s.people.flatMap((id) => {
        const m = move(s, id, stage);
        return [m.stageUpdated, m.peopleUpdated];
      }));
      await sleep(gap);
    }
  }
  // Each lead moves three times; every webhook arrives twice, the last move's first.
  const messyHooks = messy.people.map((id) => STAGES.slice(0, 3).map((stage, i) => move(messy, id, stage, new Date(Date.now() + i * 10)).stageUpdated));
  for (const hooks of messyHooks) await send([...hooks].reverse().flatMap((h) => [h, h]));

  // The webhook server is unreachable for FUB: these moves' webhooks never arrive.
  for (const id of outage.people) move(outage, id, 'ACQ - Offers Made', new Date(Date.now() - 4 * 60_000));

  // New leads: FUB announces them before its API shows them; then each moves once.
  const created = Array.from({ length: 10 }, () => nextId++);
  await send(created.map((id) => ({ eventId: `created-${id}`, eventCreated: new Date().toISOString(), event: 'peopleCreated', resourceIds: [id], uri: `${sim.baseUrl}/people?id=${id}` })));
  await sleep(500);
  for (const id of created) {
    sim.addPerson(id, 'Lead', new Date(), { firstName: 'New', lastName: `Lead${id}` });
    fresh.people.push(id);
    fresh.moves.set(id, ['Lead']);
  }
  await sleep(3000); // the retry finds them
  await send(created.flatMap((id) => {
    const m = move(fresh, id, 'ACQ - Qualified');
    return [m.stageUpdated, m.peopleUpdated];
  }));

  await waitFor('the webhook inbox to empty', async () => (await pendingEvents(runtime.db)) === 0, 60_000);

  // FUB answers the next 8 calls with 429 and Retry-After: 1.
  let limited = 0;
  sim.faults.push(() => (limited++ < 8 ? { status: 429, headers: { 'Retry-After': '1' }, body: { errorMessage: 'Rate limit exceeded' } } : undefined));
  await send(storm.people.flatMap((id) => {
    const m = move(storm, id, 'ACQ - Qualified');
    return [m.stageUpdatedBare, m.peopleUpdated];
  }));

  await waitFor('the webhook inbox to empty', async () => (await pendingEvents(runtime.db)) === 0, 60_000);
  say('Polling to fill what the webhooks missed...');
  await poller.runOnce();

  // Compare FUB's moves with what was recorded after each lead's first known stage.
  const { rows } = await sql<{ person_id: number; stages: string[] }>`
    SELECT person_id, array_agg(stage_to ORDER BY changed_at, id) AS stages FROM stage_changes GROUP BY person_id`.execute(runtime.db);
  const recorded = new Map(rows.map((r) => [r.person_id, r.stages]));
  const table = scenarios.map((s) => {
    let made = 0;
    let captured = 0;
    let duplicates = 0;
    for (const id of s.people) {
      const expected = s.moves.get(id)!;
      // Leads that existed before the day start with the stage the first poll found; drop it.
      const got = (recorded.get(id) ?? []).slice(s.createdToday ? 0 : 1);
      made += expected.length;
      let j = 0;
      for (const stage of got) {
        if (j < expected.length && stage === expected[j]) j += 1;
        else duplicates += 1;
      }
      captured += j;
    }
    return { scenario: s.name, leads: s.people.length, 'moves made': made, captured, duplicates, missed: made - captured };
  });
  const total = table.reduce((t, r) => ({ made: t.made + r['moves made'], captured: t.captured + r.captured, duplicates: t.duplicates + r.duplicates }), { made: 0, captured: 0, duplicates: 0 });
  say('');
  say('What FUB did vs what stage_changes holds');
  say(formatTable(table));
  say('');
  await printReport(runtime.db, (text) => void process.stdout.write(text));
  say('');
  const missed = total.made - total.captured;
  say(
    missed === 0 && total.duplicates === 0
      ? `Nothing was missed: ${total.captured} of ${total.made} moves recorded, no duplicates (${Math.round((Date.now() - started) / 1000)} s).`
      : `ATTENTION: ${missed} of ${total.made} moves were missed and ${total.duplicates} recorded twice (see the table above).`,
  );
  process.exitCode = missed === 0 && total.duplicates === 0 ? 0 : 1;
} finally {
  await server.stop();
  await poller.stop();
  await runtime.close();
  await sim.stop();
  await pg.stop();
  await rm(dataDir, { recursive: true, force: true });
}
