// npm run demo: the whole system on one machine, no FUB account needed. An embedded PostgreSQL, the
// FUB simulator the tests use (a real HTTP server), the webhook server and the poller play a messy
// day of ~300 leads, with FUB's clock 2 minutes ahead of ours as real clocks drift, then compare
// what FUB did with what stage_changes holds.
import { randomBytes } from 'node:crypto';
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
import { FubSimulator, type WebhookEnvelope } from '../fub-simulator/fub-simulator.js';
import { pendingEvents } from '../tests/support/history.js';
import { serviceEnv } from '../tests/support/run-entrypoint.js';
import { sleep, waitFor } from '../tests/support/wait.js';
import { freePort, postWebhook } from '../tests/support/webhook-server-process.js';

const STAGES = ['ACQ - Qualified', 'ACQ - Offers Made', 'ACQ - Offer Not Accepted', 'ACQ - Under Contract', 'Nurture'];
const DAY = 86_400_000;
const say = (text: string): void => void process.stdout.write(`${text}\n`);

interface Scenario {
  name: string;
  people: number[];
  /** Every stage FUB moved each person to, in order (from creation, for leads created today). */
  moves: Map<number, string[]>;
}

const started = Date.now();
// At the end the dashboard stays up until Ctrl-C; `--exit` (the demo's test) stops at once instead.
const keepServing = !process.argv.includes('--exit');
const dashboardPassword = `demo-${randomBytes(6).toString('hex')}`;
// Warnings (429s waited out, retries) are part of the show but would drown the table: errors only.
const log = createLogger('error');
const dataDir = await mkdtemp(join(tmpdir(), 'fub-collector-demo-'));
say('Starting an embedded PostgreSQL, the FUB simulator, the webhook server and the poller...');
const pg = await startEmbeddedPostgres({ dataDir, port: await freePort(), log });
const sim = new FubSimulator();
await sim.start();
// Real clocks drift; FUB's runs 2 minutes ahead of this machine's for the whole day.
sim.clockOffsetMs = 2 * 60_000;
const port = await freePort();
const runtime = await openRuntime(
  loadConfig({
    ...serviceEnv(sim, pg.url),
    PORT: String(port),
    PROCESSING_SWEEP_MS: '500',
    PROCESSING_RETRY_BASE_SECONDS: '1',
    DASHBOARD_PASSWORD: dashboardPassword,
    // The viewer's own days, so "today" on the dashboard is the demo's day.
    BUSINESS_TIMEZONE: Intl.DateTimeFormat().resolvedOptions().timeZone,
  }),
  log,
);
const server = await startWebhookServer(runtime);
const poller = createPollerFor(runtime);

let nextId = 1;
const scenarios: Scenario[] = [];
function scenario(name: string, count: number, stage = 'Lead', since = 2 * DAY): Scenario {
  const people = Array.from({ length: count }, () => nextId++);
  for (const id of people) sim.addPerson(id, stage, new Date(sim.now().getTime() - since), { firstName: `Lead`, lastName: `No${id}` });
  const s = { name, people, moves: new Map(people.map((id) => [id, [] as string[]])) };
  scenarios.push(s);
  return s;
}
function move(s: Scenario, id: number, stage: string, at = sim.now()) {
  s.moves.get(id)!.push(stage);
  return sim.movePerson(id, stage, at);
}
/** Shuffled: FUB promises no order. */
const shuffled = <T>(items: T[]): T[] => items.map((item) => ({ item, key: Math.random() })).sort((a, b) => a.key - b.key).map((x) => x.item);
const send = (hooks: WebhookEnvelope[]) => Promise.all(hooks.map((h) => postWebhook(sim, port, h)));

