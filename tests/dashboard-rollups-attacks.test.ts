import { expect } from 'chai';
import { sql } from 'kysely';
import type { Db } from '../src/shared/db/database.js';
import { runMonitoringQuery, type MonitoringQuery } from '../src/shared/monitoring.js';
import { rebuildRollups } from '../src/shared/rollups/rollups.repository.js';
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
});
