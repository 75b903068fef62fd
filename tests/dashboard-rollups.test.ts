import { expect } from 'chai';
import { sql } from 'kysely';
import type { Db } from '../src/shared/db/database.js';
import { runMonitoringQuery, type MonitoringQuery } from '../src/shared/monitoring.js';
import { foldAllRollups, useRollupZone } from '../src/shared/rollups/rollup-upkeep.js';
import { foldRollups, rebuildRollups } from '../src/shared/rollups/rollups.repository.js';
import type { Evidence } from '../src/shared/stages/evidence.js';
import { recordPersonReports } from '../src/shared/stages/record-person-reports.js';
import { testLogger } from './support/harness.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

// The rollups must give exactly what the rows give. Random histories (ROLLUP_SEED picks others) are
// written every way stage_changes is written: inserts; a rebuild's delete, update and insert in one
// statement (rows moved in time, re-kinded, re-staged); bulk updates of agents and stage ids; whole
// people deleted; and the recording core itself. Then each question is asked both ways (fub.plain =
// on reads the rows) in zones whose days begin on the half or quarter hour, before and after folding.

const SEED = Number(process.env.ROLLUP_SEED ?? 12);
const ZONES = ['America/Chicago', 'Asia/Kolkata', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'America/St_Johns', 'Etc/UTC'];
const SPAN = { first: Date.parse('2026-02-25T00:00:00Z'), days: 60 };
const DAY = 86_400_000;
/** Stages rows name: ids in `stages`, id 7 under two names but not in `stages`, names without an id. */
const STAGE_REFS: [number | null, string][] = [[1, 'Lead'], [2, 'Qualified'], [3, 'Offer'], [4, 'Closed'], [7, 'Seven'], [7, 'Seven renamed'], [null, 'Legacy'], [null, 'Walk-in']];
const STAGE_KEYS = ['1', '2', '3', '4', '7', '8', 'Legacy', 'Walk-in'];
const SOURCES = ['polling', 'webhook_peopleStageUpdated', 'webhook_peopleCreated', 'backfill'];
const AGENTS = [null, 'Ann', 'Bob', '(no agent)'];
const LEAD_SOURCES = [null, 'Zillow', 'Referral'];
/** UTC minutes at which some zone's day begins: moments on either side of them are where day counts go wrong. */
const MIDNIGHTS_UTC = [0, 18 * 60 + 30, 18 * 60 + 15, 13 * 60 + 30, 13 * 60, 6 * 60, 5 * 60, 3 * 60 + 30, 2 * 60 + 30];

type Rng = () => number;
function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;

interface Row {
  id?: number;
  kind: 'move' | 'created' | 'first_seen';
  stage: [number | null, string];
  at: number;
  source: string;
  agent: string | null;
  leadSource: string | null;
}

/** A moment in the span: often a second or a minute either side of some zone's midnight. */
function moment(rng: Rng): number {
  const day = SPAN.first + Math.floor(rng() * SPAN.days) * DAY;
  if (rng() < 0.4) return day + pick(rng, MIDNIGHTS_UTC) * 60_000 + pick(rng, [-60_000, -1000, 0, 1000, 60_000]);
  return day + Math.floor(rng() * DAY / 1000) * 1000;
}

/** A stay's length: the same second, seconds, minutes, hours or weeks; sometimes exactly 17 hours (ties). */
function gap(rng: Rng): number {
  const r = rng();
  if (r < 0.1) return 0;
  if (r < 0.2) return 17 * 3_600_000;
  return Math.floor(Math.exp(rng() * Math.log(30 * DAY / 1000))) * 1000;
}

function randomRow(rng: Rng, at: number, first: boolean): Row {
  const kind = first ? pick(rng, ['first_seen', 'created', 'move'] as const) : rng() < 0.05 ? 'first_seen' : 'move';
  return { kind, stage: pick(rng, STAGE_REFS), at, source: pick(rng, SOURCES), agent: pick(rng, AGENTS), leadSource: pick(rng, LEAD_SOURCES) };
}

function randomHistory(rng: Rng): Row[] {
  const rows: Row[] = [];
  let at = moment(rng);
  for (let i = 0, n = Math.floor(rng() * 12); i < n; i++) {
    rows.push(randomRow(rng, at, i === 0));
    at += gap(rng);
  }
  return rows;
}

