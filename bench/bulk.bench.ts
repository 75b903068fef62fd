// Bulk move (issue 13): N people the collector already knows all move to a new stage at once, and FUB
// sends two webhooks per person, peopleStageUpdated and peopleUpdated. Run against the server users
// run (built, then started as `npm run webhook:prod` starts it) with the simulated FUB answering each
// call in 50 ms inside its real rate budget, beside the ingestion baseline (bare Koa, one INSERT per
// request) acknowledging the same bodies from the same sender in the same run.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { sql } from 'kysely';
import { FubSimulator, fubSecond, type SimPerson } from '../fub-simulator/fub-simulator.js';
import type { Db } from '../src/shared/db/database.js';
import { recordFirstSightings, type FirstRead } from '../src/shared/stages/record-first-sightings.js';
import { snapshotFromRead } from '../src/shared/stages/report-times.js';
import { saveStageNames } from '../src/shared/stages/stage-directory.js';
import { serviceEnv } from '../tests/support/run-entrypoint.js';
import { createTestDatabase, type TestDatabase } from '../tests/support/test-database.js';
import { sleep } from '../tests/support/wait.js';
import { stopProcess } from '../tests/support/webhook-server-process.js';
import { writeBenchmarkSection } from './report.js';
import { buildServerUsersRun, machineLine, ratio, sendAllFromChild, serve, withPostgres, type SendResult } from './support.js';

const SIZES = (process.env.BENCH_SIZES ?? '1000,10000,50000').split(',').map(Number);
const TIMEOUT_S = Number(process.env.BENCH_TIMEOUT_SECONDS ?? 300);
const CONNECTIONS = 50;
const FROM = 'Lead';
const TO = 'ACQ - Offers Made';
const VARIANTS = [
  { name: 'with data.stage', named: true, key: 'named' },
  { name: 'without data.stage', named: false, key: 'bare' },
].filter((v) => (process.env.BENCH_VARIANTS ?? 'named,bare').split(',').includes(v.key));

type Bodies = { body: string; headers: Record<string, string> }[];

// The same command line as `npm run webhook:prod` (node flags included), on a fresh build of src/.
const SERVER_ARGS = buildServerUsersRun();

/** n people in FUB since an hour ago, stage FROM, known to the collector exactly as a poll's first read leaves them. */
async function seed(tdb: TestDatabase, sim: FubSimulator, n: number): Promise<SimPerson[]> {
  await tdb.reset();
  sim.reset();
  sim.latencyMs = 50;
  sim.enforceRateLimit = true; // FUB's 250 requests per 10 s: a 429 past it
  // Both stages long defined in FUB, and in the stage directory as reading FUB's stage list leaves it.
  await saveStageNames(tdb.db, [FROM, TO].map((name) => ({ id: sim.stageId(name), name })));
  const since = new Date(sim.now().getTime() - 3_600_000);
  const people = Array.from({ length: n }, (_, i) => sim.addPerson(i + 1, FROM, since));
  const readAt = fubSecond(sim.now());
  const receivedAt = new Date();
  const firstRead = (p: SimPerson): FirstRead => {
    const read = { ...p, stage: sim.stageName(p), updated: fubSecond(p.updated), created: fubSecond(p.created), readAt };
    const details = { firstName: p.firstName, lastName: p.lastName, assignedUserId: p.assignedUserId, assignedUserName: p.assignedTo, leadSource: p.source };
    return { personId: p.id, snapshot: snapshotFromRead(read, { source: 'polling', eventId: null, receivedAt })!, details };
  };
  // Pages of 5,000 keep each statement's arrays small.
  for (let i = 0; i < n; i += 5000) {
    const page = people.slice(i, i + 5000);
    if ((await recordFirstSightings(tdb.db, page.map(firstRead))).size !== page.length) throw new Error('seeding recorded fewer people than given');
  }
  // A real account's tables have statistics and no pending writes; the run should not pay for ours.
  await sql`ANALYZE`.execute(tdb.db);
  await sql`CHECKPOINT`.execute(tdb.db);
  return people;
}

/** Everyone moves to TO in the same second; FUB's two webhooks per person, signed up front. */
function moveBodies(sim: FubSimulator, people: SimPerson[], named: boolean): Bodies {
  const at = sim.now();
  return people.flatMap((p) => {
    const hooks = sim.movePerson(p.id, TO, at);
    return [named ? hooks.stageUpdated : hooks.stageUpdatedBare, hooks.peopleUpdated].map((hook) => {
      const { body, signature } = sim.sign(hook);
      return { body, headers: { 'FUB-Signature': signature } };
    });
  });
}

/** Peak VmRSS of `pid` in MB, sampled every 100 ms until `stop`. */
function sampleRss(pid: number): { stop(): number } {
  let peakKb = 0;
  const sample = () => {
    try {
      peakKb = Math.max(peakKb, Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0));
    } catch {
      // exited
    }
  };
  sample();
  const timer = setInterval(sample, 100);
  return {
    stop() {
      clearInterval(timer);
      return peakKb / 1024;
    },
  };
}

