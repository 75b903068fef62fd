import { expect } from 'chai';
import type { Db } from '../src/shared/db/database.js';
import { createDb } from '../src/shared/db/database.js';
import { findPerson } from '../src/shared/stages/people.repository.js';
import { recordStageObservation, type StageObservation } from '../src/shared/stages/record-stage.js';
import { historyOf } from './support/history.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const T0 = Date.parse('2026-11-02T09:00:00.000Z');
const at = (seconds: number): Date => new Date(T0 + seconds * 1000);

function observation(personId: number, stage: string, seconds: number, source = 'webhook_peopleStageUpdated'): StageObservation {
  return { personId, stage, observedAt: at(seconds), receivedAt: new Date(), source, eventId: `${personId}-${stage}-${seconds}` };
}

function record(db: Db, obs: StageObservation) {
  return db.transaction().execute((trx) => recordStageObservation(trx, obs));
}

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
    const moves = [observation(1, 'A', 0), observation(1, 'B', 10), observation(1, 'C', 20), observation(1, 'D', 30)];
    const expected = [
      { from: null, to: 'A', at: at(0).toISOString() },
      { from: 'A', to: 'B', at: at(10).toISOString() },
      { from: 'B', to: 'C', at: at(20).toISOString() },
      { from: 'C', to: 'D', at: at(30).toISOString() },
    ];
    const orders = permutations(moves);
    expect(orders).to.have.length(24);
    for (const [i, order] of orders.entries()) {
      const personId = 100 + i;
      for (const obs of order) await record(tdb.db, { ...obs, personId });
      expect(await historyOf(tdb.db, personId), `order ${order.map((o) => o.stage).join('')}`).to.deep.equal(expected);
      expect((await findPerson(tdb.db, personId))?.stage).to.equal('D');
    }
  });

  it('treats a repeated report of the current stage as no change', async () => {
    expect((await record(tdb.db, observation(2, 'A', 0))).kind).to.equal('inserted');
    expect((await record(tdb.db, observation(2, 'A', 5))).kind).to.equal('unchanged');
    expect((await record(tdb.db, observation(2, 'A', 0))).kind).to.equal('unchanged');
    expect(await historyOf(tdb.db, 2)).to.have.length(1);
  });

  it('re-dates a move when an earlier report of it arrives later', async () => {
    await record(tdb.db, observation(3, 'A', 0));
    await record(tdb.db, observation(3, 'B', 20)); // learned by a fetch, dated late
    const outcome = await record(tdb.db, observation(3, 'B', 12)); // the webhook naming the move
    expect(outcome.kind).to.equal('redated');
    expect(await historyOf(tdb.db, 3)).to.deep.equal([
      { from: null, to: 'A', at: at(0).toISOString() },
      { from: 'A', to: 'B', at: at(12).toISOString() },
    ]);
  });

  it('keeps a return to an earlier stage as its own move (A→B→A)', async () => {
    for (const obs of [observation(4, 'A', 0), observation(4, 'A', 20), observation(4, 'B', 10)]) await record(tdb.db, obs);
    expect(await historyOf(tdb.db, 4)).to.deep.equal([
      { from: null, to: 'A', at: at(0).toISOString() },
      { from: 'A', to: 'B', at: at(10).toISOString() },
      { from: 'B', to: 'A', at: at(20).toISOString() },
    ]);
    // The same with a later move already known: A, (A seen at 20), C at 40, then B at 10 arrives.
    for (const obs of [observation(6, 'A', 0), observation(6, 'A', 20), observation(6, 'C', 40), observation(6, 'B', 10)]) await record(tdb.db, obs);
    expect(await historyOf(tdb.db, 6)).to.deep.equal([
      { from: null, to: 'A', at: at(0).toISOString() },
      { from: 'A', to: 'B', at: at(10).toISOString() },
      { from: 'B', to: 'A', at: at(20).toISOString() },
      { from: 'A', to: 'C', at: at(40).toISOString() },
    ]);
  });

  it('serializes 20 concurrent writers for one person over 20 real connections', async () => {
    const pools = Array.from({ length: 20 }, () => createDb(tdb.url, { max: 1 }));
    try {
      const stages = Array.from({ length: 10 }, (_, i) => `S${i}`);
      // Each stage reported twice (webhook and fetch), shuffled, all sent at once.
      const reports = stages.flatMap((stage, i) => [observation(5, stage, i * 10), observation(5, stage, i * 10 + 1, 'webhook_peopleUpdated')]);
      reports.sort(() => Math.random() - 0.5);
      await Promise.all(reports.map((obs, i) => record(pools[i]!, obs)));
      expect(await historyOf(tdb.db, 5)).to.deep.equal(
        stages.map((stage, i) => ({ from: i === 0 ? null : stages[i - 1]!, to: stage, at: at(i * 10).toISOString() })),
      );
    } finally {
      await Promise.all(pools.map((p) => p.destroy()));
    }
  });

  it("skips the poller's insert when a row for that stage lies within ±5 minutes (INSERT … WHERE NOT EXISTS)", async () => {
    await record(tdb.db, observation(7, 'A', 0));
    await record(tdb.db, observation(7, 'S', 600));
    await record(tdb.db, observation(7, 'T', 720));
    // A stale read: S, dated 2 minutes before the row the webhook wrote.
    const guarded = { ...observation(7, 'S', 480, 'polling'), nearDuplicateWindowSeconds: 300 };
    expect((await record(tdb.db, guarded)).kind).to.equal('duplicate');
    expect((await historyOf(tdb.db, 7)).map((m) => m.at)).to.deep.equal([at(0), at(600), at(720)].map((d) => d.toISOString()));
    // Far outside the window it is evidence the move happened earlier than the row says.
    const far = { ...observation(7, 'S', 240, 'polling'), nearDuplicateWindowSeconds: 300 };
    expect((await record(tdb.db, far)).kind).to.equal('redated');
    expect(await historyOf(tdb.db, 7)).to.deep.equal([
      { from: null, to: 'A', at: at(0).toISOString() },
      { from: 'A', to: 'S', at: at(240).toISOString() },
      { from: 'S', to: 'T', at: at(720).toISOString() },
    ]);
  });

  it("records the poller's report of a return to a stage left minutes ago (the guard looks only at neighbouring rows)", async () => {
    await record(tdb.db, observation(8, 'A', 0));
    await record(tdb.db, observation(8, 'B', 60));
    // The webhook for the return to A was lost; the poll sees A two minutes after it was left.
    const outcome = await record(tdb.db, { ...observation(8, 'A', 120, 'polling'), nearDuplicateWindowSeconds: 300 });
    expect(outcome.kind).to.equal('inserted');
    expect((await historyOf(tdb.db, 8)).map((m) => `${m.from}>${m.to}`)).to.deep.equal(['null>A', 'A>B', 'B>A']);
    expect((await findPerson(tdb.db, 8))?.stage).to.equal('A');
  });

  it('lets a poll correct moves that tied on the same second and arrived in the wrong order', async () => {
    await record(tdb.db, observation(9, 'A', 0));
    await record(tdb.db, observation(9, 'C', 10)); // FUB: B then C in the same second; C arrived first
    await record(tdb.db, observation(9, 'B', 10));
    expect((await findPerson(tdb.db, 9))?.stage).to.equal('B');
    const outcome = await record(tdb.db, { ...observation(9, 'C', 11, 'polling'), nearDuplicateWindowSeconds: 300 });
    expect(outcome.kind).to.equal('inserted');
    expect((await findPerson(tdb.db, 9))?.stage).to.equal('C');
  });
});
