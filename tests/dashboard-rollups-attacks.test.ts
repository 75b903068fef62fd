import { expect } from 'chai';
import { sql } from 'kysely';
import type { Db } from '../src/shared/db/database.js';
import { runMonitoringQuery, type MonitoringQuery } from '../src/shared/monitoring.js';
import { foldRollups, rebuildRollups } from '../src/shared/rollups/rollups.repository.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

// Attacks on the rollups of migration 009: each asks a question both ways (rollup and fub.plain = on)
// and against the answer worked out by hand.

const canonical = (rows: readonly unknown[]): string[] => rows.map((r) => JSON.stringify(r)).sort();

interface Arrival {
  person: number;
  at: string;
  stage?: number;
  seq?: number;
  kind?: string;
}

async function insertRows(db: Db, rows: Arrival[]): Promise<void> {
  await db
    .insertInto('stage_changes')
    .values(
      rows.map((r) => ({
        person_id: r.person,
        kind: (r.kind ?? 'move') as 'move',
        stage_to: `S${r.stage ?? 1}`,
        stage_to_id: r.stage ?? 1,
        changed_at: new Date(r.at),
        seq: r.seq ?? 0,
        received_at: new Date(r.at),
        source: 'webhook_peopleStageUpdated',
      })),
    )
    .execute();
}

async function bothWays(db: Db, query: MonitoringQuery, timeZone: string, params: Record<string, string>): Promise<{ rolled: unknown[]; plain: unknown[] }> {
  const rolled = await runMonitoringQuery(db, query, { timeZone, params });
  const plain = await runMonitoringQuery(db, query, { timeZone, params: { ...params, plain: 'on' } });
  return { rolled, plain };
}

const perDay = (rows: unknown[]): string[] =>
  canonical(rows.map((r) => {
    const { day, stage_key, changes } = r as { day: Date | string; stage_key: string; changes: number };
    return { day: typeof day === 'string' ? day : day.toISOString().slice(0, 10), stage_key, changes };
  }));