/** The server's log lines (at the default level, info), tallied by message. */
function tallyLog(proc: ChildProcess): Map<string, number> {
  const tally = new Map<string, number>();
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let msg = line;
    try {
      msg = (JSON.parse(line) as { msg?: string }).msg ?? line;
    } catch {
      // not JSON: keep the line
    }
    tally.set(msg, (tally.get(msg) ?? 0) + 1);
  });
  return tally;
}

/** SIGTERM as a platform stops it; SIGKILL if it has not exited within 10 s. */
async function stop(proc: ChildProcess): Promise<void> {
  await Promise.race([stopProcess(proc, 'SIGTERM'), sleep(10_000)]);
  await stopProcess(proc);
}

/** Polls until `check` holds or `deadline` (performance.now()) passes; the time it held, else NaN. */
async function until(deadline: number, check: () => Promise<boolean>): Promise<number> {
  while (performance.now() < deadline) {
    if (await check()) return performance.now();
    await sleep(100);
  }
  return NaN;
}

const movedCount = async (db: Db): Promise<number> =>
  (await sql<{ n: number }>`SELECT count(DISTINCT person_id)::int AS n FROM stage_changes WHERE kind = 'move' AND stage_to = ${TO}`.execute(db)).rows[0]!.n;

interface ServerRun {
  sent: SendResult;
  rowsAt: number;
  moved: number;
  lost: number;
  extra: number;
  rssMb: number;
  events: Record<string, number>;
  fubCalls: number;
  metrics: string;
  log: Map<string, number>;
}

