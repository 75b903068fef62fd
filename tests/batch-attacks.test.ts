import { expect } from 'chai';
import { sql } from 'kysely';
import pg from 'pg';
import { inTransaction } from '../src/shared/db/database.js';
import type { Evidence } from '../src/shared/stages/evidence.js';
import { markSeenByPoll } from '../src/shared/stages/people.repository.js';
import { recordPeopleReports, type PersonReports } from '../src/shared/stages/record-person-reports.js';
import { createHarness, type Harness } from './support/harness.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { sleep, waitFor } from './support/wait.js';

// Attacks on the set-based recording core and the batch processor (issue 13): a transaction now
// holds many people's locks at once, so every other writer of those rows must take them in the
// same order.

const T0 = Date.parse('2026-11-02T09:00:00Z');

function move(personId: number, stage: string, second: number, eventId: string): PersonReports {
  const e: Evidence = { kind: 'move', at: new Date(T0 + second * 1000), stage: { id: null, name: stage }, source: 'webhook_peopleStageUpdated', eventId, receivedAt: new Date() };
  return { personId, evidence: [e] };
}

describe('batch attacks: the recording core', () => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createTestDatabase();
  });
  beforeEach(() => tdb.reset());
  after(() => tdb.destroy());

  /** Backends of this database waiting on a lock. */
  async function waitingOnLocks(): Promise<number> {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`.execute(tdb.db);
    return rows[0]!.n;
  }

  it("a poll marking people seen never deadlocks with a batch recording the same people (locks taken in the people's order)", async function () {
    this.timeout(20_000);
    for (const id of [1, 2, 3]) await inTransaction(tdb.db, (trx) => recordPeopleReports(trx, [move(id, 'Lead', 0, `first-${id}`)]));
    // Person 1's row is rewritten after person 3's, so a scan meets 3 before 1: in production rows
    // are updated all the time, and the table order has nothing to do with the id order.
    await sql`UPDATE people SET updated_at = now() WHERE person_id = 1`.execute(tdb.db);

    const blocker = new pg.Client({ connectionString: tdb.url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM people WHERE person_id = 2 FOR UPDATE');
      // A batch about people 1, 2, 3: it locks 1, then waits for 2.
      const batch = inTransaction(tdb.db, (trx) => recordPeopleReports(trx, [1, 2, 3].map((id) => move(id, 'ACQ - Qualified', 10, `batch-${id}`))));
      await waitFor('the batch to wait for person 2', async () => (await waitingOnLocks()) === 1);
      // A poll page holding people 1 and 3 marks them seen.
      const seen = markSeenByPoll(tdb.db, [1, 3], new Date(T0 + 60_000));
      await waitFor('the poll to wait too', async () => (await waitingOnLocks()) === 2);
      await blocker.query('COMMIT');
      const [batchResult, seenResult] = await Promise.allSettled([batch, seen]);
      expect(batchResult.status, String((batchResult as PromiseRejectedResult).reason)).to.equal('fulfilled');
      expect(seenResult.status, String((seenResult as PromiseRejectedResult).reason)).to.equal('fulfilled');
    } finally {
      await blocker.end();
    }
    const people = await tdb.db.selectFrom('people').select(['person_id', 'stage', 'fub_stage_seen_at']).orderBy('person_id').execute();
    expect(people.map((p) => p.stage)).to.deep.equal(['ACQ - Qualified', 'ACQ - Qualified', 'ACQ - Qualified']);
    expect(people.filter((p) => p.fub_stage_seen_at !== null).map((p) => p.person_id)).to.deep.equal([1, 3]);
  });
});

describe('batch attacks: the webhook processor', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(() => h.close());
  beforeEach(() => h.reset());

  const statuses = async () =>
    (await h.tdb.db.selectFrom('webhook_events').select(['status', 'attempts', 'locked_by']).orderBy('id').execute()).map((r) => `${r.status}/${r.attempts}/${r.locked_by ?? '-'}`);

  it("reads a batch's shared people a few calls ahead, and stops reading them when told to stop", async function () {
    this.timeout(30_000);
    // Ten small events (100 people each) share the batch's reads: ten FUB calls.
    const at = new Date('2026-11-22T09:00:00Z');
    const hooks = Array.from({ length: 10 }, (_, e) => {
      const ids = Array.from({ length: 100 }, (_, i) => e * 100 + i + 1);
      for (const id of ids) h.sim.addPerson(id, 'Lead', at);
      return h.sim.envelope('peopleUpdated', ids, at);
    });
    await h.deliver(hooks);
    h.sim.latencyMs = 600;
    const processor = h.newProcessor({ batchSize: 50 });
    processor.start();
    await waitFor('the first people call', async () => h.sim.peopleCalls().length > 0);
    await sleep(100);
    await processor.stop();
    // A few calls read ahead (4 at once), not the whole batch: a stop waits only for those.
    expect(h.sim.peopleCalls().length).to.be.at.most(5);
    expect(await statuses()).to.deep.equal(Array(10).fill('received/0/-'));
    h.sim.latencyMs = 0;
    expect(await h.newProcessor({ batchSize: 50 }).drain()).to.equal(10);
    expect(await statuses()).to.deep.equal(Array(10).fill('completed/1/-'));
  });
});
