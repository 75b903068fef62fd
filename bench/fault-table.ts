// `npm run bench:faults`: runs the fault tests and writes docs/BENCHMARKS.md's fault table from the
// figures they report (tests/support/fault-figures.ts), so the table is what the tests measured.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FaultFigures } from '../tests/support/fault-figures.js';
import { writeBenchmarkSection } from './report.js';

const TESTS = [
  'tests/crash-recovery.test.ts',
  'tests/fault-database-outage.test.ts',
  'tests/fault-fub-api.test.ts',
  'tests/fault-fuzz.test.ts',
  'tests/fault-replicas.test.ts',
  'tests/soak.test.ts',
];

const file = join(mkdtempSync(join(tmpdir(), 'fault-figures-')), 'figures.jsonl');
const run = spawnSync('npx', ['mocha', ...TESTS], { stdio: 'inherit', env: { ...process.env, FAULT_FIGURES: file } });
if (run.status !== 0) throw new Error(`the fault tests failed (exit ${run.status}): the table is left as it was`);
const figures = existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as FaultFigures) : [];
const missing = TESTS.filter((t) => !figures.some((f) => f.test === t));
if (missing.length > 0) throw new Error(`no figures from ${missing.join(', ')}`);

const n = (v: number) => v.toLocaleString('en-US');
const lines = [
  `Figures reported by the fault tests themselves, written here by \`npm run bench:faults\` (${new Date().toISOString().slice(0, 10)}, this machine).`,
  'Every acknowledged webhook must end stored and processed once, and every move it reported recorded once; each test fails otherwise.',
  '',
  '| fault | sent | acknowledged | processed | lost | duplicated | test |',
  '|---|---|---|---|---|---|---|',
  ...figures.map((f) => `| ${f.fault} | ${n(f.sent)} | ${f.acknowledged} | ${f.processed} | ${f.lost} | ${f.duplicated} | \`${f.test}\` |`),
  '',
  'The database-outage test found a real crash (a pooled connection dying between queries emitted an',
  'unhandled `error`), fixed in the same change.',
];
await writeBenchmarkSection('Fault tests (in the test suite)', lines.join('\n'));
console.log(lines.join('\n'));
