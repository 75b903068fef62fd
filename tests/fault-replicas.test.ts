import type { ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { expect } from 'chai';
import { sql } from 'kysely';
import { createPoller, type Poller } from '../src/poller/poller.js';
import type { Db } from '../src/shared/db/database.js';
import { createFubClient } from '../src/shared/fub/fub-client.js';
import { FubRateLimiter } from '../src/shared/fub/rate-limiter.js';
import { FubSimulator, fubSecond, type WebhookEnvelope } from '../fub-simulator/fub-simulator.js';
import { reportFault } from './support/fault-figures.js';
import { testLogger } from './support/harness.js';
import { pendingEvents } from './support/history.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { waitFor } from './support/wait.js';
import { freePort, postWebhook, startWebhookProcess, stopProcess } from './support/webhook-server-process.js';

// Two real webhook server processes and a poller on one database. Each round moves every person;
// their webhooks go to either server (some twice), one move in ten is never delivered. Per round:
// every acknowledged event is in the inbox and processed once, the webhooks alone give the right
// rows, then the poll adds exactly the undelivered moves.

const STAGES = ['ACQ - Qualified', 'ACQ - Offers Made', 'ACQ - Offer Not Accepted'];
const FIRST_ID = 60_000;

interface Move {
  personId: number;
  stage: string;
  at: Date;
  eventId: string;
  delivered: boolean;
}

interface RowKey {
  person_id: number;
  stage_to: string;
  changed_at: Date;
  event_id: string | null;
  source: string;
}

/** Moves everyone to `stage`; delivers the webhooks of the moves not dropped with `send`. */
async function playRound(
  sim: FubSimulator,
  people: number,
  round: number,
  send: (hook: WebhookEnvelope, worker: number) => Promise<number>,
): Promise<{ moves: Move[]; sent: number; acknowledged: Set<string> }> {
  const stage = STAGES[round]!;
  const moves: Move[] = [];
  const hooks: WebhookEnvelope[] = [];
  for (let i = 0; i < people; i++) {
    const personId = FIRST_ID + i;
    const at = sim.now();
    const move = sim.movePerson(personId, stage, at);
    const delivered = (i + round) % 10 !== 0;
    moves.push({ personId, stage, at, eventId: move.stageUpdated.eventId, delivered });
    if (!delivered) continue;
    hooks.push(move.stageUpdated, move.peopleUpdated);
    if (i % 7 === 0) hooks.push(move.stageUpdated);
    sim.advanceClock(137); // a few moves per second of FUB's clock, several in some seconds
  }
  const acknowledged = new Set<string>();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async (_, worker) => {
      while (next < hooks.length) {
        const hook = hooks[next++]!;
        if ((await send(hook, worker)) === 200) acknowledged.add(hook.eventId);
      }
    }),
  );
  return { moves, sent: hooks.length, acknowledged };
}

/** What is wrong once the webhooks of a round are processed, before any poll. */
async function webhookProblems(db: Db, moves: Move[], acknowledged: Set<string>): Promise<string[]> {
  const problems: string[] = [];
  const { rows: events } = await sql<{ event_id: string; status: string; attempts: number }>`
    SELECT event_id, status, attempts FROM webhook_events WHERE event_id = ANY(${[...acknowledged]})`.execute(db);
  const stored = new Map(events.map((e) => [e.event_id, e]));
  for (const id of acknowledged) {
    const event = stored.get(id);
    if (!event) problems.push(`acknowledged event ${id} is not in the inbox`);
    else if (event.status !== 'completed' || event.attempts !== 1) problems.push(`event ${id} is ${event.status} after ${event.attempts} attempts`);
  }
  const rows = await rowsOf(db);
  for (const m of moves) {
    const latest = rows.get(m.personId)?.at(-1);
    if (m.delivered) {
      const row = rows.get(m.personId)?.find((r) => r.event_id === m.eventId);
      if (!row) problems.push(`delivered move of ${m.personId} to ${m.stage} has no row`);
      else if (row.stage_to !== m.stage || row.changed_at.getTime() !== fubSecond(m.at).getTime()) problems.push(`move ${m.eventId} recorded as ${row.stage_to} at ${row.changed_at.toISOString()}`);
      if (latest?.stage_to !== m.stage) problems.push(`person ${m.personId} ends in ${latest?.stage_to}, FUB's move put them in ${m.stage}`);
    } else if (latest?.stage_to === m.stage) {
      problems.push(`person ${m.personId} is in ${m.stage} before the poll, though no webhook said so`);
    }
  }
  return problems;
}

/** What is wrong after the poll: it must add one row per undelivered move and touch nothing else. */
async function pollProblems(before: Map<number, RowKey[]>, after: Map<number, RowKey[]>, moves: Move[]): Promise<string[]> {
  const problems: string[] = [];
  const show = (rows: RowKey[] | undefined) => JSON.stringify((rows ?? []).map((r) => [r.stage_to, r.changed_at.toISOString(), r.event_id]));
  for (const m of moves) {
    const was = before.get(m.personId) ?? [];
    const now = after.get(m.personId) ?? [];
    if (m.delivered) {
      if (show(was) !== show(now)) problems.push(`poll changed the rows of ${m.personId}: ${show(was)} → ${show(now)}`);
      continue;
    }
    const added = now.slice(was.length);
    const kept = show(now.slice(0, was.length)) === show(was);
    if (!kept || added.length !== 1 || added[0]!.stage_to !== m.stage || added[0]!.source !== 'polling') {
      problems.push(`poll should add one move of ${m.personId} to ${m.stage}: ${show(was)} → ${show(now)}`);
    }
  }
  return problems;
}

