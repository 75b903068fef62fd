import { expect } from 'chai';
import { createDb, type Db } from '../src/shared/db/database.js';
import type { Evidence, MoveEvidence, SnapshotEvidence } from '../src/shared/stages/evidence.js';
import { findPerson } from '../src/shared/stages/people.repository.js';
import { recordPersonReports } from '../src/shared/stages/record-person-reports.js';
import { historyOf } from './support/history.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

// The core on a real PostgreSQL: reports stored, the person's history rebuilt under their lock.
const T0 = Date.parse('2026-11-02T09:00:00Z');
const at = (s: number): Date => new Date(T0 + s * 1000);
const iso = (s: number): string => at(s).toISOString();

function move(stage: string, s: number, eventId = `${stage}-${s}`): MoveEvidence {
  return { kind: 'move', at: at(s), stage: { id: null, name: stage }, source: 'webhook_peopleStageUpdated', eventId, receivedAt: new Date() };
}
function read(stage: string, updated: number): SnapshotEvidence {
  return { kind: 'snapshot', at: at(updated), stage: { id: null, name: stage }, readAt: at(updated + 1), personCreatedAt: null, source: 'polling', eventId: null, receivedAt: new Date() };
}
const record = (db: Db, personId: number, evidence: Evidence[]) => db.transaction().execute((trx) => recordPersonReports(trx, { personId, evidence }));

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

describe('stage-recording core', () => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createTestDatabase();
  });
  beforeEach(() => tdb.reset());
  after(() => tdb.destroy());

  it('gives the same history for every arrival order of four moves', async () => {
    const moves = [move('A', 0), move('B', 10), move('C', 20), move('D', 30)];
    const expected = [
      { from: null, to: 'A', at: iso(0) },
      { from: 'A', to: 'B', at: iso(10) },
      { from: 'B', to: 'C', at: iso(20) },
      { from: 'C', to: 'D', at: iso(30) },
    ];
    const orders = permutations(moves);
    expect(orders).to.have.length(24);
    for (const [i, order] of orders.entries()) {
      const personId = 100 + i;
      for (const obs of order) await record(tdb.db, personId, [obs]);
      expect(await historyOf(tdb.db, personId), `order ${order.map((o) => o.stage.name).join('')}`).to.deep.equal(expected);
      expect((await findPerson(tdb.db, personId))?.stage).to.equal('D');
    }
  });

  it('changes nothing for a report it already has (a redelivery, a retried event)', async () => {
    expect((await record(tdb.db, 2, [move('A', 0)])).inserted).to.have.length(1);
    const again = await record(tdb.db, 2, [move('A', 0)]);
    expect(again).to.deep.equal({ personId: 2, newReports: 0, inserted: [], removed: 0, revised: 0 });
    expect(await record(tdb.db, 2, [read('A', 0)])).to.include({ newReports: 1, removed: 0 });
    expect(await historyOf(tdb.db, 2)).to.have.length(1);
  });

  it('replaces a move a poll inferred by the webhook that reports it, once it arrives', async () => {
    await record(tdb.db, 3, [move('A', 0)]);
    // The poll reads B (updated at 20) before the webhook naming the move at 12 is processed.
    await record(tdb.db, 3, [read('B', 20)]);
    expect(await historyOf(tdb.db, 3)).to.deep.equal([
      { from: null, to: 'A', at: iso(0) },
      { from: 'A', to: 'B', at: iso(20) },
    ]);
    const outcome = await record(tdb.db, 3, [move('B', 12)]);
    expect(outcome).to.include({ removed: 1 });
    expect(await historyOf(tdb.db, 3)).to.deep.equal([
      { from: null, to: 'A', at: iso(0) },
      { from: 'A', to: 'B', at: iso(12) },
    ]);
    const sources = await tdb.db.selectFrom('stage_changes').select('source').where('person_id', '=', 3).orderBy('changed_at').execute();
    expect(sources.map((s) => s.source)).to.deep.equal(['webhook_peopleStageUpdated', 'webhook_peopleStageUpdated']);
  });

  it('keeps a return to an earlier stage (A→B→A) and its order inside one second', async () => {
    for (const obs of [move('A', 0), move('A', 5), move('B', 5)]) await record(tdb.db, 4, [obs]);
    expect(await historyOf(tdb.db, 4)).to.have.length(3);
    // FUB shows A afterwards: B came first inside second 5, then the return to A.
    await record(tdb.db, 4, [read('A', 5)]);
    expect(await historyOf(tdb.db, 4)).to.deep.equal([
      { from: null, to: 'A', at: iso(0) },
      { from: 'A', to: 'B', at: iso(5) },
      { from: 'B', to: 'A', at: iso(5) },
    ]);
  });

  it('lets a later read settle moves that tied on one second, history and current stage both', async () => {
    await record(tdb.db, 9, [move('A', 0)]);
    await record(tdb.db, 9, [move('C', 10)]); // FUB: B then C in the same second; C arrived first
    await record(tdb.db, 9, [move('B', 10)]);
    const outcome = await record(tdb.db, 9, [read('C', 10)]);
    expect(outcome.inserted).to.have.length(0);
    expect(await historyOf(tdb.db, 9)).to.deep.equal([
      { from: null, to: 'A', at: iso(0) },
      { from: 'A', to: 'B', at: iso(10) },
      { from: 'B', to: 'C', at: iso(10) },
    ]);
    expect((await findPerson(tdb.db, 9))?.stage).to.equal('C');
  });

  it('serializes 20 concurrent writers for one person over 20 real connections', async () => {
    const pools = Array.from({ length: 20 }, () => createDb(tdb.url, { max: 1 }));
    try {
      const stages = Array.from({ length: 10 }, (_, i) => `S${i}`);
      // Each stage reported twice (the webhook and a read after it), shuffled, all sent at once.
      const reports = stages.flatMap((stage, i) => [move(stage, i * 10), read(stage, i * 10 + 1)]);
      reports.sort(() => Math.random() - 0.5);
      await Promise.all(reports.map((obs, i) => record(pools[i]!, 5, [obs])));
      expect(await historyOf(tdb.db, 5)).to.deep.equal(stages.map((stage, i) => ({ from: i === 0 ? null : stages[i - 1]!, to: stage, at: iso(i * 10) })));
    } finally {
      await Promise.all(pools.map((p) => p.destroy()));
    }
  });

  it('records a move to the stage a stale read suggests the person left only once, and a real return', async () => {
    // The webhook for the return to A was lost; the poll sees A two minutes after it was left.
    await record(tdb.db, 8, [move('A', 0)]);
    await record(tdb.db, 8, [move('B', 60)]);
    const outcome = await record(tdb.db, 8, [read('A', 120)]);
    expect(outcome.inserted).to.have.length(1);
    expect((await historyOf(tdb.db, 8)).map((m) => `${m.from}>${m.to}`)).to.deep.equal(['null>A', 'A>B', 'B>A']);
    expect((await findPerson(tdb.db, 8))?.stage).to.equal('A');
  });
});
