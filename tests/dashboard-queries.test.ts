import { expect } from 'chai';
import { sql } from 'kysely';
import { runMonitoringQuery } from '../src/shared/monitoring.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

// The dashboard's questions, each one file in monitoring/, run with parameters and a business zone.
const QUALIFIED = 11;
const OFFERS = 12;
const HOUR = 3_600_000;

describe('dashboard questions (monitoring/*.sql with parameters)', () => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createTestDatabase();
  });
  beforeEach(async () => {
    await tdb.reset();
    await tdb.db
      .insertInto('stages')
      .values([
        { stage_id: QUALIFIED, name: 'ACQ - Qualified' },
        { stage_id: OFFERS, name: 'ACQ - Offers Made' },
        { stage_id: 13, name: 'Lead' },
      ])
      .execute();
  });
  after(() => tdb.destroy());

  let seq = 0;
  async function arrive(personId: number, stageId: number, at: string, extra: { kind?: 'move' | 'first_seen'; agent?: string; source?: string; name?: string } = {}) {
    await tdb.db.insertInto('people').values({ person_id: personId }).onConflict((oc) => oc.doNothing()).execute();
    const names = { [QUALIFIED]: 'ACQ - Qualified', [OFFERS]: 'ACQ - Offers Made', 13: 'Lead' } as Record<number, string>;
    await tdb.db
      .insertInto('stage_changes')
      .values({
        person_id: personId,
        kind: extra.kind ?? 'move',
        stage_from: null,
        stage_to: names[stageId]!,
        stage_to_id: stageId,
        changed_at: new Date(at),
        received_at: new Date(at),
        source: 'webhook_peopleStageUpdated',
        event_id: `e${++seq}`,
        first_name: extra.name ?? `First${personId}`,
        last_name: 'Last',
        assigned_user_id: null,
        assigned_user_name: extra.agent ?? null,
        lead_source: extra.source ?? null,
      })
      .execute();
  }

  it('arrivals: days are the business zone\'s, weeks start on Monday, stage filter and groups', async () => {
    // 2026-03-02 is a Monday. 03:30 UTC on the 3rd is still the 2nd in Chicago (UTC-6).
    await arrive(1, QUALIFIED, '2026-03-03T03:30:00Z', { agent: 'Ann', source: 'Zillow' });
    await arrive(2, QUALIFIED, '2026-03-03T15:00:00Z', { agent: 'Bob', source: 'Zillow' });
    await arrive(3, OFFERS, '2026-03-09T15:00:00Z', { agent: 'Ann' });
    await arrive(4, OFFERS, '2026-03-09T16:00:00Z', { kind: 'first_seen' });
    const run = (params: Record<string, string>, timeZone = 'UTC') =>
      runMonitoringQuery<{ day: Date; stage: string; stage_key: string; grp: string | null; changes: number }>(tdb.db, 'stage_changes_per_day', {
        timeZone,
        params: { from: '2026-03-01', to: '2026-03-31', ...params },
      });
    const day = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
    const shape = (rows: Awaited<ReturnType<typeof run>>) => rows.map((r) => [day(r.day), r.stage, r.grp, r.changes]);

    expect(shape(await run({}))).to.deep.equal([
      ['2026-03-09', 'ACQ - Offers Made', null, 1],
      ['2026-03-03', 'ACQ - Qualified', null, 2],
    ]);
    expect(shape(await run({}, 'America/Chicago'))).to.deep.equal([
      ['2026-03-09', 'ACQ - Offers Made', null, 1],
      ['2026-03-03', 'ACQ - Qualified', null, 1],
      ['2026-03-02', 'ACQ - Qualified', null, 1],
    ]);
    expect(shape(await run({ bucket: 'week' }, 'America/Chicago'))).to.deep.equal([
      ['2026-03-09', 'ACQ - Offers Made', null, 1],
      ['2026-03-02', 'ACQ - Qualified', null, 2],
    ]);
    expect(shape(await run({ stages: String(OFFERS) }))).to.deep.equal([['2026-03-09', 'ACQ - Offers Made', null, 1]]);
    expect(shape(await run({ to: '2026-03-08' }))).to.deep.equal([['2026-03-03', 'ACQ - Qualified', null, 2]]);
    expect(shape(await run({ bucket: 'week', group_by: 'agent' }))).to.deep.equal([
      ['2026-03-09', 'ACQ - Offers Made', 'Ann', 1],
      ['2026-03-02', 'ACQ - Qualified', 'Ann', 1],
      ['2026-03-02', 'ACQ - Qualified', 'Bob', 1],
    ]);
    expect(shape(await run({ bucket: 'week', group_by: 'lead_source' }))).to.deep.equal([
      ['2026-03-09', 'ACQ - Offers Made', '(unknown)', 1],
      ['2026-03-02', 'ACQ - Qualified', 'Zillow', 2],
    ]);
  });

  it('conversion: of those who reached A in the range, who reached B later, median and p90 hours', async () => {
    const t = Date.parse('2026-03-02T10:00:00Z');
    const at = (h: number) => new Date(t + h * HOUR).toISOString();
    for (const [person, hours] of [[1, 1], [2, 2], [3, 3], [4, 4], [5, null]] as const) {
      await arrive(person, QUALIFIED, at(0));
      if (hours !== null) await arrive(person, OFFERS, at(hours));
    }
    // Offers made before qualifying, and a first sighting in A: neither counts.
    await arrive(6, OFFERS, at(-5));
    await arrive(6, QUALIFIED, at(0));
    await arrive(7, QUALIFIED, at(0), { kind: 'first_seen' });
    await arrive(7, OFFERS, at(1));
    const [row] = await runMonitoringQuery(tdb.db, 'conversion', { params: { from: '2026-03-01', to: '2026-03-02' } });
    expect(row).to.deep.equal({ stage_a: 'ACQ - Qualified', stage_b: 'ACQ - Offers Made', reached_a: 6, reached_b: 4, percent: 66.7, median_hours: 2.5, p90_hours: 3.7 });
    const [reverse] = await runMonitoringQuery(tdb.db, 'conversion', { params: { from: '2026-03-01', to: '2026-03-02', stage_a: String(OFFERS), stage_b: 'ACQ - Qualified' } });
    expect(reverse).to.include({ stage_a: 'ACQ - Offers Made', reached_a: 6, reached_b: 1 });
    const [outside] = await runMonitoringQuery(tdb.db, 'conversion', { params: { from: '2026-03-03', to: '2026-03-09' } });
    expect(outside).to.include({ reached_a: 0, reached_b: 0, percent: null, median_hours: null });
  });

  it('recent moves: newest first, search by name (wildcards taken literally), paging', async () => {
    await arrive(1, QUALIFIED, '2026-03-02T10:00:00Z', { name: 'Maria', agent: 'Ann', source: 'Zillow' });
    await arrive(2, QUALIFIED, '2026-03-02T11:00:00Z', { name: 'Mario' });
    await arrive(3, OFFERS, '2026-03-02T12:00:00Z', { name: '100%_Real' });
    await arrive(4, OFFERS, '2026-03-02T13:00:00Z', { name: 'Marion', kind: 'first_seen' });
    const names = async (params: Record<string, string>) =>
      (await runMonitoringQuery<{ name: string }>(tdb.db, 'recent_moves', { params })).map((r) => r.name);
    expect(await names({})).to.deep.equal(['100%_Real Last', 'Mario Last', 'Maria Last']);
    expect(await names({ search: 'MARI' })).to.deep.equal(['Mario Last', 'Maria Last']);
    expect(await names({ search: '%_' })).to.deep.equal(['100%_Real Last']);
    expect(await names({ limit: '1', offset: '1' })).to.deep.equal(['Mario Last']);
    const [first] = await runMonitoringQuery(tdb.db, 'recent_moves', { params: { search: 'maria' } });
    expect(first).to.deep.include({ stage_to: 'ACQ - Qualified', recorded_by: 'webhook', agent: 'Ann', lead_source: 'Zillow' });
  });

  it('time in stage: only stays that began in the range, when given', async () => {
    await arrive(1, QUALIFIED, '2026-03-02T10:00:00Z');
    await arrive(1, OFFERS, '2026-03-02T12:00:00Z');
    await arrive(2, QUALIFIED, '2026-03-10T10:00:00Z');
    await arrive(2, OFFERS, '2026-03-10T20:00:00Z');
    const q = async (params: Record<string, string>) =>
      (await runMonitoringQuery<{ stage: string; median_hours: number | null }>(tdb.db, 'time_in_stage', { params })).find((r) => r.stage === 'ACQ - Qualified');
    expect(await q({})).to.include({ median_hours: 6 });
    expect(await q({ from: '2026-03-01', to: '2026-03-05' })).to.include({ median_hours: 2 });
    expect(await q({ from: '2026-03-06', to: '2026-03-31' })).to.include({ median_hours: 10 });
  });

  it('settings last for one query only: a pooled connection keeps none of them', async () => {
    await Promise.all(Array.from({ length: 10 }, () => runMonitoringQuery(tdb.db, 'stages', { timeZone: 'Asia/Tokyo', params: { search: 'x' } })));
    // Every connection of the pool at once (each held by a sleep), none still in Tokyo or searching.
    const seen = await Promise.all(
      Array.from({ length: 20 }, () =>
        sql<{ tz: string; search: string | null }>`SELECT current_setting('TimeZone') AS tz, nullif(current_setting('fub.search', true), '') AS search, pg_sleep(0.2)`.execute(tdb.db),
      ),
    );
    expect(seen.every(({ rows }) => rows[0]!.tz !== 'Asia/Tokyo' && rows[0]!.search === null)).to.equal(true);
  });
});