/** Rows in time order with seq counting within one second, as the table's order key wants them. */
function sequenced(rows: Row[]): (Row & { seq: number })[] {
  const sorted = [...rows].sort((a, b) => a.at - b.at);
  return sorted.map((row, i) => {
    let seq = 0;
    while (i - seq - 1 >= 0 && sorted[i - seq - 1]!.at === row.at) seq++;
    return { ...row, seq };
  });
}

async function insertPeople(db: Db, people: [number, Row[]][]): Promise<void> {
  const values = people.flatMap(([personId, rows]) =>
    sequenced(rows).map((r) => ({
      person_id: personId,
      first_name: `P${personId}`,
      last_name: 'Test',
      kind: r.kind,
      stage_to: r.stage[1],
      stage_to_id: r.stage[0],
      changed_at: new Date(r.at),
      seq: r.seq,
      received_at: new Date(r.at),
      source: r.source,
      assigned_user_name: r.agent,
      lead_source: r.leadSource,
    })),
  );
  if (values.length > 0) await db.insertInto('stage_changes').values(values).execute();
}

async function readPerson(db: Db, personId: number): Promise<Row[]> {
  const rows = await db.selectFrom('stage_changes').selectAll().where('person_id', '=', personId).orderBy('changed_at').orderBy('seq').execute();
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    stage: [r.stage_to_id, r.stage_to],
    at: r.changed_at.getTime(),
    source: r.source,
    agent: r.assigned_user_name,
    leadSource: r.lead_source,
  }));
}

/**
 * A rebuild as writePersonHistory writes it, in one statement: some rows removed, some revised (moved
 * in time, another kind, stage, source, agent), some added.
 */
async function rewritePerson(db: Db, rng: Rng, personId: number): Promise<void> {
  const kept: Row[] = [];
  const removed: number[] = [];
  for (const row of await readPerson(db, personId)) {
    if (rng() < 0.25) removed.push(row.id!);
    else if (rng() < 0.5) kept.push({ ...randomRow(rng, rng() < 0.5 ? row.at : row.at + gap(rng) - gap(rng), false), id: row.id });
    else kept.push(row);
  }
  const start = kept[0]?.at ?? moment(rng);
  const added = Array.from({ length: Math.floor(rng() * 4) }, () => randomRow(rng, start + gap(rng) + gap(rng), false));
  const rows = sequenced([...kept, ...added]);
  const revise = rows.filter((r) => r.id !== undefined);
  const insert = rows.filter((r) => r.id === undefined);
  const col = <T>(list: typeof rows, f: (r: (typeof rows)[number]) => T): T[] => list.map(f);
  await sql`
    WITH removed AS (
      DELETE FROM stage_changes WHERE id = ANY(${removed}::bigint[])
    ), revised AS (
      UPDATE stage_changes s SET kind = u.kind, stage_to = u.stage_to, stage_to_id = u.stage_to_id, changed_at = u.changed_at, seq = u.seq,
        source = u.source, assigned_user_name = u.agent, lead_source = u.lead_source
      FROM unnest(${col(revise, (r) => r.id)}::bigint[], ${col(revise, (r) => r.kind)}::text[], ${col(revise, (r) => r.stage[1])}::text[],
                  ${col(revise, (r) => r.stage[0])}::bigint[], ${col(revise, (r) => new Date(r.at))}::timestamptz[], ${col(revise, (r) => r.seq)}::smallint[],
                  ${col(revise, (r) => r.source)}::text[], ${col(revise, (r) => r.agent)}::text[], ${col(revise, (r) => r.leadSource)}::text[])
        AS u(id, kind, stage_to, stage_to_id, changed_at, seq, source, agent, lead_source)
      WHERE s.id = u.id
    )
    INSERT INTO stage_changes (person_id, kind, stage_to, stage_to_id, changed_at, seq, received_at, source, assigned_user_name, lead_source)
    SELECT ${personId}, * FROM unnest(${col(insert, (r) => r.kind)}::text[], ${col(insert, (r) => r.stage[1])}::text[], ${col(insert, (r) => r.stage[0])}::bigint[],
      ${col(insert, (r) => new Date(r.at))}::timestamptz[], ${col(insert, (r) => r.seq)}::smallint[], ${col(insert, (r) => new Date(r.at))}::timestamptz[],
      ${col(insert, (r) => r.source)}::text[], ${col(insert, (r) => r.agent)}::text[], ${col(insert, (r) => r.leadSource)}::text[])`.execute(db);
}

