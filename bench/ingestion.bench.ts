// Ingestion: webhooks per second and p50/p99 acknowledgement latency at 50 concurrent senders,
// signed and stored durably before the answer: the server users run (recording the stage changes
// meanwhile) and its receiving path alone, beside a bare Koa route doing one INSERT per request into
// the same database, all measured in this run (wrk when installed, else autocannon).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { serviceEnv } from '../tests/support/run-entrypoint.js';
import { createTestDatabase } from '../tests/support/test-database.js';
import { waitFor } from '../tests/support/wait.js';
import { stopProcess } from '../tests/support/webhook-server-process.js';
import { keepCollectorRows, measureRecordingFloor, type RecordingFloor } from './recording-floor.js';
import { writeBenchmarkSection } from './report.js';
import { buildServerUsersRun, cpuSecondsOf, machineLine, postgresCpuByPid, postgresCpuSince, ratio, reapedChildrenCpuSeconds, serve, webhookBody, withPostgres } from './support.js';

const CONNECTIONS = 50;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const WRK = spawnSync('wrk', ['--version']).error === undefined;
// The server users run: built, started as `npm run webhook:prod` starts it.
const SERVER_ARGS = buildServerUsersRun();
// One wrk thread keeps 50 connections busy here (about a quarter of a core at 7,000 requests a
// second). A second thread only competes with the server and PostgreSQL for the 2 cores, and wrk
// times each answer from its own thread, so its waits for a core were counted as server latency.
const WRK_THREADS = 1;

/**
 * wrk (C, from Debian) when installed: it costs the 2 cores far less than a JavaScript load
 * generator. Each thread cycles through its own share of pre-signed bodies, so every request carries
 * a new eventId, as FUB's would.
 */
async function loadWithWrk(url: string, path: string, sign: (body: string) => Record<string, string>) {
  const dir = await mkdtemp(join(tmpdir(), 'fub-wrk-'));
  // Enough unique bodies for 12,000 requests a second over the warm-up and the measured run.
  const perRun = (seconds: number) => 12_000 * seconds;
  const lines: string[] = [];
  for (let i = 0; i < perRun(2) + perRun(SECONDS); i++) {
    const body = webhookBody();
    lines.push(`${sign(body)['fub-signature'] ?? ''}\t${body}`);
  }
  await writeFile(join(dir, 'bodies.txt'), lines.join('\n') + '\n');
  await writeFile(
    join(dir, 'script.lua'),
    `local counter = 0
function setup(thread) counter = counter + 1; thread:set("tid", counter) end
function init(args)
  offset = tonumber(args[1])
  sigs, bodies = {}, {}
  for line in io.lines("${join(dir, 'bodies.txt')}") do
    local tab = line:find("\\t", 1, true)
    sigs[#sigs + 1] = line:sub(1, tab - 1)
    bodies[#bodies + 1] = line:sub(tab + 1)
  end
  n = 0
end
function request()
  n = n + 1
  local i = (offset + (n - 1) * ${WRK_THREADS} + tid - 1) % #bodies + 1
  return wrk.format("POST", "${path}", { ["Content-Type"] = "application/json", ["FUB-Signature"] = sigs[i] }, bodies[i])
end
`,
  );
  const run = async (duration: number, offset: number) => {
    const args = [`-t${WRK_THREADS}`, `-c${CONNECTIONS}`, `-d${duration}s`, '--latency', '-s', join(dir, 'script.lua'), url, '--', String(offset)];
    // Never spawnSync: this process is FUB too (the simulator), and a server whose FUB stops answering
    // stops recording, which made the server look as fast as its receiving path alone.
    // wrk's own CPU: what this process's reaped children used meanwhile (wrk is the only one to end).
    const childrenBefore = reapedChildrenCpuSeconds();
    const result = await runToEnd('wrk', args);
    const wrkCpu = reapedChildrenCpuSeconds() - childrenBefore;
    const text = result.stdout;
    const ms = (label: string): number => {
      const m = new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(text);
      if (!m) throw new Error(`wrk output without ${label}%:\n${text}${result.stderr}`);
      const v = Number(m[1]);
      return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
    };
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
    const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
    const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
    const requests = Number(/(\d+) requests in/.exec(text)?.[1]);
    return { rps, p50: ms('50'), p99: ms('99'), non2xx, errors: errors ? errors.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0, requests, wrkCpu };
  };
  const warmUp = await run(2, 0); // warm-up on the first bodies; the measured run starts after them
  const measured = await run(SECONDS, perRun(2));
  await rm(dir, { recursive: true, force: true });
  return { ...measured, requests: warmUp.requests + measured.requests, wrkCpu: warmUp.wrkCpu + measured.wrkCpu };
}

/** A command's output once it exits, without blocking this process's event loop. */
function runToEnd(command: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve({ stdout, stderr }));
  });
}

