// Each dashboard table over 1,000,000 stage_changes rows and 50,000 people, read through the API's
// own path (loadTable: the monitoring/ file with its parameters, in BUSINESS_TIMEZONE), p95 of
// repeated runs after a warm-up; beside the same question answered by a plain scan: the same file
// told to read stage_changes itself instead of its rollups (fub.plain = on) with index scans off, so
// PostgreSQL reads the whole table: what the question costs without rollups and indexes.
import { sql } from 'kysely';
import { loadTable } from '../src/dashboard/dashboard-tables.js';
import { createDb, type Db } from '../src/shared/db/database.js';
import { createLogger } from '../src/shared/logger.js';
import { foldAllRollups, useRollupZone } from '../src/shared/rollups/rollup-upkeep.js';
import { createTestDatabase } from '../tests/support/test-database.js';
import { writeBenchmarkSection } from './report.js';
import { machineLine, percentile, ratio, withPostgres } from './support.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const PEOPLE = 50_000;
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const ZONE = 'America/Chicago';

const CASES: [string, string, string][] = [
  ['Pipeline, 30 days per day', 'pipeline', 'days=30'],
  ['Pipeline, 365 days per week', 'pipeline', 'days=365&bucket=week'],
  ['Pipeline, 90 days, one stage', 'pipeline', 'days=90&stages=3'],
  ['Conversion, 90 days', 'conversion', 'days=90&a=2&b=3'],
  ['Time in stage, 90 days', 'time_in_stage', 'days=90'],
  ['Recent moves, page 1', 'recent_moves', ''],
  ['Recent moves, page 20', 'recent_moves', 'page=20'],
  ['Recent moves, name search', 'recent_moves', 'search=Lead4242'],
  ['By agent, 90 days', 'by_agent', 'days=90'],
  ['By lead source, 90 days', 'by_lead_source', 'days=90'],
  ['Health: source health', 'source_health', ''],
];

async function seed(db: Db): Promise<void> {
  const perPerson = Math.floor(ROWS / PEOPLE);
  await sql`INSERT INTO stages (stage_id, name) SELECT i, 'Stage ' || i FROM generate_series(1, 10) i`.execute(db);
  // Each person's rows 7 to 27 hours apart (17 on average; stays of many lengths), starting on a day of the last year; the first is a
  // first sighting for half of them.
  await sql`
    INSERT INTO stage_changes (person_id, first_name, last_name, kind, stage_from, stage_from_id, stage_to, stage_to_id, changed_at, seq,
                               received_at, source, event_id, assigned_user_id, assigned_user_name, lead_source)
    SELECT p, 'First', 'Lead' || p, CASE WHEN k = 0 AND p % 2 = 0 THEN 'first_seen' WHEN k = 0 THEN 'created' ELSE 'move' END,
           CASE WHEN k > 0 THEN 'Stage ' || ((p + k - 1) % 10 + 1) END, CASE WHEN k > 0 THEN (p + k - 1) % 10 + 1 END,
           'Stage ' || ((p + k) % 10 + 1), (p + k) % 10 + 1, t, 0, t,
           CASE WHEN k % 5 = 0 THEN 'polling' ELSE 'webhook_peopleStageUpdated' END, 'e' || p || '-' || k,
           p % 12, 'Agent ' || (p % 12), (ARRAY['Zillow', 'Referral', 'Website', 'Open House', 'Facebook', 'Realtor.com'])[p % 6 + 1]
    FROM generate_series(1, ${PEOPLE}) p, generate_series(0, ${perPerson - 1}) k,
         LATERAL (SELECT now() - interval '365 days' + ((p * 7919) % 350) * interval '1 day' + k * interval '17 hours' + (hashint4(p * 1000 + k)::bigint % 601 + 601) % 601 * interval '1 minute' + (p % 97) * interval '1 second' AS t) x`.execute(db);
  await sql`
    INSERT INTO people (person_id, first_name, last_name, stage, stage_id, stage_changed_at, assigned_user_name, lead_source)
    SELECT DISTINCT ON (person_id) person_id, first_name, last_name, stage_to, stage_to_id, changed_at, assigned_user_name, lead_source
    FROM stage_changes ORDER BY person_id, changed_at DESC`.execute(db);
  // As autovacuum leaves a table after a million new rows (and their left_at set).
  await sql`VACUUM ANALYZE`.execute(db);
}

async function timeRuns(db: Db, table: string, query: string, runs: number): Promise<{ p95: number; rows: number }> {
  const times: number[] = [];
  let rows = 0;
  for (let i = 0; i < runs + 2; i++) {
    const start = process.hrtime.bigint();
    rows = (await loadTable(db, table, new URLSearchParams(query), ZONE)).rows.length;
    if (i >= 2) times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return { p95: percentile(times.sort((a, b) => a - b), 95), rows };
}

await withPostgres(async () => {
  const tdb = await createTestDatabase();
  const url = new URL(tdb.url);
  url.searchParams.set('options', '-c enable_indexscan=off -c enable_bitmapscan=off -c enable_indexonlyscan=off -c fub.plain=on');
  const scanDb = createDb(url.toString(), { max: 2, statementTimeoutMs: 600_000 });
  try {
    // As the service does at start: rollups count in the business zone, folded every minute.
    await useRollupZone(tdb.db, ZONE, createLogger('warn'));
    const seeded = Date.now();
    await seed(tdb.db);
    const folding = Date.now();
    await foldAllRollups(tdb.db);
    console.log(`seeded ${ROWS} rows in ${Math.round((folding - seeded) / 1000)} s, rollups folded in ${Math.round((Date.now() - folding) / 1000)} s`);
    const lines = ['| Table | rows shown | p95 (rollups, indexes) | p95 (plain scan) | scan / indexed |', '|---|---:|---:|---:|---:|'];
    for (const [label, table, query] of CASES) {
      const indexed = await timeRuns(tdb.db, table, query, RUNS);
      const scan = await timeRuns(scanDb, table, query, Math.max(3, Math.floor(RUNS / 4)));
      const line = `| ${label} | ${indexed.rows} | ${indexed.p95.toFixed(1)} ms | ${scan.p95.toFixed(1)} ms | ${ratio(scan.p95, indexed.p95)} |`;
      console.log(line);
      lines.push(line);
    }
    const body = [
      `Each dashboard table read through the API's path (\`loadTable\`: the monitoring/ file with its parameters, in ${ZONE}) over ${ROWS.toLocaleString('en-US')} stage_changes rows and ${PEOPLE.toLocaleString('en-US')} people spread over a year; p95 of ${RUNS} runs after 2 warm-up runs, after VACUUM ANALYZE (as autovacuum leaves the table), rollups folded; beside the same question read from stage_changes itself (\`fub.plain = on\`) with index scans turned off: a plain scan of the table.`,
      '',
      ...lines,
      '',
      await machineLine(tdb.db, 'npm run bench:dashboard'),
    ].join('\n');
    if (process.env.BENCH_WRITE === '1') await writeBenchmarkSection('Dashboard queries', body);
    console.log(`\n## Dashboard queries\n\n${body}`);
  } finally {
    await scanDb.destroy();
    await tdb.destroy();
  }
});
