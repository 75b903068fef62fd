import { expect } from 'chai';
import { sql } from 'kysely';
import { createEventProcessor } from '../src/webhook/event-processor.js';
import { createHarness, TEST_PROCESSING, type Harness } from './support/harness.js';
import { waitFor } from './support/wait.js';

// FUB sends two webhooks per move: peopleStageUpdated naming the stage, and peopleUpdated, which is
// read from FUB. In a burst (a bulk move) the processor records a person's named move together with
// the read of the same person, in one transaction and one rebuild; outside a burst the named move is
// recorded at once, without waiting for FUB's answer. Either way the history is the same.
const DAY = 86_400_000;

describe("a person's named move and FUB's read of them, in one batch", function () {
  this.timeout(60_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(() => h.close());

  /** Person 1 known from a poll, then moved; both of FUB's webhooks delivered. */
  async function moveDelivered(): Promise<{ named: string; updated: string }> {
    await h.reset();
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 - 120_000));
    h.sim.addPerson(1, 'Lead', new Date(h.sim.now().getTime() - 3 * DAY));
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    h.sim.advanceClock(60_000);
    const move = h.sim.movePerson(1, 'ACQ - Offers Made');
    expect((await h.deliver(move.stageUpdated)).status).to.equal(200);
    expect((await h.deliver(move.peopleUpdated)).status).to.equal(200);
    return { named: move.stageUpdated.eventId, updated: move.peopleUpdated.eventId };
  }

  /** The transaction that stored each event's report about person 1 (PostgreSQL's xmin). */
  async function storedBy(ids: { named: string; updated: string }): Promise<{ named: string; updated: string }> {
    const { rows } = await sql<{ event_id: string; tx: string }>`
      SELECT event_id, xmin::text AS tx FROM stage_evidence WHERE person_id = 1 AND event_id IN (${ids.named}, ${ids.updated})`.execute(h.tdb.db);
    const tx = (id: string) => rows.find((r) => r.event_id === id)?.tx ?? 'missing';
    return { named: tx(ids.named), updated: tx(ids.updated) };
  }

  /** What a user sees: the person's rows, and how each webhook ended. */
  async function outcome() {
    const changes = await h.tdb.db.selectFrom('stage_changes').select(['kind', 'stage_from', 'stage_to']).where('person_id', '=', 1).orderBy('changed_at').orderBy('seq').execute();
    const events = await h.tdb.db.selectFrom('webhook_events').select(['event', 'status']).orderBy('event').execute();
    return { changes, events };
  }

  const expected = {
    changes: [
      { kind: 'first_seen', stage_from: null, stage_to: 'Lead' },
      { kind: 'move', stage_from: 'Lead', stage_to: 'ACQ - Offers Made' },
    ],
    events: [
      { event: 'peopleStageUpdated', status: 'completed' },
      { event: 'peopleUpdated', status: 'completed' },
    ],
  };

  it('in a burst, records both in one transaction', async () => {
    const ids = await moveDelivered();
    const processor = createEventProcessor({ db: h.tdb.db, log: h.log, fub: h.fub, options: TEST_PROCESSING, load: { busy: () => true } });
    expect(await processor.drain()).to.equal(2);
    const tx = await storedBy(ids);
    expect(tx.named).to.not.equal('missing');
    expect(tx.updated, 'the read stored in the named move’s transaction').to.equal(tx.named);
    expect(await outcome()).to.deep.equal(expected);
  });

  it('in a burst, still records the named move when stopped while the read is out, and hands the read back', async () => {
    const ids = await moveDelivered();
    h.sim.latencyMs = 1500;
    const processor = createEventProcessor({ db: h.tdb.db, log: h.log, fub: h.fub, options: TEST_PROCESSING, load: { busy: () => true } });
    processor.start();
    await waitFor('both events claimed', async () => (await h.tdb.db.selectFrom('webhook_events').select('status').where('status', '=', 'processing').execute()).length === 2, 10_000);
    await processor.stop();
    const events = await h.tdb.db.selectFrom('webhook_events').select(['event_id', 'status', 'attempts']).orderBy('event').execute();
    expect(events).to.deep.equal([
      { event_id: ids.named, status: 'completed', attempts: 1 },
      { event_id: ids.updated, status: 'received', attempts: 0 },
    ]);
    const changes = await h.tdb.db.selectFrom('stage_changes').select(['kind', 'stage_to']).where('person_id', '=', 1).orderBy('changed_at').execute();
    expect(changes).to.deep.equal([
      { kind: 'first_seen', stage_to: 'Lead' },
      { kind: 'move', stage_to: 'ACQ - Offers Made' },
    ]);
  });

  it('after a full claim (a backlog), takes the next batch as in a burst', async () => {
    await h.reset();
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 - 120_000));
    for (const id of [1, 2, 3]) h.sim.addPerson(id, 'Lead', new Date(h.sim.now().getTime() - 3 * DAY));
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    h.sim.advanceClock(60_000);
    for (const id of [1, 2, 3]) {
      const move = h.sim.movePerson(id, 'ACQ - Offers Made');
      expect((await h.deliver(move.stageUpdated)).status).to.equal(200);
      expect((await h.deliver(move.peopleUpdated)).status).to.equal(200);
    }
    // Batches of 2: person 1's two events fill the first claim; the backlog it shows makes the next
    // claim a burst's (up to 10), which records each of persons 2 and 3 in one transaction.
    const processor = createEventProcessor({ db: h.tdb.db, log: h.log, fub: h.fub, options: { ...TEST_PROCESSING, batchSize: 2 } });
    expect(await processor.drain()).to.equal(6);
    const { rows } = await sql<{ person_id: number; txs: number }>`
      SELECT person_id::int, count(DISTINCT xmin::text)::int AS txs FROM stage_evidence
      WHERE event_id IS NOT NULL GROUP BY person_id ORDER BY person_id`.execute(h.tdb.db);
    expect(rows).to.deep.equal([
      { person_id: 1, txs: 2 },
      { person_id: 2, txs: 1 },
      { person_id: 3, txs: 1 },
    ]);
    const moved = await h.tdb.db.selectFrom('stage_changes').select('person_id').where('kind', '=', 'move').where('stage_to', '=', 'ACQ - Offers Made').execute();
    expect(moved).to.have.length(3);
  });

  it('outside a burst, records the named move without waiting for the read', async () => {
    const ids = await moveDelivered();
    h.sim.latencyMs = 300;
    expect(await h.processor.drain()).to.equal(2);
    const tx = await storedBy(ids);
    expect(tx.named).to.not.equal('missing');
    expect(tx.updated, 'the read stored in a later transaction').to.not.equal(tx.named);
    expect(await outcome()).to.deep.equal(expected);
  });
});
