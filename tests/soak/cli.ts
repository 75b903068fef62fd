// `npm run soak -- --minutes N [--seed S]`: the soak for N minutes of streaming, against PostgreSQL
// found the way the benches find it. Prints the figures; exits 1 when a check fails.
import { parseArgs } from 'node:util';
import { withPostgres } from '../../bench/support.js';
import { formatFigures, runSoak, type SoakReport } from './run-soak.js';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, seed: { type: 'string' } } });
const minutes = Number(values.minutes);
if (!(minutes > 0)) {
  console.error(`--minutes must be a positive number (got "${values.minutes}")`);
  process.exit(2);
}

let report: SoakReport | undefined;
await withPostgres(async () => {
  report = await runSoak({
    streamMs: minutes * 60_000,
    ...(values.seed !== undefined ? { seed: Number(values.seed) } : {}),
    progress: (message) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}`),
  });
});
const { figures, checks, crashes, passed } = report!;
console.log(formatFigures(figures));
console.log(JSON.stringify(figures, null, 2));
for (const m of checks.missing.slice(0, 20)) console.log(`missing reported move: ${JSON.stringify(m)}`);
for (const o of checks.overCounted.slice(0, 20)) console.log(`over-counted stage: ${JSON.stringify(o)}`);
for (const w of checks.wrongLast.slice(0, 20)) console.log(`wrong last stage: ${JSON.stringify(w)}`);
for (const c of crashes) console.log(`webhook server crashed: ${JSON.stringify(c)}`);
console.log(passed ? 'soak: PASSED' : 'soak: FAILED');
process.exit(passed ? 0 : 1);
