// Ack latency of signed deliveries while hostile clients are connected: nothing else, 100
// slow-body connections held open (1 byte every 2 s, reopened whenever the server closes one), and
// an unsigned 1 MB flood, each measured on the real webhook server process in the same run.
// BENCH_BASELINE_ROOT=<another checkout> runs the same phases on that code too (e.g. the commit
// before the request limits, with node_modules linked) and prints both side by side.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { resolve } from 'node:path';
import pg from 'pg';
import { createDb } from '../src/shared/db/database.js';
import { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { serviceEnv } from '../tests/support/run-entrypoint.js';
import { serverUrl } from '../tests/support/test-database.js';
import { sleep, waitFor } from '../tests/support/wait.js';
import { freePort, stopProcess } from '../tests/support/webhook-server-process.js';
import { writeBenchmarkSection } from './report.js';
import { cpuSecondsOf, machineLine, percentile, webhookBody, withPostgres } from './support.js';

const SENDERS = Number(process.env.BENCH_SENDERS ?? 10);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const SLOW_CONNECTIONS = 100;
const FLOODERS = Number(process.env.BENCH_FLOODERS ?? 4);
const FLOOD_BYTES = 1024 * 1024;

interface PhaseResult {
  name: string;
  acks: number[];
  failed: number;
  /** What the hostile clients saw: answers by status, and how long the longest slow socket stayed open. */
  hostile: string;
  /** The server process's CPU seconds during the row: unlike latency, not bent by other load on the machine. */
  serverCpuSeconds: number;
}

async function withDatabase<T>(work: (url: string) => Promise<T>): Promise<T> {
  const name = `fubbench_slow_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string): Promise<void> => {
    const client = new pg.Client({ connectionString: serverUrl() });
    await client.connect();
    await client.query(sql).finally(() => client.end());
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  try {
    return await work(url.toString());
  } finally {
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

/** The webhook server of the checkout at `root`, as its own process; it migrates its empty database. */
async function serve(root: string, env: Record<string, string>): Promise<{ proc: ChildProcess; port: number }> {
  const port = await freePort();
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/webhook/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'error', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitFor(`the server in ${root} to listen`, async () => {
    if (proc.exitCode !== null) throw new Error(`server in ${root} exited with ${proc.exitCode}`);
    try {
      return (await fetch(`http://127.0.0.1:${port}/health`)).status === 200;
    } catch {
      return false;
    }
  }, 60_000);
  return { proc, port };
}


/** SENDERS signed senders, each posting one delivery after another on a kept-alive connection. */
async function measureAcks(sim: FubSimulator, port: number, until: number): Promise<{ acks: number[]; failed: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: SENDERS });
  const acks: number[] = [];
  let failed = 0;
  const post = (body: string, signature: string): Promise<number> =>
    new Promise((done) => {
      const req = request(
        { host: '127.0.0.1', port, path: '/webhooks/fub', method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'FUB-Signature': signature, 'Content-Length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => done(res.statusCode ?? 0));
        },
      );
      req.on('error', () => done(0));
      req.end(body);
    });
  await Promise.all(
    Array.from({ length: SENDERS }, async () => {
      while (Date.now() < until) {
        const { body, signature } = sim.sign(webhookBody());
        const started = process.hrtime.bigint();
        const status = await post(body, signature);
        if (status === 200) acks.push(Number(process.hrtime.bigint() - started) / 1e6);
        else failed += 1;
      }
    }),
  );
  agent.destroy();
  return { acks: acks.sort((a, b) => a - b), failed };
}

/** 100 sockets each sending a signed body one byte every 2 s; one the server closes is opened again. */
function holdSlowBodies(sim: FubSimulator, port: number): { stop(): string } {
  const statuses = new Map<string, number>();
  let longestOpenMs = 0;
  let stopped = false;
  const sockets = new Set<Socket>();
  const open = (): void => {
    if (stopped) return;
    const { body, signature } = sim.sign(webhookBody());
    const socket = connect(port, '127.0.0.1');
    sockets.add(socket);
    const opened = Date.now();
    let sent = 0;
    let answer = '';
    socket.on('connect', () => {
      socket.write(`POST /webhooks/fub HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nFUB-Signature: ${signature}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`);
    });
    const drip = setInterval(() => {
      if (!socket.destroyed && sent < body.length - 1) socket.write(body[sent++]!);
    }, 2000);
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(drip);
      sockets.delete(socket);
      if (stopped) return;
      longestOpenMs = Math.max(longestOpenMs, Date.now() - opened);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 'closed without answer';
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      open();
    });
  };
  for (let i = 0; i < SLOW_CONNECTIONS; i++) open();
  return {
    stop() {
      stopped = true;
      for (const socket of sockets) socket.destroy();
      const seen = [...statuses].map(([status, n]) => `${n}× ${status}`).join(', ') || 'none answered';
      return `slow sockets: ${seen}; longest open before the server closed it: ${longestOpenMs === 0 ? `never closed (${SECONDS} s phase)` : `${(longestOpenMs / 1000).toFixed(1)} s`}`;
    },
  };
}

