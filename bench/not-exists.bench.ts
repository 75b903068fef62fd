// The poller's guarded insert (INSERT … SELECT … WHERE NOT EXISTS same person and stage within
// ±5 minutes) against 1,000,000 existing stage_changes rows: time per insert beside a plain INSERT
// in the same run, and the query plan showing the index it uses.
import { sql } from 'kysely';
import { insertStageChange, insertStageChangeUnlessNear } from '../src/shared/stages/stage-changes.repository.js';
import { createTestDatabase } from '../tests/support/test-database.js';
import { writeBenchmarkSection } from './report.js';
import { machineLine, percentile, ratio, withPostgres } from './support.js';

const EXISTING = Number(process.env.BENCH_ROWS ?? 1_000_000);
const INSERTS = 2000;

await withPostgres(async () => {
  const tdb = await createTestDatabase();
  try {
    const { db } = tdb;
    // 20,000 people with 50 changes each, a day apart per person.
    await sql`
      INSERT INTO stage_changes (person_id, stage_from, stage_to, changed_at, confirmed_at, received_at, source)
      SELECT g % 20000 + 1, 'S' || (g % 7), 'S' || ((g + 1) % 7),
             timestamptz '2024-01-01' + (g / 20000) * interval '1 day' + (g % 20000) * interval '1 second',
             timestamptz '2024-01-01' + (g / 20000) * interval '1 day' + (g % 20000) * interval '1 second',
             now(), 'webhook_peopleStageUpdated'
      FROM generate_series(0, ${EXISTING - 1}) AS g`.execute(db);
    await sql`ANALYZE stage_changes`.execute(db);

    const change = (i: number) => {
      const at = new Date(Date.parse('2026-06-01T00:00:00Z') + i * 1000);
      return {
        person_id: (i % 20000) + 1, stage_from: 'S1', stage_to: `T${i % 5}`, changed_at: at, confirmed_at: at,
        received_at: at, source: 'polling', event_id: null, first_name: null, last_name: null, assigned_user_id: null, assigned_user_name: null,
      };
    };
    const time = async (insert: (i: number) => Promise<unknown>, offset: number) => {
      const ms: number[] = [];
      for (let i = 0; i < INSERTS; i++) {
        const started = performance.now();
        await insert(offset + i);
        ms.push(performance.now() - started);
      }
      return ms.sort((a, b) => a - b);
    };
    const plain = await time((i) => db.transaction().execute((trx) => insertStageChange(trx, change(i))), 0);
    const guarded = await time((i) => db.transaction().execute((trx) => insertStageChangeUnlessNear(trx, change(i), 300)), 100_000);

    const plan = await sql<{ 'QUERY PLAN': string }>`
      EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
      SELECT 1 FROM stage_changes s
      WHERE s.person_id = 42 AND s.stage_to = 'S3'
        AND s.changed_at BETWEEN timestamptz '2024-01-20' - interval '5 minutes' AND timestamptz '2024-01-20' + interval '5 minutes'`.execute(db);
    const planText = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    if (!/Index (Only )?Scan using stage_changes_person_stage_changed_idx/.test(planText)) throw new Error(`guard does not use its index:\n${planText}`);

    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const lines = [
      `${EXISTING.toLocaleString('en-US')} existing rows (20,000 people); ${INSERTS} inserts of each kind, one transaction each. ${await machineLine(db, 'npm run bench:not-exists')}`,
      '',
      '| insert | mean | p50 | p99 | vs plain |',
      '|---|---|---|---|---|',
      `| plain \`INSERT\` (baseline) | ${mean(plain).toFixed(3)} ms | ${percentile(plain, 50).toFixed(3)} ms | ${percentile(plain, 99).toFixed(3)} ms | 1.00x |`,
      `| guarded \`INSERT … SELECT … WHERE NOT EXISTS\` (±5 min, adjacent rows) | ${mean(guarded).toFixed(3)} ms | ${percentile(guarded, 50).toFixed(3)} ms | ${percentile(guarded, 99).toFixed(3)} ms | ${ratio(mean(guarded), mean(plain))} |`,
      '',
      'The guard\'s lookup (`EXPLAIN ANALYZE`):',
      '',
      '```',
      planText,
      '```',
    ];
    console.log(lines.join('\n'));
    await writeBenchmarkSection('The ±5-minute NOT EXISTS insert over 1,000,000 rows', lines.join('\n'));
  } finally {
    await tdb.destroy();
  }
});
