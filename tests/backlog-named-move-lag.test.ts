import { expect } from 'chai';
import { sql } from 'kysely';
import { createEventProcessor } from '../src/webhook/event-processor.js';
import { createHarness, TEST_PROCESSING, type Harness } from './support/harness.js';
import { waitFor } from './support/wait.js';

// A full claim makes the next claim a burst's (a backlog may be left), but a full claim may also
// have taken the last events there were. A named move that then comes in alone, with nobody busy
// receiving, must be recorded without waiting for FUB's read of the person. (Found by review.)
const DAY = 86_400_000;
const FUB_LATENCY_MS = 1500;

describe('a named move after a full claim that emptied the inbox', function () {
  this.timeout(60_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(() => h.close());

  it('a move delivered while the processor finishes a full (last) batch is recorded without waiting for FUB', async () => {
    await h.reset();
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 - 120_000));
    for (const id of [1, 9]) h.sim.addPerson(id, 'Lead', new Date(h.sim.now().getTime() - 3 * DAY));
    // Someone already in 'Hot': the poll teaches the stage directory that name (no FUB call to resolve it).
    h.sim.addPerson(8, 'Hot', new Date(h.sim.now().getTime() - 3 * DAY));
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    h.sim.advanceClock(60_000);
    // The whole inbox: two events, exactly one batch (a peopleUpdated read from FUB, and a note).
    expect((await h.deliver(h.sim.touchPerson(9))).status).to.equal(200);
    expect((await h.deliver(h.sim.envelope('notesCreated', [9]))).status).to.equal(200);
    h.sim.latencyMs = FUB_LATENCY_MS;
    const processor = createEventProcessor({ db: h.tdb.db, log: h.log, fub: h.fub, options: { ...TEST_PROCESSING, batchSize: 2, concurrency: 1 } });
    processor.start();
    try {
      await waitFor('the two events claimed', async () => (await h.tdb.db.selectFrom('webhook_events').select('id').where('attempts', '=', 1).execute()).length === 2, 10_000);
      // Person 1 moves while that batch waits on FUB; nothing else is waiting and nobody is busy receiving.
      h.sim.advanceClock(1000);
      const move = h.sim.movePerson(1, 'Hot');
      const deliveredAt = Date.now();
      expect((await h.deliver(move.stageUpdated)).status).to.equal(200);
      expect((await h.deliver(move.peopleUpdated)).status).to.equal(200);
      await waitFor('the named move recorded', async () => (await evidenceOf(move.stageUpdated.eventId)).length > 0, 20_000);
      const recordedAfter = Date.now() - deliveredAt;
      await waitFor('the read recorded', async () => (await evidenceOf(move.peopleUpdated.eventId)).length > 0, 20_000);
      const [named] = await evidenceOf(move.stageUpdated.eventId);
      const [read] = await evidenceOf(move.peopleUpdated.eventId);
      const inbox = await h.tdb.db.selectFrom('webhook_events').select(['event', 'status']).orderBy('id').execute();
      expect(inbox.every((e) => e.status === 'completed' || e.status === 'ignored'), JSON.stringify(inbox)).to.equal(true);
      // The first batch's read of person 9 ends within FUB_LATENCY_MS of the delivery; waiting for
      // the read of person 1 as well, the named move lands FUB_LATENCY_MS after that.
      expect(recordedAfter, 'ms from delivery to the named move recorded').to.be.below(1.5 * FUB_LATENCY_MS);
      expect(named!.tx, 'the named move recorded in its own transaction, not with the read').to.not.equal(read!.tx);
    } finally {
      await processor.stop();
    }
  });

  async function evidenceOf(eventId: string): Promise<{ tx: string }[]> {
    const { rows } = await sql<{ tx: string }>`SELECT xmin::text AS tx FROM stage_evidence WHERE person_id = 1 AND event_id = ${eventId}`.execute(h.tdb.db);
    return rows;
  }
});
