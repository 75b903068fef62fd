// A poll's read of a person fitted into their history, over 1,000,000 existing stage_changes rows
// (and as many stored reports): the core stores the read and rebuilds the person's history from
// every report about them. Half the reads are explained by the history already (the stage the person
// is in: nothing is written), half show a move no webhook reported (one row is inferred). Beside a
// plain one-row INSERT in its own transaction, alternated with it after a warm-up, and the plans of
// the statements a rebuild runs.
import { sql } from 'kysely';
import type { Db } from '../src/shared/db/database.js';
import type { SnapshotEvidence } from '../src/shared/stages/evidence.js';
import { recordPersonReports } from '../src/shared/stages/record-person-reports.js';
import { createTestDatabase } from '../tests/support/test-database.js';
import { writeBenchmarkSection } from './report.js';
import { machineLine, percentile, ratio, withPostgres } from './support.js';

const EXISTING = Number(process.env.BENCH_ROWS ?? 1_000_000);
const PEOPLE = 20_000;
const PER_PERSON = Math.floor(EXISTING / PEOPLE);
const ROUNDS = 1500;
const WARM_UP = 200;
const DAY0 = Date.parse('2024-01-01T00:00:00Z');

/** Person p's k-th stage (consecutive stages always differ). */
const stageOf = (p: number, k: number): string => `S${(p + k) % 7}`;

await withPostgres(async () => {
  const tdb = await createTestDatabase();
  try {
    const { db } = tdb;
    await seed(db);

    let nextPerson = 0;
    const read = (kind: 'hit' | 'miss', i: number): { personId: number; evidence: SnapshotEvidence[] } => {
      const p = (nextPerson++ % PEOPLE) + 1;
      const last = stageOf(p, PER_PERSON - 1);
      const stage = kind === 'hit' ? last : stageOf(p, PER_PERSON);
      // Read after the last move: FUB's `updated` a little later each time, so each read is new.
      const at = new Date(DAY0 + PER_PERSON * 86_400_000 + p * 1000 + i * 1000);
      return {
        personId: p,
        evidence: [{ kind: 'snapshot', at, stage: { id: null, name: stage }, readAt: at, personCreatedAt: null, source: 'polling', eventId: null, receivedAt: new Date() }],
      };
    };
    const timed = async (work: () => Promise<unknown>): Promise<number> => {
      const started = performance.now();
      await work();
      return performance.now() - started;
    };
    const plainInsert = (i: number) =>
      db.transaction().execute((trx) =>
        trx.insertInto('stage_changes').values({
          person_id: PEOPLE + 1 + i, stage_from: 'S1', stage_to: 'S2', changed_at: new Date(DAY0 + i * 1000), received_at: new Date(),
          source: 'polling', event_id: null, first_name: null, last_name: null, assigned_user_id: null, assigned_user_name: null,
        }).execute(),
      );
    const core = (kind: 'hit' | 'miss', i: number) => db.transaction().execute((trx) => recordPersonReports(trx, read(kind, i)));

    const plain: number[] = [];
    const hits: number[] = [];
    const misses: number[] = [];
    let written = 0;
    for (let i = 0; i < WARM_UP + ROUNDS; i++) {
      const p = await timed(() => plainInsert(i));
      const h = await timed(() => core('hit', i));
      let inserted = 0;
      const m = await timed(async () => {
        inserted = (await core('miss', i)).inserted.length;
      });
      if (i < WARM_UP) continue;
      written += inserted;
      plain.push(p);
      hits.push(h);
      misses.push(m);
    }
    if (written !== ROUNDS) throw new Error(`expected one inferred row per miss, got ${written} for ${ROUNDS}`);
    for (const xs of [plain, hits, misses]) xs.sort((a, b) => a - b);

    const plans = await explainRebuild(db, 4242);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const row = (name: string, xs: number[]) =>
      `| ${name} | ${mean(xs).toFixed(3)} ms | ${percentile(xs, 50).toFixed(3)} ms | ${percentile(xs, 99).toFixed(3)} ms | ${ratio(mean(xs), mean(plain))} |`;
    const lines = [
      `${EXISTING.toLocaleString('en-US')} existing rows and as many stored reports (${PEOPLE.toLocaleString('en-US')} people, ${PER_PERSON} moves each); ` +
        `${ROUNDS} rounds after ${WARM_UP} of warm-up, each round one plain insert, one read already explained and one read showing a missed move, ` +
        `each in its own transaction. ${await machineLine(db, 'npm run bench:record')}`,
      '',
      '| operation | mean | p50 | p99 | vs plain |',
      '|---|---|---|---|---|',
      row('plain one-row `INSERT` (baseline)', plain),
      row('poll read explained by the history (stored, rebuilt, nothing written)', hits),
      row('poll read showing a missed move (stored, rebuilt, one row inferred)', misses),
      '',
      `A rebuild reads the person's reports and rows by index (\`EXPLAIN (ANALYZE, BUFFERS)\`, person with ${PER_PERSON} of each):`,
      '',
      '```',
      plans,
      '```',
    ];
    console.log(lines.join('\n'));
    await writeBenchmarkSection("A poll's read fitted into 1,000,000 rows of history", lines.join('\n'));
  } finally {
    await tdb.destroy();
  }
});