/** Reports about a person through the recording core, in random order: later ones rebuild earlier rows. */
async function reportThroughCore(db: Db, rng: Rng, personId: number): Promise<void> {
  const evidence: Evidence[] = [];
  let at = moment(rng);
  for (let i = 0, n = 1 + Math.floor(rng() * 5); i < n; i++) {
    const [id, name] = pick(rng, STAGE_REFS.slice(0, 4));
    const source = pick(rng, SOURCES.slice(0, 2));
    evidence.push(
      rng() < 0.7
        ? { kind: 'move', at: new Date(at), stage: { id: rng() < 0.5 ? id : null, name }, source, eventId: `core-${personId}-${i}-${at}`, receivedAt: new Date(at) }
        : { kind: 'snapshot', at: new Date(at), stage: { id, name }, source: 'polling', readAt: new Date(at + 1000), personCreatedAt: null, eventId: null, receivedAt: new Date(at) },
    );
    at += Math.max(1000, gap(rng));
  }
  evidence.sort(() => rng() - 0.5);
  for (let i = 0; i < evidence.length; ) {
    const batch = evidence.slice(i, (i += 1 + Math.floor(rng() * 2)));
    await db.transaction().execute((trx) => recordPersonReports(trx, { personId, evidence: batch, details: { assignedUserName: pick(rng, AGENTS), leadSource: pick(rng, LEAD_SOURCES) } }));
  }
}

/** One random write of any kind the table sees (`alone`: also updates across everyone's rows). */
async function randomWrite(db: Db, rng: Rng, people: number[], nextPerson: () => number, alone = true): Promise<void> {
  const r = alone ? rng() : rng() * 0.85;
  if (r < 0.25) {
    const batch = Array.from({ length: 1 + Math.floor(rng() * 4) }, () => nextPerson());
    await insertPeople(db, batch.map((p) => [p, randomHistory(rng)]));
    people.push(...batch);
  } else if (r < 0.7 && people.length > 0) {
    await rewritePerson(db, rng, pick(rng, people));
  } else if (r < 0.8) {
    const personId = 100_000 + Math.floor(rng() * 30);
    await reportThroughCore(db, rng, personId);
  } else if (r < 0.85 && people.length > 0) {
    await sql`DELETE FROM stage_changes WHERE person_id = ${pick(rng, people)}`.execute(db);
  } else if (r < 0.9) {
    // A person's agent learned later, for every row recorded without one (fillMissingDetails).
    await sql`UPDATE stage_changes SET assigned_user_name = ${pick(rng, ['Cy', 'Dee'])} WHERE assigned_user_name IS NULL AND person_id % 5 = ${Math.floor(rng() * 5)}`.execute(db);
  } else if (r < 0.93) {
    // A name-only stage gets its id (saveStageNames), and back for the next round.
    await sql`UPDATE stage_changes SET stage_to_id = CASE WHEN stage_to_id IS NULL THEN 8 END WHERE stage_to = 'Legacy' AND person_id % 2 = ${Math.floor(rng() * 2)}`.execute(db);
  } else if (r < 0.96) {
    // Columns no rollup reads: nothing to add.
    await sql`UPDATE stage_changes SET first_name = first_name || 'x', received_at = received_at + interval '1 second' WHERE person_id % 7 = ${Math.floor(rng() * 7)}`.execute(db);
  } else {
    await foldRollups(db, 1 + Math.floor(rng() * 40));
  }
}

function day(offset: number): string {
  return new Date(SPAN.first + offset * DAY).toISOString().slice(0, 10);
}

