// Poller economy: API calls and wall time of one poll over 50,000 people with 100 changed since the
// last poll, beside a full-scan poll of the same account in the same run (how the old collector
// worked: every page of every person, every run). Writes its section of docs/BENCHMARKS.md.
import { cpus } from 'node:os';
import { mochaGlobalSetup, mochaGlobalTeardown } from '../tests/support/global-setup.js';
import { createHarness } from '../tests/support/harness.js';
import { writeBenchmarkSection } from './report.js';

const PEOPLE = Number(process.env.BENCH_PEOPLE ?? 50_000);
const CHANGED = 100;
const LATENCY_MS = Number(process.env.BENCH_FUB_LATENCY_MS ?? 50);

await mochaGlobalSetup();
const h = await createHarness();
try {
  const twoDaysAgo = new Date(Date.now() - 48 * 3_600_000);
  for (let id = 1; id <= PEOPLE; id++) h.sim.addPerson(id, 'Lead', twoDaysAgo);
  h.sim.latencyMs = LATENCY_MS;

  const poller = h.newPoller();
  const timed = async (full: boolean) => {
    const started = performance.now();
    const result = await poller.runOnce({ full });
    if (result.status !== 'succeeded') throw new Error(`poll ${result.status}`);
    return { ms: performance.now() - started, calls: result.counts.api_calls, inserted: result.counts.changes_inserted };
  };

  const backfill = await timed(true); // first run: everyone once
  // The last successful poll was 30 minutes ago; 100 people moved since.
  await h.tdb.db.updateTable('poll_runs').set({ complete_as_of: new Date(Date.now() - 30 * 60_000) }).execute();
  for (let i = 0; i < CHANGED; i++) h.sim.movePerson(1 + i * 97, 'ACQ - Qualified', new Date(Date.now() - 10 * 60_000 + i));

  const incremental = await timed(false);
  for (let i = 0; i < CHANGED; i++) h.sim.movePerson(2 + i * 97, 'ACQ - Offers Made', new Date(Date.now() - 60_000 + i));
  const fullScan = await timed(true);

  const row = (name: string, r: { ms: number; calls: number; inserted: number }) =>
    `| ${name} | ${r.calls} | ${(r.ms / 1000).toFixed(2)} s | ${r.inserted} |`;
  const lines = [
    `${PEOPLE.toLocaleString('en-US')} people in the FUB simulator answering each call in ${LATENCY_MS} ms; ${CHANGED} people changed since the last poll.`,
    `Machine: ${cpus().length} cores, Node ${process.version}, PostgreSQL ${(await h.tdb.db.selectNoFrom((eb) => eb.fn<string>('current_setting', [eb.val('server_version')]).as('v')).executeTakeFirstOrThrow()).v}. Run: \`npm run bench:poller\`, ${new Date().toISOString().slice(0, 10)}.`,
    '',
    '| poll | API calls | wall time | changes recorded |',
    '|---|---|---|---|',
    row('incremental (this poller)', incremental),
    row('full scan (baseline: every page, every run)', fullScan),
    row('first run / backfill (once)', backfill),
    '',
    `Incremental vs full scan: **${(fullScan.calls / incremental.calls).toFixed(0)}x fewer API calls**, ` +
      `**${(fullScan.ms / incremental.ms).toFixed(0)}x less wall time**, the same ${CHANGED} changes found.`,
  ];
  console.log(lines.join('\n'));
  if (incremental.inserted !== CHANGED || fullScan.inserted !== CHANGED) throw new Error('a poll missed changes');
  await writeBenchmarkSection('Poller: API calls and wall time per poll', lines.join('\n'));
} finally {
  await h.close();
  await mochaGlobalTeardown();
}