/** 20,000 people with PER_PERSON moves a day apart: the reports, the rows they rebuild to, and the people. */
async function seed(db: Db): Promise<void> {
  const n = PEOPLE * PER_PERSON;
  await sql`
    INSERT INTO stage_evidence (person_id, kind, at, stage, source, event_id, received_at)
    SELECT g % ${PEOPLE} + 1, 'move', ${new Date(DAY0)}::timestamptz + (g / ${PEOPLE}) * interval '1 day' + (g % ${PEOPLE} + 1) * interval '1 second',
           'S' || ((g % ${PEOPLE} + 1 + g / ${PEOPLE}) % 7), 'webhook_peopleStageUpdated', 'e' || g, now()
    FROM generate_series(0, ${n - 1}) AS g`.execute(db);
  await sql`
    INSERT INTO stage_changes (person_id, kind, stage_from, stage_to, changed_at, seq, received_at, source, event_id)
    SELECT person_id, 'move', lag(stage) OVER (PARTITION BY person_id ORDER BY at), stage, at, 0, received_at, source, event_id
    FROM stage_evidence`.execute(db);
  await sql`
    INSERT INTO people (person_id, stage, stage_changed_at)
    SELECT DISTINCT ON (person_id) person_id, stage_to, changed_at FROM stage_changes ORDER BY person_id, changed_at DESC`.execute(db);
  await sql`ANALYZE`.execute(db);
}

async function explainRebuild(db: Db, personId: number): Promise<string> {
  const explain = async (query: ReturnType<typeof sql>) => (await sql<{ 'QUERY PLAN': string }>`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF) ${query}`.execute(db)).rows.map((r) => r['QUERY PLAN']).join('\n');
  const evidence = await explain(sql`
    SELECT e.kind, e.at, e.stage, coalesce(e.stage_id, n.stage_id) AS stage_id, e.read_at, e.person_created_at,
           e.source, e.event_id, e.received_at, (SELECT watching_since FROM collector_state) AS watching_since
    FROM stage_evidence e LEFT JOIN stage_names n ON n.name = e.stage
    WHERE e.person_id = ${personId}`);
  const rows = await explain(sql`SELECT * FROM stage_changes WHERE person_id = ${personId} ORDER BY changed_at, seq`);
  for (const [what, plan, index] of [['reports', evidence, 'stage_evidence_person_idx'], ['rows', rows, 'stage_changes_person_order_key']] as const) {
    if (!plan.includes(index)) throw new Error(`the rebuild's read of ${what} does not use ${index}:\n${plan}`);
  }
  return `-- the person's reports\n${evidence}\n\n-- the person's rows\n${rows}`;
}