async function runServer(tdb: TestDatabase, sim: FubSimulator, n: number, bodies: Bodies): Promise<ServerRun> {
  const { proc, url } = await serve(SERVER_ARGS, serviceEnv(sim, tdb.url), 'as-users-run');
  const log = tallyLog(proc);
  const rss = sampleRss(proc.pid!);
  try {
    const deadline = performance.now() + TIMEOUT_S * 1000;
    const sent = await sendAllFromChild(url, '/webhooks/fub', bodies, CONNECTIONS, deadline);
    let moved = 0;
    const rowsAt = await until(deadline, async () => (moved = await movedCount(tdb.db)) >= n);
    // peopleUpdated events may still be on their way after the last move row: let them finish, so
    // any extra row they write and their outcome are counted.
    await until(deadline, async () => {
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM webhook_events WHERE status IN ('received', 'processing')`.execute(tdb.db);
      return rows[0]!.n === 0;
    });
    const metrics = await (await fetch(url + '/metrics')).text();
    const { rows: check } = await sql<{ total: number; done: number }>`
      SELECT (SELECT count(*)::int FROM stage_changes) AS total,
             (SELECT count(*)::int FROM (SELECT DISTINCT ON (person_id) kind, stage_to FROM stage_changes
                                         ORDER BY person_id, changed_at DESC, seq DESC) latest
              WHERE kind = 'move' AND stage_to = ${TO}) AS done`.execute(tdb.db);
    const { total, done } = check[0]!;
    const { rows: statuses } = await sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM webhook_events GROUP BY status`.execute(tdb.db);
    // Expected: the n seeded first rows, and one move into TO per person, the latest row of each.
    return {
      sent, rowsAt, moved, lost: n - done, extra: total - n - done, rssMb: rss.stop(), fubCalls: sim.requests.length, metrics, log,
      events: Object.fromEntries(statuses.map((r) => [r.status, r.n])),
    };
  } finally {
    rss.stop();
    await stop(proc);
  }
}

async function runBaseline(tdb: TestDatabase, bodies: Bodies): Promise<SendResult> {
  await tdb.reset();
  await sql`CHECKPOINT`.execute(tdb.db);
  const { proc, url } = await serve(['--import', 'tsx', 'bench/baseline-server.ts'], { DATABASE_URL: tdb.url });
  try {
    return await sendAllFromChild(url, '/ingest', bodies, CONNECTIONS, performance.now() + TIMEOUT_S * 1000);
  } finally {
    await stopProcess(proc);
  }
}

const int = (n: number) => n.toLocaleString('en-US');
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const ackTime = (s: SendResult, total: number) => (s.acked + s.failed < total ? NaN : s.lastAckAt - s.startedAt);
const ackCell = (s: SendResult, total: number) =>
  Number.isNaN(ackTime(s, total)) ? `not finished in ${TIMEOUT_S} s (${int(s.acked)} of ${int(total)})` : secs(ackTime(s, total));
/** One value of a Prometheus counter from the /metrics text (0 when never incremented). */
const counter = (text: string, series: string) => Number(text.split('\n').find((l) => l.startsWith(series + ' '))?.split(' ')[1] ?? 0);

await withPostgres(async () => {
  const tdb = await createTestDatabase();
  const sim = new FubSimulator();
  await sim.start();
  const rows: string[] = [];
  const notes: string[] = [];
  try {
    for (const n of SIZES) {
      for (const variant of VARIANTS) {
        const people = await seed(tdb, sim, n);
        const bodies = moveBodies(sim, people, variant.named);
        const run = await runServer(tdb, sim, n, bodies);
        const baseline = await runBaseline(tdb, bodies);
        const { sent } = run;
        const server = ackTime(sent, bodies.length);
        const vsBaseline = Number.isNaN(server) || Number.isNaN(ackTime(baseline, bodies.length)) ? '' : ` (${ratio(server, ackTime(baseline, bodies.length))} the baseline's)`;
        const recorded = Number.isNaN(run.rowsAt)
          ? `not finished in ${TIMEOUT_S} s (${int(run.moved)} of ${int(n)} rows)`
          : run.rowsAt <= sent.lastAckAt ? 'in before the last ack' : secs(run.rowsAt - sent.lastAckAt);
        const movesPerSecond = Number.isNaN(run.rowsAt) ? '—' : int(Math.round(n / ((run.rowsAt - sent.firstAckAt) / 1000)));
        const limited = counter(run.metrics, 'fub_api_calls_total{status="429"}');
        const waits = counter(run.metrics, 'fub_rate_limit_waits_total');
        const waited = counter(run.metrics, 'fub_rate_limit_wait_seconds_total');
        rows.push(
          `| ${int(n)} | ${int(bodies.length)} | ${variant.name} | ${ackCell(sent, bodies.length)}${vsBaseline} | ${ackCell(baseline, bodies.length)} | ${recorded} | ${movesPerSecond} | ` +
            `${int(run.lost)} | ${int(run.extra)} | ${Math.round(run.rssMb)} MB | ${int(run.fubCalls)} (${limited} answered 429; ${waits} budget waits, ${waited.toFixed(1)} s) |`,
        );
        console.log(rows[rows.length - 1]);
        const unsettled = Object.entries(run.events).filter(([status]) => status !== 'completed' && status !== 'ignored');
        const events = Object.entries(run.events).map(([status, count]) => `${int(count)} ${status}`).join(', ');
        if (unsettled.length > 0 || sent.failed + baseline.failed > 0) {
          notes.push(`${int(n)} people, ${variant.name}: webhook events ${events}; ${sent.failed} deliveries refused by the server, ${baseline.failed} by the baseline.`);
        } else {
          notes.push(`${int(n)} people, ${variant.name}: every webhook event ended completed or ignored (${events}).`);
        }
        for (const [msg, count] of run.log) console.log(`  server logged ${count}× ${msg}`);
      }
    }
    const lines = [
      `Each person is known to the collector (a first row and the read behind it, as a poll's first read records them) and in FUB; then all of them move to a new stage in the same second, ` +
        `and FUB's two webhooks per person (peopleStageUpdated, peopleUpdated) arrive over ${CONNECTIONS} keep-alive connections, each pre-signed body once. ` +
        'With data.stage only peopleUpdated needs a people fetch; without it every event does. The simulated FUB answers each call in 50 ms and answers 429 past 250 requests in 10 s. ' +
        `The server is the one users run: \`npm run build\`, then \`node ${SERVER_ARGS.join(' ')}\` as \`npm run webhook:prod\` starts it, default settings (LOG_LEVEL info, every log line read off a pipe); the sender runs in a process of its own. ` +
        `The baseline (bare Koa, one INSERT per request, as in the ingestion benchmark) acknowledges the same bodies from the same sender, right after. ` +
        `Rows are checked every 100 ms; moves/s is people ÷ (first ack → last row); lost: people whose latest row is not a move into the new stage; extra: rows beyond the seeded first rows and one move per person; ` +
        `peak RSS of the server process sampled every 100 ms; FUB calls as the simulator counted them. Each run stops after ${TIMEOUT_S} s. ${await machineLine(tdb.db, `${process.env.BENCH_SIZES ? `BENCH_SIZES=${process.env.BENCH_SIZES} ` : ''}npm run bench:bulk`)}`,
      '',
      '| people | webhooks | variant | all acknowledged (server) | baseline acknowledged | all rows recorded after last ack | moves/s | lost | extra | peak RSS | FUB calls |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
      ...rows,
      '',
      'Targets (issue 13), at 10,000 people: with data.stage, every row recorded within 10 s of the last ack, at least 1,000 moves/s, 0 lost, 0 extra; without data.stage, every row within 20 s; peak RSS under 150 MB.',
      '',
      'Before issue 13 (one transaction per person and one UPDATE per event, measured with this benchmark on this machine at commit 395d397, 10,000 people): ' +
        'with data.stage acknowledged in 15.2 s, all rows 29.1 s after the last ack, 227 moves/s, peak RSS 195 MB; without data.stage 11.8 s, 34.7 s, 215 moves/s, 191 MB.',
      '',
      ...notes.map((note) => `- ${note}`),
    ];
    console.log(lines.join('\n'));
    await writeBenchmarkSection('Bulk move: N people moved at once', lines.join('\n'));
  } finally {
    await sim.stop();
    await tdb.destroy();
  }
});
