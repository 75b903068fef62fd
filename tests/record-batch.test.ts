import { expect } from 'chai';
import fc from 'fast-check';
import { sql } from 'kysely';
import type { Db } from '../src/shared/db/database.js';
import { inTransaction } from '../src/shared/db/database.js';
import type { Evidence } from '../src/shared/stages/evidence.js';
import { recordPeopleReports, recordPersonReports, type PersonReports } from '../src/shared/stages/record-person-reports.js';
import { createHarness, type Harness } from './support/harness.js';
import { historyOf } from './support/history.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

// The recording core given a whole batch of people at once, as the webhook processor and the poller
// give it: the history of every person must be the one it gets when recorded a report at a time, and
// concurrent batches over the same people (in any order) must neither deadlock nor lose a report.
const STAGES = ['Lead', 'ACQ - Qualified', 'ACQ - Offers Made', 'ACQ - Offer Not Accepted'];
const T0 = Date.parse('2026-11-02T09:00:00Z');
const OFFSET = 100_000;

/** Random reports about one person: moves (some in the same second, some sent twice) and reads. */
const personReports = fc.array(
  fc.record({ read: fc.boolean(), stage: fc.nat(STAGES.length - 1), second: fc.nat(40), twice: fc.boolean() }),
  { minLength: 1, maxLength: 8 },
);

function evidenceOf(person: number, steps: { read: boolean; stage: number; second: number; twice: boolean }[]): Evidence[] {
  return steps.flatMap((s, i): Evidence[] => {
    const at = new Date(T0 + s.second * 1000);
    const stage = { id: null, name: STAGES[s.stage]! };
    const receivedAt = new Date(T0 + 60_000 + i);
    const e: Evidence = s.read
      ? { kind: 'snapshot', at, stage, readAt: new Date(at.getTime() + 2000), personCreatedAt: null, source: 'polling', eventId: null, receivedAt }
      : { kind: 'move', at, stage, source: 'webhook_peopleStageUpdated', eventId: `p${person}-e${i}`, receivedAt };
    return s.twice ? [e, e] : [e];
  });
}

/** What a user reads of a person: their rows and their state, without ids. */
async function recordedAs(db: Db, personId: number) {
  const rows = await db
    .selectFrom('stage_changes')
    .select(['kind', 'stage_from', 'stage_to', 'changed_at', 'seq', 'source', 'event_id'])
    .where('person_id', '=', personId)
    .orderBy('changed_at')
    .orderBy('seq')
    .execute();
  const state = await db
    .selectFrom('people')
    .select(['stage', 'stage_changed_at', 'fub_stage', 'fub_updated_at', 'fub_stage_seen_at'])
    .where('person_id', '=', personId)
    .executeTakeFirst();
  return { rows: rows.map((r) => ({ ...r, event_id: r.event_id?.replace(/^p\d+-/, '') ?? null })), state };
}

describe('recording a batch of people at once', () => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createTestDatabase();
  });
  beforeEach(() => tdb.reset());
  after(() => tdb.destroy());

  it('gives every person the history one-at-a-time recording gives, with batches racing on 4 connections', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(personReports, { minLength: 12, maxLength: 12 }), fc.nat(1000), fc.integer({ min: 1, max: 6 }), async (people, seed, batches) => {
        await tdb.reset();
        // One at a time: each report in its own transaction, person by person.
        for (const [i, steps] of people.entries()) {
          for (const e of evidenceOf(i + 1, steps)) await inTransaction(tdb.db, (trx) => recordPersonReports(trx, { personId: i + 1, evidence: [e] }));
        }
        // Batched: the same reports (about people OFFSET + i) dealt out to a few batches in a shuffled
        // order, so most batches hold most people and a person's reports are split across batches.
        const all = people.flatMap((steps, i) => evidenceOf(i + 1, steps).map((e): PersonReports => ({ personId: OFFSET + i + 1, evidence: [e] })));
        const shuffled = shuffle(all, seed);
        const dealt = Array.from({ length: batches }, (_, b) => shuffled.filter((_, k) => k % batches === b));
        await Promise.all(dealt.map((batch) => inTransaction(tdb.db, (trx) => recordPeopleReports(trx, batch))));
        for (let i = 0; i < people.length; i++) {
          const one = await recordedAs(tdb.db, i + 1);
          const batched = await recordedAs(tdb.db, OFFSET + i + 1);
          expect(batched, `person ${i + 1}`).to.deep.equal(one);
        }
      }),
      { numRuns: 25, seed: 20261127 },
    );
  });

  it('returns one outcome per person, naming the rows each one gained', async () => {
    const move = (personId: number, stage: string, s: number): PersonReports => ({
      personId,
      evidence: [{ kind: 'move', at: new Date(T0 + s * 1000), stage: { id: null, name: stage }, source: 'webhook_peopleStageUpdated', eventId: `${personId}-${s}`, receivedAt: new Date() }],
    });
    const outcomes = await inTransaction(tdb.db, (trx) => recordPeopleReports(trx, [move(7, 'Lead', 0), move(3, 'Lead', 0), move(7, 'ACQ - Qualified', 5), move(3, 'Lead', 0)]));
    expect(outcomes.map((o) => [o.personId, o.newReports, o.inserted.map((r) => r.stage_to)])).to.deep.equal([
      [7, 2, ['Lead', 'ACQ - Qualified']],
      [3, 1, ['Lead']],
    ]);
    expect(await historyOf(tdb.db, 7)).to.have.length(2);
  });
});

