// Ingestion: webhooks per second and p50/p99 acknowledgement latency at 50 concurrent senders,
// signed and stored durably before the answer, beside a bare Koa route doing one INSERT per request
// into the same database, both measured in this run with autocannon.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { FubSimulator } from '../tests/support/fub-simulator.js';
import { serviceEnv } from '../tests/support/run-entrypoint.js';
import { createTestDatabase } from '../tests/support/test-database.js';
import { waitFor } from '../tests/support/wait.js';
import { freePort, stopProcess } from '../tests/support/webhook-server-process.js';
import { writeBenchmarkSection } from './report.js';
import { machineLine, ratio, withPostgres } from './support.js';

const CONNECTIONS = 50;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

async function serve(entry: string, env: Record<string, string>): Promise<{ proc: ChildProcess; url: string }> {
  const port = await freePort();
  const proc = spawn(process.execPath, ['--import', 'tsx', entry], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', EXPERIMENT_NO_PROCESSING: process.env.EXPERIMENT_NO_PROCESSING ?? '', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${entry} to listen`, async () => {
    try {
      await fetch(url + '/health');
      return true;
    } catch {
      return false;
    }
  });
  return { proc, url };
}

async function load(url: string, path: string, sign: (body: string) => Record<string, string>) {
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
            const id = Math.floor(Math.random() * 1e9);
            const body = JSON.stringify({
              eventId: randomUUID(),
              eventCreated: new Date().toISOString(),
              event: process.env.BENCH_EVENT ?? 'peopleStageUpdated',
              resourceIds: [id],
              uri: `https://api.followupboss.com/v1/people?id=${id}`,
              data: { stage: 'ACQ - Offers Made' },
            });
            return { ...req, body, headers: { 'content-type': 'application/json', ...sign(body) } };
          },
        },
      ],
    });
  await run(2); // warm-up
  const r = await run(SECONDS);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors, total: r.requests.total };
}

await withPostgres(async () => {
  const tdb = await createTestDatabase();
  const sim = new FubSimulator();
  await sim.start();
  const procs: ChildProcess[] = [];
  try {
    const signed = (body: string) => ({ 'fub-signature': sim.sign(body).signature });
    const once = async (entry: string, path: string, env: Record<string, string>, sign: (body: string) => Record<string, string>) => {
      const server = await serve(entry, env);
      procs.push(server.proc);
      const result = await load(server.url, path, sign);
      await stopProcess(server.proc, 'SIGTERM');
      return result;
    };
    // The machine is noisy: the receiving path and the baseline take turns, ROUNDS times each, and
    // the median round of each is reported.
    const receivingRuns: Awaited<ReturnType<typeof load>>[] = [];
    const baselineRuns: Awaited<ReturnType<typeof load>>[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      receivingRuns.push(await once('bench/ack-only-server.ts', '/webhooks/fub', serviceEnv(sim, tdb.url), signed));
      baselineRuns.push(await once('bench/baseline-server.ts', '/ingest', { DATABASE_URL: tdb.url }, () => ({})));
    }
    const median = (runs: typeof receivingRuns) => [...runs].sort((a, b) => a.rps - b.rps)[Math.floor(runs.length / 2)]!;
    const receiving = median(receivingRuns);
    const baseline = median(baselineRuns);
    const collector = await once('src/webhook/main.ts', '/webhooks/fub', serviceEnv(sim, tdb.url), signed);
    for (const [name, r] of [['collector', collector], ['receiving path', receiving], ['baseline', baseline]] as const) {
      if (r.non2xx + r.errors > 0) throw new Error(`${name}: ${r.non2xx} non-2xx answers and ${r.errors} errors`);
    }
    const row = (name: string, r: typeof collector) =>
      `| ${name} | ${Math.round(r.rps)} | ${r.p50} ms | ${r.p99} ms | ${r.non2xx + r.errors} |`;
    const lines = [
      `${CONNECTIONS} concurrent senders for ${SECONDS} s after a 2 s warm-up (autocannon); receiving path and baseline alternate, median of ${ROUNDS} rounds each ` +
        `(all rounds, webhooks/s: receiving ${receivingRuns.map((r) => Math.round(r.rps)).join(', ')}; baseline ${baselineRuns.map((r) => Math.round(r.rps)).join(', ')}). ` +
        (await machineLine(tdb.db, 'npm run bench:ingestion')),
      'The collector verifies each FUB-Signature and stores deliveries durably before answering (concurrent ones group-committed in one statement); in the last row its processor records the stage changes meanwhile.',
      '',
      '| server | webhooks/s | p50 ack | p99 ack | non-2xx or errors |',
      '|---|---|---|---|---|',
      row('fub-collector receiving path: `POST /webhooks/fub`, signed and durably stored before the answer', receiving),
      row('baseline: bare Koa route, one `INSERT` per request', baseline),
      row('whole fub-collector server, recording the stage changes on the same 2 cores meanwhile (one round)', collector),
      '',
      `Ingestion (the receiving path): ${ratio(receiving.rps, baseline.rps)} the baseline's throughput, p99 ${receiving.p99} ms (target: at least 1x, p99 under 25 ms). ` +
        `The whole server, also recording every stage change as it comes (a transaction of several statements per event on the same 2 cores and database), ` +
        `acknowledges ${ratio(collector.rps, baseline.rps)} the baseline's rate with p99 ${collector.p99} ms.`,
    ];
    console.log(lines.join('\n'));
    await writeBenchmarkSection('Ingestion: webhooks per second and acknowledgement latency', lines.join('\n'));
  } finally {
    await Promise.all(procs.map((p) => stopProcess(p)));
    await sim.stop();
    await tdb.destroy();
  }
});