async function rowsOf(db: Db): Promise<Map<number, RowKey[]>> {
  const { rows } = await sql<RowKey>`
    SELECT person_id, stage_to, changed_at, event_id, source FROM stage_changes ORDER BY person_id, changed_at, seq`.execute(db);
  const byPerson = new Map<number, RowKey[]>();
  for (const r of rows) byPerson.set(r.person_id, [...(byPerson.get(r.person_id) ?? []), r]);
  return byPerson;
}

describe('fault: two webhook servers and a poller on one database under load', function () {
  this.timeout(180_000);
  const sim = new FubSimulator();
  let tdb: TestDatabase;
  let poller: Poller;
  const servers: ChildProcess[] = [];

  before(async () => {
    await sim.start();
    sim.setClock(new Date()); // FUB's clock moves as the moves do: several fall in one second
    tdb = await createTestDatabase();
    poller = createPoller({
      db: tdb.db,
      log: testLogger(),
      fub: createFubClient({ ...sim.connection(), limiter: new FubRateLimiter(), log: testLogger() }),
      options: { cron: '*/30 * * * *', overlapMs: 5 * 60_000 },
    });
  });
  after(async () => {
    await Promise.all(servers.map((s) => stopProcess(s)));
    await sim.stop();
    await tdb.destroy();
  });

  it('stores and processes every acknowledged event once, records delivered moves from webhooks alone, and the poll adds only the lost ones', async () => {
    const ports = [await freePort(), await freePort()];
    for (const port of ports) servers.push(await startWebhookProcess(sim, tdb.url, port));
    const PEOPLE = 400;
    for (let i = 0; i < PEOPLE; i++) sim.addPerson(FIRST_ID + i, 'Lead', new Date(sim.now().getTime() - 48 * 3_600_000));
    expect((await poller.runOnce({ full: true })).status).to.equal('succeeded');
    sim.advanceClock(1000);

    let sent = 0;
    let acknowledged = 0;
    let dropped = 0;
    for (const round of STAGES.keys()) {
      const played = await playRound(sim, PEOPLE, round, (hook, worker) => postWebhook(sim, ports[worker % 2]!, hook));
      sent += played.sent;
      acknowledged += played.acknowledged.size;
      dropped += played.moves.filter((m) => !m.delivered).length;
      await waitFor(`round ${round}'s events to be processed`, async () => (await pendingEvents(tdb.db)) === 0, 90_000);
      expect(await webhookProblems(tdb.db, played.moves, played.acknowledged), `round ${round}, webhooks alone`).to.deep.equal([]);

      const before = await rowsOf(tdb.db);
      sim.advanceClock(1000);
      expect((await poller.runOnce()).status).to.equal('succeeded');
      expect(await pollProblems(before, await rowsOf(tdb.db), played.moves), `round ${round}, after the poll`).to.deep.equal([]);
    }
    const { rows } = await sql<{ once: number; rows: number; distinct_rows: number }>`
      SELECT (SELECT count(*) FROM webhook_events WHERE status = 'completed' AND attempts = 1)::int AS once,
             (SELECT count(*) FROM stage_changes)::int AS rows,
             (SELECT count(DISTINCT (person_id, stage_to)) FROM stage_changes)::int AS distinct_rows`.execute(tdb.db);
    const expected = PEOPLE * (STAGES.length + 1); // first sighting of Lead, then three moves
    expect(rows[0]).to.deep.equal({ once: acknowledged, rows: expected, distinct_rows: expected });
    reportFault({
      fault: 'two webhook servers and a poller on one database; 1 move in 10 never delivered',
      sent,
      acknowledged: `${acknowledged} distinct events`,
      processed: `${rows[0]!.once}, each once (attempts = 1); the poll added the ${dropped} undelivered moves and nothing else`,
      lost: expected - rows[0]!.distinct_rows,
      duplicated: rows[0]!.rows - rows[0]!.distinct_rows,
      test: 'tests/fault-replicas.test.ts',
    });
  });

  it('(test of the test) finds the problems when a server answers 200 without storing', async () => {
    // A stand-in that acknowledges every delivery and keeps none: the checks above must notice.
    const liar: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200).end('{}'));
    });
    await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
    const port = (liar.address() as { port: number }).port;
    for (let i = 0; i < 20; i++) if (!sim.people.has(FIRST_ID + i)) sim.addPerson(FIRST_ID + i, 'Lead', sim.now());
    try {
      const played = await playRound(sim, 20, 0, (hook) => postWebhook(sim, port, hook));
      const problems = await webhookProblems(tdb.db, played.moves, played.acknowledged);
      expect(played.acknowledged.size).to.be.greaterThan(0);
      expect(problems.filter((p) => p.includes('is not in the inbox'))).to.have.length(played.acknowledged.size);
      expect(problems.filter((p) => p.includes('has no row'))).to.have.length(played.moves.filter((m) => m.delivered).length);
    } finally {
      await new Promise((resolve) => liar.close(resolve));
    }
  });
});