/** The questions asked of the rollups: arrivals per day and week in every grouping, and time in stage, over random ranges. */
function questions(rng: Rng): [MonitoringQuery, Record<string, string>][] {
  const ranges: [string, string][] = [[day(-3), day(SPAN.days + 3)]];
  for (let i = 0; i < 4; i++) {
    const from = Math.floor(rng() * SPAN.days);
    ranges.push([day(from), day(from + Math.floor(rng() * (i === 0 ? 1 : 20)))]);
  }
  const asked: [MonitoringQuery, Record<string, string>][] = [];
  for (const [from, to] of ranges) {
    for (const group_by of ['none', 'agent', 'lead_source']) {
      for (const bucket of ['day', 'week']) {
        const stages = rng() < 0.3 ? STAGE_KEYS.filter(() => rng() < 0.4).join(',') : '';
        asked.push(['stage_changes_per_day', { from, to, group_by, bucket, stages }]);
      }
    }
    asked.push(['time_in_stage', { from, to }]);
  }
  asked.push(['time_in_stage', {}]);
  return asked;
}

const canonical = (rows: unknown[]): string[] => rows.map((r) => JSON.stringify(r)).sort();

async function expectRollupsExact(db: Db, rng: Rng, zone: string, label: string): Promise<number> {
  let compared = 0;
  for (const [query, params] of questions(rng)) {
    const rolled = await runMonitoringQuery(db, query, { timeZone: zone, params });
    const plain = await runMonitoringQuery(db, query, { timeZone: zone, params: { ...params, plain: 'on' } });
    expect(canonical(rolled), `${label}: ${query} ${JSON.stringify(params)}`).to.deep.equal(canonical(plain));
    compared += plain.length;
  }
  const { rows } = await sql<{ wrong: number }>`
    SELECT count(*)::int AS wrong FROM (
      SELECT left_at IS DISTINCT FROM lead(changed_at) OVER (PARTITION BY person_id ORDER BY changed_at, seq) AS wrong FROM stage_changes
    ) w WHERE wrong`.execute(db);
  expect(rows[0]!.wrong, `${label}: rows whose left_at is not the person's next row`).to.equal(0);
  return compared;
}