describe('dashboard rollups under attack', function () {
  this.timeout(120_000);
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createTestDatabase();
  });
  beforeEach(() => tdb.reset());
  after(() => tdb.destroy());

  it('count a day whose midnight comes twice (Havana falls back from 01:00 to 00:00) from its first midnight, both ways', async () => {
    const zone = 'America/Havana';
    // 2025-11-02 04:30Z is 00:30 CDT, the first of the day's two half-past-midnights; 05:30Z the second.
    await insertRows(tdb.db, [
      { person: 1, at: '2025-11-02T04:30:00Z', stage: 1 },
      { person: 2, at: '2025-11-02T05:30:00Z', stage: 1 },
      { person: 3, at: '2025-11-01T12:00:00Z', stage: 1 },
    ]);
    await rebuildRollups(tdb.db, zone);
    for (const [from, to, want] of [
      ['2025-11-02', '2025-11-02', [{ day: '2025-11-02', stage_key: '1', changes: 2 }]],
      ['2025-11-01', '2025-11-01', [{ day: '2025-11-01', stage_key: '1', changes: 1 }]],
    ] as const) {
      const { rolled, plain } = await bothWays(tdb.db, 'stage_changes_per_day', zone, { from, to });
      expect(perDay(rolled), `rollup ${from}`).to.deep.equal(canonical(want));
      expect(perDay(plain), `plain ${from}`).to.deep.equal(canonical(want));
    }
    await insertRows(tdb.db, [{ person: 1, at: '2025-11-03T04:30:00Z', stage: 2 }]);
    const { rolled, plain } = await bothWays(tdb.db, 'time_in_stage', zone, { from: '2025-11-02', to: '2025-11-02' });
    expect(canonical(plain)).to.deep.equal(canonical(rolled));
    expect((rolled.find((r) => (r as { stage: string }).stage === 'S1') as { completed_stays: number }).completed_stays).to.equal(1);
  });

  it('count days of a zone whose name is also an abbreviation (CET keeps summer time; AT TIME ZONE reads a fixed +01)', async () => {
    const zone = 'CET';
    // 22:30Z on 1 July is 00:30 CEST on 2 July: a 2 July arrival, and a stay of 2 July.
    await insertRows(tdb.db, [
      { person: 1, at: '2025-07-01T22:30:00Z', stage: 1 },
      { person: 1, at: '2025-07-03T10:00:00Z', stage: 2 },
    ]);
    await rebuildRollups(tdb.db, zone);
    // Written after the recount (the triggers date it), in a transaction whose own zone stays its own.
    const zoneAfter = await tdb.db.transaction().execute(async (trx) => {
      await sql`SET LOCAL TimeZone = 'Asia/Tokyo'`.execute(trx);
      await insertRows(trx, [{ person: 2, at: '2025-07-01T22:45:00Z', stage: 1 }]);
      return (await sql<{ tz: string }>`SELECT current_setting('TimeZone') AS tz`.execute(trx)).rows[0]!.tz;
    });
    expect(zoneAfter).to.equal('Asia/Tokyo');
    const want = canonical([{ day: '2025-07-02', stage_key: '1', changes: 2 }]);
    const { rolled, plain } = await bothWays(tdb.db, 'stage_changes_per_day', zone, { from: '2025-07-02', to: '2025-07-02' });
    expect(perDay(plain), 'plain').to.deep.equal(want);
    expect(perDay(rolled), 'rollup').to.deep.equal(want);
    const stays = await bothWays(tdb.db, 'time_in_stage', zone, { from: '2025-07-02', to: '2025-07-02' });
    const completed = (rows: unknown[]) => (rows.find((r) => (r as { stage: string }).stage === 'S1') as { completed_stays: number } | undefined)?.completed_stays;
    expect(completed(stays.plain), 'plain stays').to.equal(1);
    expect(completed(stays.rolled), 'rollup stays').to.equal(1);
  });

  /** Every question both ways, equal, and left_at the person's next row everywhere. */
  async function expectExact(db: Db, zone: string, label: string): Promise<void> {
    const ranges = [['2026-03-01', '2026-03-31'], ['2026-03-08', '2026-03-08'], ['2026-03-07', '2026-03-09'], ['2026-03-09', '2026-03-20']];
    for (const [from, to] of ranges) {
      for (const group_by of ['none', 'agent', 'lead_source']) {
        const { rolled, plain } = await bothWays(db, 'stage_changes_per_day', zone, { from: from!, to: to!, group_by });
        expect(canonical(rolled), `${label}: per day ${from}..${to} ${group_by}`).to.deep.equal(canonical(plain));
      }
      const { rolled, plain } = await bothWays(db, 'time_in_stage', zone, { from: from!, to: to! });
      expect(canonical(rolled), `${label}: time in stage ${from}..${to}`).to.deep.equal(canonical(plain));
    }
    const all = await bothWays(db, 'time_in_stage', zone, {});
    expect(canonical(all.rolled), `${label}: time in stage`).to.deep.equal(canonical(all.plain));
    const { rows } = await sql<{ wrong: number }>`
      SELECT count(*)::int AS wrong FROM (
        SELECT left_at IS DISTINCT FROM lead(changed_at) OVER (PARTITION BY person_id ORDER BY changed_at, seq) AS wrong FROM stage_changes
      ) w WHERE wrong`.execute(db);
    expect(rows[0]!.wrong, `${label}: rows whose left_at is not the next row`).to.equal(0);
  }

  /** Rows for `people` people from `first`: two rows sharing a second (seq 0, 1), then more, around Chicago's spring-forward day. */
  function batch(first: number, people: number, salt: number): Record<string, unknown>[] {
    const rows: Record<string, unknown>[] = [];
    for (let p = first; p < first + people; p++) {
      // 2026-03-08 is 23 hours long in Chicago: 06:00Z is local midnight, 08:00Z is 03:00 CDT.
      const base = Date.parse('2026-03-08T05:59:59Z') + ((p * 7919 + salt * 104_729) % 200) * 3_600_000 - 100 * 3_600_000;
      const at = (ms: number) => new Date(base + ms).toISOString();
      const stage = (k: number) => 1 + ((p + k + salt) % 4);
      rows.push({ person_id: p, kind: p % 3 === 0 ? 'first_seen' : 'created', stage_to_id: stage(0), stage_to: `S${stage(0)}`, changed_at: at(0), seq: 0, agent: p % 2 ? 'Ann' : null, lead_source: p % 5 ? 'Zillow' : null });
      rows.push({ person_id: p, kind: 'move', stage_to_id: p % 4 === 0 ? null : stage(1), stage_to: `S${stage(1)}`, changed_at: at(0), seq: 1, agent: 'Bob', lead_source: null });
      rows.push({ person_id: p, kind: 'move', stage_to_id: stage(2), stage_to: `S${stage(2)}`, changed_at: at(2_000 + (p % 3) * 3_600_000), seq: 0, agent: null, lead_source: 'Referral' });
      if (p % 2) rows.push({ person_id: p, kind: 'move', stage_to_id: stage(3), stage_to: `S${stage(3)}`, changed_at: at(400 * 86_400_000 + p), seq: 0, agent: 'Ann', lead_source: 'Zillow' });
    }
    return rows;
  }

  const insertBatch = (db: Db, rows: Record<string, unknown>[]) => sql`
    INSERT INTO stage_changes (person_id, kind, stage_to_id, stage_to, changed_at, seq, received_at, source, assigned_user_name, lead_source)
    SELECT person_id, kind, stage_to_id, stage_to, changed_at, seq, changed_at, 'webhook_peopleStageUpdated', agent, lead_source
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
      AS r(person_id bigint, kind text, stage_to_id bigint, stage_to text, changed_at timestamptz, seq smallint, agent text, lead_source text)`.execute(db);

  /** One statement over all these people: swaps the seqs of the tied rows (order changes, changed_at does not), backfills null ids, re-kinds. */
  const reorderAll = (db: Db, first: number, last: number) => sql`
    UPDATE stage_changes s SET seq = 1 - s.seq, stage_to_id = coalesce(s.stage_to_id, 8),
      kind = CASE WHEN s.kind = 'first_seen' THEN 'created' ELSE s.kind END
    FROM jsonb_to_recordset(${JSON.stringify(Array.from({ length: last - first }, (_, i) => ({ person_id: first + i })))}::jsonb) AS r(person_id bigint)
    WHERE s.person_id = r.person_id AND s.seq IN (0, 1)
      AND s.changed_at = (SELECT min(c.changed_at) FROM stage_changes c WHERE c.person_id = s.person_id)`.execute(db);

  /** One statement removing each person's last row and moving another in time, with a row added: DELETE, UPDATE and INSERT in one. */
  const rewriteAll = (db: Db, first: number, last: number, seq = 5) => sql`
    WITH people AS (SELECT generate_series(${first}::bigint, ${last - 1}::bigint) AS person_id),
    last_rows AS (
      SELECT DISTINCT ON (c.person_id) c.id FROM stage_changes c JOIN people USING (person_id) ORDER BY c.person_id, c.changed_at DESC, c.seq DESC
    ), removed AS (
      DELETE FROM stage_changes s USING last_rows l WHERE s.id = l.id
    ), moved AS (
      UPDATE stage_changes s SET changed_at = s.changed_at + interval '3 hours'
      FROM people p WHERE s.person_id = p.person_id AND s.seq = 0 AND s.kind = 'move' AND s.id NOT IN (SELECT id FROM last_rows)
    )
    INSERT INTO stage_changes (person_id, kind, stage_to_id, stage_to, changed_at, seq, received_at, source, assigned_user_name)
    SELECT person_id, 'move', 3, 'S3', timestamptz '2026-03-08 05:00:00Z' + person_id * interval '1 minute', ${seq}::smallint, now(), 'polling', 'Cy' FROM people`.execute(db);

  it('stay exact through multi-person single statements: INSERT from a recordset, UPDATE ... FROM, DELETE ... USING in one', async () => {
    await sql`INSERT INTO stages (stage_id, name) VALUES (1, 'One'), (2, 'Two'), (3, 'Three'), (4, 'Four') ON CONFLICT DO NOTHING`.execute(tdb.db);
    const zone = 'America/Chicago';
    await rebuildRollups(tdb.db, zone);
    await insertBatch(tdb.db, batch(1, 300, 1));
    await expectExact(tdb.db, zone, 'inserted');
    await reorderAll(tdb.db, 1, 301);
    await expectExact(tdb.db, zone, 'reordered');
    await rewriteAll(tdb.db, 1, 301);
    await expectExact(tdb.db, zone, 'rewritten');
    await foldRollups(tdb.db, 1000);
    await expectExact(tdb.db, zone, 'folded');
    await rebuildRollups(tdb.db, 'Australia/Lord_Howe');
    await rewriteAll(tdb.db, 100, 250, 6);
    await expectExact(tdb.db, 'Australia/Lord_Howe', 'Lord Howe');
  });

  it('stay exact with two folders, a recount and multi-person writers on real concurrent connections', async () => {
    const zone = 'America/Chicago';
    await rebuildRollups(tdb.db, zone);
    let writing = true;
    const folder = async (): Promise<void> => {
      while (writing) await foldRollups(tdb.db, 3);
    };
    const writer = async (w: number): Promise<void> => {
      for (let round = 0; round < 6; round++) {
        const first = 10_000 * (w + 1) + 100 * round;
        await insertBatch(tdb.db, batch(first, 60, w + round));
        await reorderAll(tdb.db, first, first + 60);
        await rewriteAll(tdb.db, first, first + 40);
      }
    };
    const recount = async (): Promise<void> => {
      await new Promise((r) => setTimeout(r, 150));
      await rebuildRollups(tdb.db, zone);
    };
    const folding = [folder(), folder()];
    await Promise.all([writer(0), writer(1), writer(2), recount()]);
    writing = false;
    await Promise.all(folding);
    await expectExact(tdb.db, zone, 'after concurrency');
    await foldRollups(tdb.db, 1000);
    await expectExact(tdb.db, zone, 'folded after concurrency');
  });
});