describe('the webhook processor recording a claimed batch together', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(() => h.close());
  beforeEach(() => h.reset());

  it('records named moves, fetched moves and deletions of one batch, and ends every event', async () => {
    for (const id of [1, 2, 3, 4]) h.sim.addPerson(id, 'Lead');
    const at = (s: number) => new Date(Date.parse('2026-11-22T09:00:00Z') + s * 1000);
    await h.deliver([
      h.sim.movePerson(1, 'ACQ - Qualified', at(1)).stageUpdated,
      h.sim.movePerson(2, 'ACQ - Qualified', at(2)).peopleUpdated,
      h.sim.movePerson(3, 'ACQ - Offers Made', at(3)).stageUpdatedBare,
      { eventId: 'tags-1', event: 'peopleTagsCreated', resourceIds: [4], eventCreated: at(4).toISOString() },
      { eventId: 'deleted-4', event: 'peopleDeleted', resourceIds: [4], eventCreated: at(5).toISOString() },
    ]);
    expect(await h.newProcessor({ batchSize: 50 }).drain()).to.equal(5);
    const statuses = await h.tdb.db.selectFrom('webhook_events').select(['event', 'status']).orderBy('event').execute();
    expect(statuses.map((s) => [s.event, s.status])).to.deep.equal([
      ['peopleDeleted', 'completed'],
      ['peopleStageUpdated', 'completed'],
      ['peopleStageUpdated', 'completed'],
      ['peopleTagsCreated', 'ignored'],
      ['peopleUpdated', 'completed'],
    ]);
    expect((await historyOf(h.tdb.db, 1)).map((m) => m.to)).to.deep.equal(['ACQ - Qualified']);
    expect((await historyOf(h.tdb.db, 2)).map((m) => m.to)).to.deep.equal(['ACQ - Qualified']);
    expect((await historyOf(h.tdb.db, 3)).map((m) => m.to)).to.deep.equal(['ACQ - Offers Made']);
    const deleted = await h.tdb.db.selectFrom('people').select('deleted_at').where('person_id', '=', 4).executeTakeFirst();
    expect(deleted?.deleted_at?.toISOString()).to.equal(at(5).toISOString());
  });

  it('fails only the event the database refuses; the rest of its batch is recorded', async () => {
    // A fault in the real database: any report about person 666 is refused.
    await sql`
      CREATE FUNCTION refuse_666() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.person_id = 666 THEN RAISE EXCEPTION 'refused for the test'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER refuse_666 BEFORE INSERT ON stage_evidence FOR EACH ROW EXECUTE FUNCTION refuse_666();`.execute(h.tdb.db);
    try {
      const at = new Date('2026-11-22T09:00:00Z');
      for (const id of [1, 666, 2]) h.sim.addPerson(id, 'Lead');
      await h.deliver([1, 666, 2].map((id) => h.sim.movePerson(id, 'ACQ - Qualified', at).stageUpdated));
      expect(await h.newProcessor({ batchSize: 50, retryBaseSeconds: 3600 }).drain()).to.equal(3);
      const rows = await h.tdb.db.selectFrom('webhook_events').select(['resource_ids', 'status', 'error_message']).execute();
      const byPerson = new Map(rows.map((r) => [Number(r.resource_ids[0]), r]));
      expect([1, 666, 2].map((id) => byPerson.get(id)?.status)).to.deep.equal(['completed', 'failed', 'completed']);
      expect(byPerson.get(666)!.error_message).to.include('refused for the test');
      expect(await historyOf(h.tdb.db, 1)).to.have.length(1);
      expect(await historyOf(h.tdb.db, 2)).to.have.length(1);
      expect(await historyOf(h.tdb.db, 666)).to.have.length(0);
    } finally {
      await sql`DROP TRIGGER refuse_666 ON stage_evidence; DROP FUNCTION refuse_666();`.execute(h.tdb.db);
    }
  });
});

describe('the webhook processor when the database goes away mid-batch', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(() => h.close());

  it('ends the round instead of trying each event of the batch in turn (each would lose its connection too)', async () => {
    await h.reset();
    // A fault in the real database: recording any report ends the connection, as a server restart
    // would; the sequence (not rolled back) counts the attempts.
    await sql`
      CREATE SEQUENCE record_attempts;
      CREATE FUNCTION drop_connection() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM nextval('record_attempts'); PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$;
      CREATE TRIGGER drop_connection BEFORE INSERT ON stage_evidence FOR EACH STATEMENT EXECUTE FUNCTION drop_connection();`.execute(h.tdb.db);
    try {
      const at = new Date('2026-11-22T09:00:00Z');
      for (let id = 1; id <= 20; id++) h.sim.addPerson(id, 'Lead');
      await h.deliver(Array.from({ length: 20 }, (_, i) => h.sim.movePerson(i + 1, 'ACQ - Qualified', at).stageUpdated));
      let failed: unknown;
      await h.newProcessor({ batchSize: 50 }).drain().catch((error: unknown) => (failed = error));
      expect(failed, 'the round fails').to.be.instanceOf(Error);
      const { rows } = await sql<{ n: string }>`SELECT last_value AS n FROM record_attempts`.execute(h.tdb.db);
      expect(Number(rows[0]!.n), 'attempts to record').to.equal(1);
      // Nothing was finished: the events come back once their leases end.
      const statuses = await h.tdb.db.selectFrom('webhook_events').select('status').execute();
      expect(statuses.map((r) => r.status)).to.deep.equal(Array(20).fill('processing'));
    } finally {
      await sql`DROP TRIGGER drop_connection ON stage_evidence; DROP FUNCTION drop_connection(); DROP SEQUENCE record_attempts;`.execute(h.tdb.db);
    }
  });
});

function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed + 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
