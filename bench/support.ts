import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { Db } from '../src/shared/db/database.js';
import { mochaGlobalSetup, mochaGlobalTeardown } from '../tests/support/global-setup.js';
import { waitFor } from '../tests/support/wait.js';
import { freePort } from '../tests/support/webhook-server-process.js';

/** Finds PostgreSQL the way the tests do (local 5432, else an embedded server), runs `work`, cleans up. */
export async function withPostgres(work: () => Promise<void>): Promise<void> {
  await mochaGlobalSetup();
  try {
    await work();
  } finally {
    await mochaGlobalTeardown();
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export async function machineLine(db: Db, script: string): Promise<string> {
  const { rows } = await sql<{ v: string }>`SELECT current_setting('server_version') AS v`.execute(db);
  return `Machine: ${cpus().length} cores, Node ${process.version}, PostgreSQL ${rows[0]!.v}. Run: \`${script}\`, ${new Date().toISOString().slice(0, 10)}.`;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds (user + system) of this process's children that have ended and been waited for. */
export function reapedChildrenCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** CPU seconds each of the machine's PostgreSQL processes (server, backends, WAL writer, checkpointer) has used so far, by pid (/proc, in ns). */
export function postgresCpuByPid(): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').startsWith('postgres')) byPid.set(Number(entry), Number(readFileSync(`/proc/${entry}/schedstat`, 'utf8').split(' ')[0]) / 1e9);
    } catch {
      // gone meanwhile
    }
  }
  return byPid;
}

/**
 * CPU seconds PostgreSQL has used since `before` (a postgresCpuByPid reading): a process started
 * meanwhile counts from zero. One that ended meanwhile is left out rather than taking its whole
 * life's CPU off the sum; runs keep their pools' backends alive to the second reading.
 */
export function postgresCpuSince(before: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of postgresCpuByPid()) total += seconds - (before.get(pid) ?? 0);
  return total;
}

export const ratio = (a: number, b: number): string => (b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`);

/** A webhook body as FUB would send it, with a fresh eventId, for a person not seen before. */
export function webhookBody(): string {
  const id = Math.floor(Math.random() * 1e9);
  return JSON.stringify({
    eventId: randomUUID(),
    eventCreated: new Date().toISOString(),
    event: 'peopleStageUpdated',
    resourceIds: [id],
    uri: `https://api.followupboss.com/v1/people?id=${id}`,
    data: { stage: 'ACQ - Offers Made' },
  });
}

/**
 * The server users run: a fresh build of src/, started with the same command line as
 * `npm run webhook:prod` (node flags included). Returns the arguments after `node`.
 */
export function buildServerUsersRun(): string[] {
  const [node, ...args] = (JSON.parse(readFileSync('package.json', 'utf8')).scripts['webhook:prod'] as string).split(/\s+/);
  if (node !== 'node') throw new Error('webhook:prod is no longer a plain `node …` command: update bench/support.ts');
  const build = spawnSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');
  return args;
}

/**
 * A server as its own Node process (`node <args>`) on a free port, once it answers /health. Logs at
 * warn into nothing, unless `stdout` is 'pipe' (the caller reads it) or 'as-users-run': the default
 * LOG_LEVEL, every line read off a pipe, as a platform collecting the logs reads them.
 */
export async function serve(args: string[], env: Record<string, string>, stdout: 'ignore' | 'pipe' | 'as-users-run' = 'ignore'): Promise<{ proc: ChildProcess; url: string }> {
  const port = await freePort();
  const proc = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH ?? '', ...(stdout === 'as-users-run' ? {} : { LOG_LEVEL: 'warn' }), ...env, PORT: String(port) },
    stdio: ['ignore', stdout === 'ignore' ? 'ignore' : 'pipe', 'inherit'],
  });
  if (stdout === 'as-users-run') proc.stdout!.resume();
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${args.join(' ')} to listen`, async () => {
    if (proc.exitCode !== null) throw new Error(`${args.join(' ')} exited with ${proc.exitCode}`);
    try {
      await fetch(url + '/health');
      return true;
    } catch {
      return false;
    }
  });
  return { proc, url };
}

export interface SendResult {
  /** performance.now() when the first request went out, the first 2xx answer came, the last one came. */
  startedAt: number;
  firstAckAt: number;
  lastAckAt: number;
  acked: number;
  /** Answers other than 2xx, and connections that failed. */
  failed: number;
}

/**
 * POSTs each pre-signed body exactly once over `connections` keep-alive connections, as FUB's
 * deliveries would arrive, and notes when the first and the last were acknowledged. Nothing new is
 * sent after `deadline` (performance.now()), so a stalled server ends the run instead of hanging it.
 */
export async function sendAll(url: string, path: string, bodies: { body: string; headers: Record<string, string> }[], connections: number, deadline = Infinity): Promise<SendResult> {
  const { hostname, port } = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const result: SendResult = { startedAt: performance.now(), firstAckAt: NaN, lastAckAt: NaN, acked: 0, failed: 0 };
  const post = (i: number) =>
    new Promise<boolean>((resolve) => {
      const { body, headers } = bodies[i]!;
      const req = request({ host: hostname, port, path, method: 'POST', agent, headers: { 'Content-Type': 'application/json', ...headers } }, (res) => {
        res.resume();
        res.once('end', () => resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300));
      });
      req.once('error', () => resolve(false));
      req.end(body);
    });
  let next = 0;
  const worker = async () => {
    while (next < bodies.length && performance.now() < deadline) {
      if (await post(next++)) {
        result.acked += 1;
        result.lastAckAt = performance.now();
        if (Number.isNaN(result.firstAckAt)) result.firstAckAt = result.lastAckAt;
      } else {
        result.failed += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  agent.destroy();
  return result;
}

/**
 * sendAll in a child process (bench/send-bodies.ts), so that what else this process does (a FUB
 * simulator, polling the database) does not slow the sender. Times come back on this process's
 * performance.now() clock.
 */
export async function sendAllFromChild(url: string, path: string, bodies: { body: string; headers: Record<string, string> }[], connections: number, deadline = Infinity): Promise<SendResult> {
  const dir = await mkdtemp(join(tmpdir(), 'fub-send-'));
  try {
    const file = join(dir, 'bodies.json');
    await writeFile(file, JSON.stringify(bodies));
    const deadlineWall = Number.isFinite(deadline) ? deadline + performance.timeOrigin : Number.MAX_SAFE_INTEGER;
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/send-bodies.ts', file, url, path, String(connections), String(deadlineWall)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`bench/send-bodies.ts exited with ${code}`);
    const wall = JSON.parse(out) as SendResult;
    // NaN (nothing acknowledged) comes through JSON as null.
    const toPerf = (ms: number | null) => (ms === null ? Number.NaN : ms - performance.timeOrigin);
    return { ...wall, startedAt: toPerf(wall.startedAt), firstAckAt: toPerf(wall.firstAckAt), lastAckAt: toPerf(wall.lastAckAt) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