describe('dashboard rollups answer exactly as the rows do', function () {
  this.timeout(300_000);
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createTestDatabase();
    await tdb.db.insertInto('stages').values([1, 2, 3, 4].map((id) => ({ stage_id: id, name: STAGE_REFS[id - 1]![1] }))).execute();
  });
  after(() => tdb.destroy());

  it(`over random histories and rebuilds, in zones with half- and quarter-hour offsets (seed ${SEED})`, async () => {
    const rng = mulberry32(SEED);
    const people: number[] = [];
    let next = 0;
    const nextPerson = (): number => ++next;
    for (let i = 0; i < 30; i++) await randomWrite(tdb.db, rng, people, nextPerson);
    let compared = 0;
    for (const zone of ZONES) {
      // Recounted in this zone, then kept by the triggers through more writes.
      await rebuildRollups(tdb.db, zone);
      compared += await expectRollupsExact(tdb.db, rng, zone, `${zone}, recounted`);
      for (let i = 0; i < 60; i++) await randomWrite(tdb.db, rng, people, nextPerson);
      compared += await expectRollupsExact(tdb.db, rng, zone, `${zone}, after writes`);
      await foldRollups(tdb.db, 1000);
      compared += await expectRollupsExact(tdb.db, rng, zone, `${zone}, folded`);
    }
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM arrival_counts`.execute(tdb.db);
    expect(rows[0]!.n, 'rollup rows').to.be.above(100);
    expect(compared, 'result rows compared').to.be.above(5000);
  });

  it('would notice a rollup that is off by one (the comparison can fail)', async () => {
    const zone = 'Asia/Kolkata';
    await rebuildRollups(tdb.db, zone);
    const { rows } = await sql<{ day: string; stage_to_id: number; stage_to: string }>`
      SELECT day::text, stage_to_id, stage_to FROM stay_counts WHERE bucket IS NOT NULL AND stage_to_id IS NOT NULL LIMIT 1`.execute(tdb.db);
    const { day: d, stage_to_id, stage_to } = rows[0]!;
    const range = { from: d, to: d };
    const ask = (query: MonitoringQuery, params: Record<string, string>) => runMonitoringQuery(tdb.db, query, { timeZone: zone, params });
    // One arrival too many in a group.
    await sql`INSERT INTO arrival_counts (day, stage_to_id, stage_to, group_by, grp, changes, webhook_rows, polling_rows) VALUES (${d}, ${stage_to_id}, ${stage_to}, 'lead_source', 'Zillow', 1, 0, 0)`.execute(tdb.db);
    expect(canonical(await ask('stage_changes_per_day', { ...range, group_by: 'lead_source' }))).not.to.deep.equal(
      canonical(await ask('stage_changes_per_day', { ...range, group_by: 'lead_source', plain: 'on' })),
    );
    // One completed stay of an hour too many.
    await sql`INSERT INTO stay_counts (day, stage_to_id, stage_to, bucket, stays, seconds) VALUES (${d}, ${stage_to_id}, ${stage_to}, stay_bucket(3600), 1, 3600)`.execute(tdb.db);
    await sql`INSERT INTO stay_lengths (stage_key, bucket, day, seconds, stays) VALUES (${String(stage_to_id)}, stay_bucket(3600), ${d}, 3600, 1)`.execute(tdb.db);
    expect(canonical(await ask('time_in_stage', range))).not.to.deep.equal(canonical(await ask('time_in_stage', { ...range, plain: 'on' })));
    await rebuildRollups(tdb.db, zone);
    expect(canonical(await ask('time_in_stage', range))).to.deep.equal(canonical(await ask('time_in_stage', { ...range, plain: 'on' })));
  });

  it('are recounted in the business zone once when the service starts, and folded to one row per key', async () => {
    const log = testLogger();
    await rebuildRollups(tdb.db, 'Etc/UTC');
    const ask = (plain: string) => runMonitoringQuery(tdb.db, 'stage_changes_per_day', { timeZone: 'Asia/Kathmandu', params: { from: day(0), to: day(SPAN.days), group_by: 'agent', plain } });
    expect(await useRollupZone(tdb.db, 'Asia/Kathmandu', log)).to.equal(true);
    expect(await useRollupZone(tdb.db, 'Asia/Kathmandu', log)).to.equal(false);
    const rng = mulberry32(SEED + 7);
    const people = Array.from({ length: 10 }, (_, i) => 700_000 + i);
    await insertPeople(tdb.db, people.map((p) => [p, randomHistory(rng)]));
    for (let i = 0; i < 20; i++) await rewritePerson(tdb.db, rng, pick(rng, people));
    const loose = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM arrival_counts WHERE NOT folded`.execute(tdb.db)).rows[0]!.n;
    expect(await loose(), 'rows appended by the rewrites').to.be.above(0);
    await foldAllRollups(tdb.db);
    expect(await loose()).to.equal(0);
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM (SELECT 1 FROM arrival_counts GROUP BY day, stage_to_id, stage_to, group_by, grp HAVING count(*) > 1) k`.execute(tdb.db);
    expect(rows[0]!.n, 'keys with more than one row').to.equal(0);
    expect(canonical(await ask(''))).to.deep.equal(canonical(await ask('on')));
  });

  it('stay exact under concurrent writers, the recording core on shared people, and folding', async () => {
    const zone = 'Asia/Kathmandu';
    await rebuildRollups(tdb.db, zone);
    let next = 500_000;
    const nextPerson = (): number => ++next;
    let writing = true;
    const writer = async (seed: number): Promise<void> => {
      const rng = mulberry32(seed);
      const people: number[] = [];
      for (let i = 0; i < 40; i++) await randomWrite(tdb.db, rng, people, nextPerson, false);
    };
    const core = async (seed: number): Promise<void> => {
      const rng = mulberry32(seed);
      // The same few people from several writers at once: the core's person lock orders them.
      for (let i = 0; i < 15; i++) await reportThroughCore(tdb.db, rng, 900_000 + Math.floor(rng() * 3));
    };
    const folder = async (): Promise<void> => {
      while (writing) await foldRollups(tdb.db, 5);
    };
    const folding = folder();
    await Promise.all([writer(SEED + 1), writer(SEED + 2), writer(SEED + 3), core(SEED + 4), core(SEED + 5), core(SEED + 6)]);
    writing = false;
    await folding;
    await expectRollupsExact(tdb.db, mulberry32(SEED), zone, 'after concurrent writers');
  });
});