try {
  const steady = scenario('steady day (both event types per move)', 100);
  const rapid1s = scenario('rapid moves 1 s apart', 20);
  const rapid100 = scenario('rapid moves 100 ms apart', 20);
  const messy = scenario('duplicate and out-of-order deliveries', 20);
  const outage = scenario('webhook outage, filled by a poll', 30);
  const storm = scenario('burst of 429s from FUB', 10);
  const fresh: Scenario = { name: 'new leads (FUB answers 404 at first)', people: [], moves: new Map() };
  scenarios.push(fresh);
  const oneSecond = scenario('two moves in one second', 20);
  const fetched = scenario("FUB's clock 2 min ahead (stages fetched)", 20);
  // In Under Contract for 60 days, a note two days ago; five of them move on today.
  const sitting = scenario('leads already in a stage before installation', 30, 'ACQ - Under Contract', 60 * DAY);
  for (const id of sitting.people) sim.touchPerson(id, new Date(sim.now().getTime() - 2 * DAY));

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
  // Each lead moves three times within milliseconds; every webhook arrives twice, the last move's first.
  const messyHooks = messy.people.map((id) => STAGES.slice(0, 3).map((stage, i) => move(messy, id, stage, new Date(sim.now().getTime() + i * 10)).stageUpdated));
  for (const hooks of messyHooks) await send([...hooks].reverse().flatMap((h) => [h, h]));

  // An agent clicks Offers Made, then Offer Not Accepted, inside one second: both event types, shuffled.
  for (const id of oneSecond.people) {
    const second = Math.floor(sim.now().getTime() / 1000) * 1000;
    const first = move(oneSecond, id, 'ACQ - Offers Made', new Date(second + 100));
    const then = move(oneSecond, id, 'ACQ - Offer Not Accepted', new Date(second + 600));
    await send(shuffled([first.stageUpdated, first.peopleUpdated, then.stageUpdated, then.peopleUpdated]));
  }

  // Webhooks that do not name the stage: each is fetched, and FUB's times are ahead of ours.
  for (const stage of STAGES.slice(0, 2)) {
    await send(fetched.people.flatMap((id) => {
      const m = move(fetched, id, stage);
      return [m.stageUpdatedBare, m.peopleUpdated];
    }));
    await sleep(1100);
  }

  await send(sitting.people.slice(0, 5).flatMap((id) => {
    const m = move(sitting, id, 'Closed');
    return [m.stageUpdated, m.peopleUpdated];
  }));

  // The webhook server is unreachable for FUB: these moves' webhooks never arrive.
  for (const id of outage.people) move(outage, id, 'ACQ - Offers Made', new Date(sim.now().getTime() - 4 * 60_000));

  // New leads: FUB announces them before its API shows them; then each moves once.
  const created = Array.from({ length: 10 }, () => nextId++);
  await send(created.map((id) => ({ ...sim.envelope('peopleCreated', [id]), eventId: `created-${id}` })));
  await sleep(500);
  for (const id of created) {
    sim.addPerson(id, 'Lead', sim.now(), { firstName: 'New', lastName: `Lead${id}` });
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

  // Compare FUB's moves with the arrivals recorded (a stage a lead was first found in is no arrival):
  // per stage, and each lead's history chained from row to row, ending where FUB shows them.
  const { rows } = await sql<{ person_id: number; arrivals: string[]; chained: boolean; last_stage: string }>`
    SELECT person_id,
           array_agg(stage_to ORDER BY changed_at, seq) FILTER (WHERE kind <> 'first_seen') AS arrivals,
           bool_and(stage_from IS NOT DISTINCT FROM previous) AS chained,
           (array_agg(stage_to ORDER BY changed_at DESC, seq DESC))[1] AS last_stage
    FROM (SELECT *, lag(stage_to) OVER (PARTITION BY person_id ORDER BY changed_at, seq) AS previous FROM stage_changes) s
    GROUP BY person_id`.execute(runtime.db);
  const recorded = new Map(rows.map((r) => [r.person_id, r]));
  const count = (stages: string[]): Map<string, number> => stages.reduce((m, s) => m.set(s, (m.get(s) ?? 0) + 1), new Map<string, number>());
  const table = scenarios.map((s) => {
    let made = 0;
    let captured = 0;
    let extra = 0;
    let broken = 0;
    for (const id of s.people) {
      const expected = count(s.moves.get(id)!);
      const got = count(recorded.get(id)?.arrivals ?? []);
      made += s.moves.get(id)!.length;
      for (const [stage, n] of expected) captured += Math.min(n, got.get(stage) ?? 0);
      for (const [stage, n] of got) extra += Math.max(0, n - (expected.get(stage) ?? 0));
      const history = recorded.get(id);
      if (!history || !history.chained || history.last_stage !== sim.stageName(sim.people.get(id)!)) broken += 1;
    }
    return { scenario: s.name, leads: s.people.length, 'moves made': made, captured, extra, missed: made - captured, 'broken histories': broken };
  });
  const total = table.reduce(
    (t, r) => ({ made: t.made + r['moves made'], captured: t.captured + r.captured, extra: t.extra + r.extra, broken: t.broken + r['broken histories'] }),
    { made: 0, captured: 0, extra: 0, broken: 0 },
  );
  say('');
  say('What FUB did vs what stage_changes holds');
  say(formatTable(table));
  say('');
  await printReport(runtime.db, (text) => void process.stdout.write(text));
  say('');
  const missed = total.made - total.captured;
  const exact = missed === 0 && total.extra === 0 && total.broken === 0;
  say(
    exact
      ? `Nothing was missed: ${total.captured} of ${total.made} moves recorded, nothing extra, every history intact (${Math.round((Date.now() - started) / 1000)} s).`
      : `ATTENTION: ${missed} of ${total.made} moves were missed, ${total.extra} recorded that FUB did not make, ${total.broken} histories broken (see the table above).`,
  );
  process.exitCode = exact ? 0 : 1;
  say('');
  say(`Dashboard: http://localhost:${port}/dashboard  (password: ${dashboardPassword})`);
  if (keepServing) {
    say('Serving the dashboard until Ctrl-C.');
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
} finally {
  await server.stop();
  await poller.stop();
  await runtime.close();
  await sim.stop();
  await pg.stop();
  await rm(dataDir, { recursive: true, force: true });
}