/** CPU per webhook (µs), warm-up included: the server process, PostgreSQL, and the load generator. */
interface CpuPerWebhook {
  server: number;
  postgres: number;
  wrk: number;
}

interface Run {
  /** Inbox events stored, and of those recorded, when the load ended (collector servers only). */
  stored?: number;
  finished?: number;
  /** During the load (wrk only); for the collector, also until its last row was recorded. */
  cpu?: CpuPerWebhook;
  cpuToLastRow?: CpuPerWebhook;
  /** The least its recording could have cost (collector only). */
  floor?: RecordingFloor;
  /** Seconds from the end of the load to the last row (collector only). */
  lastRowAfterS?: number;
  /** Requests answered, warm-up included, and wrk's CPU seconds (wrk only). */
  requests?: number;
  wrkCpu?: number;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

async function load(url: string, path: string, sign: (body: string) => Record<string, string>): Promise<Run> {
  if (WRK) return loadWithWrk(url, path, sign);
  const run = (duration: number) =>
    autocannon({
      url,
      connections: CONNECTIONS,
      duration,
      requests: [
        {
          method: 'POST',
          path,
          setupRequest: (req) => {
            const body = webhookBody();
            return { ...req, body, headers: { 'content-type': 'application/json', ...sign(body) } };
          },
        },
      ],
    });
  await run(2); // warm-up
  const r = await run(SECONDS);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors };
}

await withPostgres(async () => {
  const tdb = await createTestDatabase();
  const sim = new FubSimulator();
  await sim.start();
  const procs: ChildProcess[] = [];
  try {
    const signed = (body: string) => ({ 'fub-signature': sim.sign(body).signature });
    const once = async (args: string[], path: string, env: Record<string, string>, sign: (body: string) => Record<string, string>, asUsersRun = false, records = false) => {
      // Every run starts from empty tables (the baseline server makes its own afresh) and a
      // checkpoint: a run neither inherits the indexes the earlier ones grew nor pays for writing
      // out the pages they dirtied.
      await tdb.reset();
      await sql`CHECKPOINT`.execute(tdb.db);
      const server = await serve(args, env, asUsersRun ? 'as-users-run' : 'ignore');
      procs.push(server.proc);
      const pid = server.proc.pid!;
      const before = { server: cpuSecondsOf(pid), postgres: postgresCpuByPid() };
      const result = await load(server.url, path, sign);
      const perWebhook = (): CpuPerWebhook | undefined => {
        const { requests, wrkCpu } = result;
        if (requests === undefined || wrkCpu === undefined) return undefined;
        const us = (seconds: number) => (seconds * 1e6) / requests;
        return { server: us(cpuSecondsOf(pid) - before.server), postgres: us(postgresCpuSince(before.postgres)), wrk: us(wrkCpu) };
      };
      const cpu = perWebhook();
      const loadEnded = performance.now();
      // What the collector had recorded by the end of the load (warm-up included): proof that it was
      // recording meanwhile, not only storing.
      const counts = async () =>
        (
          await sql<{ finished: number; stored: number }>`
            SELECT count(*) FILTER (WHERE status IN ('completed', 'ignored'))::int AS finished, count(*)::int AS stored FROM webhook_events`.execute(tdb.db)
        ).rows[0]!;
      const atEnd = await counts();
      let toLastRow: Pick<Run, 'cpuToLastRow' | 'lastRowAfterS'> = {};
      if (records) {
        // Then what receiving and recording every one of them cost in all, to the last row.
        await waitFor('every stored event recorded', async () => {
          const now = await counts();
          return now.finished === now.stored;
        }, 300_000);
        toLastRow = { lastRowAfterS: (performance.now() - loadEnded) / 1000, ...(result.requests !== undefined ? { cpuToLastRow: perWebhook()! } : {}) };
        await keepCollectorRows(tdb.db);
      }
      await stopProcess(server.proc, 'SIGTERM');
      // Then the least its recording could have cost: its own rows written again (nothing else running).
      const floor = records ? { floor: await measureRecordingFloor(tdb.db, tdb.url) } : {};
      return { ...result, ...atEnd, ...(cpu ? { cpu } : {}), ...toLastRow, ...floor };
    };
    // The machine is noisy: the three servers take turns, ROUNDS times each, and the median round
    // of each is reported beside every round.
    const runs = { collector: [] as Run[], receiving: [] as Run[], baseline: [] as Run[] };
    for (let round = 0; round < ROUNDS; round++) {
      runs.collector.push(await once(SERVER_ARGS, '/webhooks/fub', serviceEnv(sim, tdb.url), signed, true, true));
      runs.receiving.push(await once(['--import', 'tsx', 'bench/ack-only-server.ts'], '/webhooks/fub', serviceEnv(sim, tdb.url), signed, true));
      runs.baseline.push(await once(['--import', 'tsx', 'bench/baseline-server.ts'], '/ingest', { DATABASE_URL: tdb.url }, () => ({})));
    }
    const median = (list: Run[]) => medianBy(list, (r) => r.rps);
    const collector = median(runs.collector);
    const receiving = median(runs.receiving);
    const baseline = median(runs.baseline);
    for (const [name, list] of Object.entries(runs)) {
      for (const r of list) if (r.non2xx + r.errors > 0) throw new Error(`${name}: ${r.non2xx} non-2xx answers and ${r.errors} errors`);
    }
    const rounds = (list: Run[]) => list.map((r) => `${Math.round(r.rps)}/s, p99 ${r.p99} ms`).join('; ');
    const row = (name: string, list: Run[]) => {
      const r = median(list);
      return `| ${name} | ${Math.round(r.rps)} | ${r.p50} ms | ${r.p99} ms | ${ratio(r.rps, baseline.rps)} | ${rounds(list)} |`;
    };
    const lines = [
      `${CONNECTIONS} concurrent senders for ${SECONDS} s after a 2 s warm-up (${WRK ? `wrk, ${WRK_THREADS} thread, pre-signed unique bodies` : 'autocannon'}); ` +
        `the three servers take turns, ${ROUNDS} rounds each, each from empty tables; the median round is shown, every round beside it. ` +
        (await machineLine(tdb.db, 'npm run bench:ingestion')),
      'Every webhook names a stage (`data.stage`) for a person not seen before. The collector verifies each FUB-Signature and stores deliveries durably before answering (concurrent ones group-committed in one statement).',
      '',
      '| server | webhooks/s | p50 ack | p99 ack | vs baseline | all rounds |',
      '|---|---|---|---|---|---|',
      row(`**the server users run** (built, \`node ${SERVER_ARGS.join(' ')}\` as \`npm run webhook:prod\` starts it, default LOG_LEVEL (info), its log lines read off a pipe): signed, stored before the answer, and recording every stage change on the same 2 cores meanwhile`, runs.collector),
      row('its receiving path alone (`bench/ack-only-server.ts`: no processing; logging as the server users run does)', runs.receiving),
      row('baseline: bare Koa route, one `INSERT` per request', runs.baseline),
      '',
      `When the load ended the server users run had recorded ${runs.collector.map((r) => `${r.finished} of ${r.stored}`).join(', ')} stored events (each round, warm-up included), ` +
        `and its last row came ${runs.collector.map((r) => `${r.lastRowAfterS?.toFixed(1)} s`).join(', ')} after the load ended. ` +
        `It acknowledges ${ratio(collector.rps, baseline.rps)} the baseline's rate with p99 ${collector.p99} ms while it records the stage changes; ` +
        `its receiving path alone, ${ratio(receiving.rps, baseline.rps)} with p99 ${receiving.p99} ms (target for the receiving path: at least 1x, p99 under 25 ms).`,
      ...cpuBudget(runs, baseline.rps),
    ];
    console.log(lines.join('\n'));
    await writeBenchmarkSection('Ingestion: webhooks per second and acknowledgement latency', lines.join('\n'));
  } finally {
    await Promise.all(procs.map((p) => stopProcess(p)));
    await sim.stop();
    await tdb.destroy();
  }
});