/** FLOODERS clients posting 1 MB bodies with no FUB-Signature, one after another. */
function floodUnsigned(port: number): { stop(): Promise<string> } {
  const payload = Buffer.alloc(FLOOD_BYTES, 'x');
  const statuses = new Map<string, number>();
  let stopped = false;
  const one = (): Promise<void> =>
    new Promise((done) => {
      const req = request(
        { host: '127.0.0.1', port, path: '/webhooks/fub', method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': FLOOD_BYTES } },
        (res) => {
          res.resume();
          res.on('end', () => {
            statuses.set(String(res.statusCode), (statuses.get(String(res.statusCode)) ?? 0) + 1);
            done();
          });
        },
      );
      req.on('error', () => {
        statuses.set('reset', (statuses.get('reset') ?? 0) + 1);
        done();
      });
      req.end(payload);
    });
  const loops = Array.from({ length: FLOODERS }, async () => {
    while (!stopped) await one();
  });
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
      const total = [...statuses.values()].reduce((a, b) => a + b, 0);
      return `unsigned 1 MB requests: ${total} (${(total / SECONDS).toFixed(0)}/s: ${[...statuses].map(([s, n]) => `${n}× ${s}`).join(', ')})`;
    },
  };
}

async function runPhases(root: string): Promise<PhaseResult[]> {
  const sim = new FubSimulator();
  await sim.start();
  try {
    return await withDatabase(async (url) => {
      const { proc, port } = await serve(root, serviceEnv(sim, url));
      try {
        const results: PhaseResult[] = [];
        // Warm-up: JIT, pool connections, prepared statements.
        await measureAcks(sim, port, Date.now() + 2000);

        const cpu = (): number => cpuSecondsOf(proc.pid!);

        let cpuAtStart = cpu();
        const quiet = await measureAcks(sim, port, Date.now() + SECONDS * 1000);
        results.push({ name: 'no hostile clients', ...quiet, hostile: '', serverCpuSeconds: cpu() - cpuAtStart });

        const slow = holdSlowBodies(sim, port);
        await sleep(1000);
        cpuAtStart = cpu();
        const underSlow = await measureAcks(sim, port, Date.now() + SECONDS * 1000);
        const slowCpu = cpu() - cpuAtStart;
        results.push({ name: `${SLOW_CONNECTIONS} slow-body connections open`, ...underSlow, hostile: slow.stop(), serverCpuSeconds: slowCpu });
        await sleep(1000);

        const flood = floodUnsigned(port);
        cpuAtStart = cpu();
        const underFlood = await measureAcks(sim, port, Date.now() + SECONDS * 1000);
        const floodCpu = cpu() - cpuAtStart;
        results.push({ name: `unsigned 1 MB flood (${FLOODERS} senders)`, ...underFlood, hostile: await flood.stop(), serverCpuSeconds: floodCpu });
        return results;
      } finally {
        await stopProcess(proc, 'SIGTERM');
      }
    });
  } finally {
    await sim.stop();
  }
}

const fmt = (ms: number): string => (Number.isNaN(ms) ? 'n/a' : ms < 10 ? ms.toFixed(1) : ms.toFixed(0));
const cell = (r: PhaseResult): string =>
  `p50 ${fmt(percentile(r.acks, 50))} ms, p99 ${fmt(percentile(r.acks, 99))} ms (${r.acks.length} acks${r.failed > 0 ? `, ${r.failed} not 200` : ''}; ` +
  `server CPU ${r.serverCpuSeconds.toFixed(1)} s = ${((r.serverCpuSeconds * 1000) / Math.max(1, r.acks.length)).toFixed(2)} ms per ack)`;

await withPostgres(async () => {
  const baselineRoot = process.env.BENCH_BASELINE_ROOT;
  const branch = await runPhases(process.cwd());
  const baseline = baselineRoot ? await runPhases(resolve(baselineRoot)) : undefined;
  const db = createDb(serverUrl());
  const machine = await machineLine(db, 'npm run bench:slow-bodies');
  await db.destroy();

  const lines = [
    `Signed \`peopleStageUpdated\` deliveries from ${SENDERS} concurrent senders for ${SECONDS} s per row, answered by the webhook server process ` +
      `(stored durably before the answer, processed meanwhile); latency is the sender's round trip. The hostile clients run during the row: ` +
      `${SLOW_CONNECTIONS} sockets each sending a signed body 1 byte every 2 s (reopened when the server closes one), then ${FLOODERS} senders posting ` +
      `1 MB bodies without \`FUB-Signature\` back to back. ${machine}`,
    '',
    baseline ? `| condition | this code | before the request limits (\`${baselineRoot}\`) |` : '| condition | ack latency |',
    baseline ? '|---|---|---|' : '|---|---|',
    ...branch.map((r, i) => (baseline ? `| ${r.name} | ${cell(r)} | ${cell(baseline[i]!)} |` : `| ${r.name} | ${cell(r)} |`)),
    '',
    ...branch.filter((r) => r.hostile).map((r) => `- this code, ${r.name}: ${r.hostile}`),
    ...(baseline ?? []).filter((r) => r.hostile).map((r) => `- before, ${r.name}: ${r.hostile}`),
  ];
  await writeBenchmarkSection('Ack latency while hostile clients are connected', lines.join('\n'));
  console.log(`## Ack latency while hostile clients are connected\n\n${lines.join('\n')}`);
});