/** The middle one of `values` by `key` (the upper middle of an even count). */
function medianBy<T>(values: T[], key: (v: T) => number): T {
  return [...values].sort((a, b) => key(a) - key(b))[Math.floor(values.length / 2)]!;
}

/**
 * Where the 2 cores go, per webhook, in the median round of each server: the server process,
 * PostgreSQL and wrk (from /proc, warm-up included). The server users run is counted to its last
 * row, so receiving and recording every webhook are both in it. Two cores give 2,000,000 µs a
 * second: that many µs per webhook bounds the rate at which the machine can take webhooks and
 * record them all.
 */
function cpuBudget(runs: Record<'collector' | 'receiving' | 'baseline', Run[]>, baselineRps: number): string[] {
  const of = (list: Run[], pick: (r: Run) => CpuPerWebhook | undefined): CpuPerWebhook | undefined => {
    const all = list.map(pick).filter((c): c is CpuPerWebhook => c !== undefined);
    return all.length === 0 ? undefined : medianBy(all, (c) => c.server + c.postgres + c.wrk);
  };
  const collector = of(runs.collector, (r) => r.cpuToLastRow);
  const receiving = of(runs.receiving, (r) => r.cpu);
  const baseline = of(runs.baseline, (r) => r.cpu);
  if (!collector || !receiving || !baseline) return [];
  const total = (c: CpuPerWebhook) => c.server + c.postgres + c.wrk;
  const row = (name: string, c: CpuPerWebhook) =>
    `| ${name} | ${Math.round(c.server)} µs | ${Math.round(c.postgres)} µs | ${Math.round(c.wrk)} µs | ${Math.round(total(c))} µs | ${Math.round(2e6 / total(c))}/s |`;
  // What recording adds to receiving, per webhook (the server and PostgreSQL: both log alike, and wrk
  // is the load, not the work), and what the baseline's rate leaves for it: wrk costs there what it
  // cost the baseline's run (less per request the faster the answers come).
  const recording = collector.server + collector.postgres - (receiving.server + receiving.postgres);
  const budget = 2e6 / baselineRps;
  const room = budget - (receiving.server + receiving.postgres + baseline.wrk);
  return [
    '',
    'CPU per webhook (median round of each, warm-up included; the server users run until its last row was recorded; the FUB simulator, in the benchmark process, not counted):',
    '',
    '| server | server process | PostgreSQL | wrk | all | 2 cores ÷ all |',
    '|---|---|---|---|---|---|',
    row('the server users run: receiving and recording each webhook', collector),
    row('its receiving path alone', receiving),
    row('baseline', baseline),
    '',
    `Two cores give 2,000,000 µs of CPU a second. At the baseline's rate (${Math.round(baselineRps)}/s) that is ${Math.round(budget)} µs per webhook. ` +
      `Receiving takes ${Math.round(receiving.server + receiving.postgres)} µs of it (the server and PostgreSQL) and wrk ${Math.round(baseline.wrk)} µs (its cost at that rate), ` +
      `and recording (a first sighting: its evidence, its row, the person, the dashboard's rollups, the event's claim and finish) takes ${Math.round(recording)} µs of the server's and PostgreSQL's CPU. ` +
      (room > 0
        ? `That leaves ${Math.round(room)} µs for recording: taking webhooks at the baseline's rate and recording them as fast as they come would need recording to cost ${ratio(recording, room)} less than it does here. `
        : `Receiving alone already takes all of it: at the baseline's rate no recording fits, however cheap. `) +
      `A server recording every webhook can acknowledge faster than ${Math.round(2e6 / total(collector))}/s on these cores only while it lets a backlog of unrecorded events grow.`,
    ...floorLines(runs.collector.flatMap((r) => (r.floor ? [r.floor] : [])), recording),
  ];
}

/**
 * The least recording's writes can cost as the collector makes them (bench/recording-floor.ts), each
 * round's own rows, beside what recording costs in the run.
 */
function floorLines(floors: RecordingFloor[], recording: number): string[] {
  if (floors.length === 0) return [];
  const us = (n: number) => `${Math.round(n)} µs`;
  const rowsOf = (f: RecordingFloor) => f.rows.reduce((sum, part) => sum + part.us, 0);
  const totalOf = (f: RecordingFloor) => rowsOf(f) + f.claim.us + f.finish.us + f.readAndLog.node.us + f.readAndLog.postgres.us;
  const floor = medianBy(floors, totalOf);
  const totals = floors.map(totalOf).sort((a, b) => a - b);
  return [
    '',
    "The least recording's writes cost: each round's own rows written again into emptied tables with nothing else, one set-based statement per table for the whole round " +
      `(${floors.map((f) => f.events).join(', ')} events), JIT off as the service has it, then read back and logged once each (\`bench/recording-floor.ts\`). CPU per event, median round:`,
    '',
    '| part | CPU per event |',
    '|---|---|',
    ...floor.rows.map((part) => `| PostgreSQL: ${part.name} | ${us(part.us)} |`),
    `| PostgreSQL: ${floor.claim.name} | ${us(floor.claim.us)} |`,
    `| PostgreSQL: ${floor.finish.name} | ${us(floor.finish.us)} |`,
    `| ${floor.readAndLog.node.name} | ${us(floor.readAndLog.node.us)} |`,
    `| ${floor.readAndLog.postgres.name} | ${us(floor.readAndLog.postgres.us)} |`,
    `| **all of it** | **${us(totalOf(floor))}** (rounds ${totals.map(us).join(', ')}) |`,
    `| PostgreSQL: ${floor.baseline.name} | ${us(floor.baseline.us)} |`,
    '',
    `Recording costs ${us(recording)} per event here (the server and PostgreSQL), ${ratio(recording, totalOf(floor))} the least its writes cost as it makes them, ` +
      'measured with nothing else running (under load, with the cores shared by the server, PostgreSQL and wrk, the same work takes more CPU). ' +
      `The rest is reading each person's history, locking them, a few statements per batch, the rebuild, and the Node process's work beyond one read and one log line. ` +
      `The rows alone cost PostgreSQL ${us(rowsOf(floor))}; the inbox's claim and finish, ${us(floor.claim.us + floor.finish.us)}.`,
  ];
}
