import { expect } from 'chai';
import { fubSecond } from '../fub-simulator/fub-simulator.js';
import { historyOf, pendingEvents } from './support/history.js';
import { createHarness, type Harness } from './support/harness.js';
import { sleep, waitFor } from './support/wait.js';

const QUALIFIED = 'ACQ - Qualified';
const OFFERS_MADE = 'ACQ - Offers Made';
const NOT_ACCEPTED = 'ACQ - Offer Not Accepted';

describe('capturing stage changes from webhooks', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  beforeEach(() => h.reset());
  after(() => h.close());

  const settle = () => waitFor('the inbox to empty', async () => (await pendingEvents(h.tdb.db)) === 0);

  /** Plays A→B→C for one person live, `gapMs` apart, and returns the three moves' times. */
  async function playRapidMoves(personId: number, gapMs: number, withStage: boolean): Promise<Date[]> {
    const times: Date[] = [];
    h.sim.addPerson(personId, 'Lead');
    for (const stage of [QUALIFIED, OFFERS_MADE, NOT_ACCEPTED]) {
      const at = new Date();
      times.push(at);
      const hooks = h.sim.movePerson(personId, stage, at);
      const res = withStage ? await h.deliver(hooks.stageUpdated) : await h.deliver(hooks.stageUpdatedBare);
      expect(res.status).to.equal(200);
      await sleep(gapMs);
    }
    await settle();
    return times;
  }

  for (const gapMs of [1000, 100]) {
    it(`keeps the middle stage of A→B→C ${gapMs} ms apart (webhook carries data.stage)`, async () => {
      h.processor.start();
      const [a, b, c] = await playRapidMoves(101, gapMs, true);
      // Dated to FUB's second for each move (FUB prints no fractions), in the order they were made.
      expect(await historyOf(h.tdb.db, 101)).to.deep.equal([
        { from: null, to: QUALIFIED, at: fubSecond(a!).toISOString() },
        { from: QUALIFIED, to: OFFERS_MADE, at: fubSecond(b!).toISOString() },
        { from: OFFERS_MADE, to: NOT_ACCEPTED, at: fubSecond(c!).toISOString() },
      ]);
    });
  }

  it('rebuilds the right order and stage_from when A→B→C arrive in reverse', async () => {
    h.sim.addPerson(102, 'Lead');
    const t = Date.parse('2026-11-20T15:00:00.000Z');
    const hooks = [QUALIFIED, OFFERS_MADE, NOT_ACCEPTED].map((stage, i) => h.sim.movePerson(102, stage, new Date(t + i * 1000)).stageUpdated);
    for (const hook of [...hooks].reverse()) {
      await h.deliver(hook);
      await h.processor.drain(); // each one processed before the earlier one arrives
    }
    expect(await historyOf(h.tdb.db, 102)).to.deep.equal([
      { from: null, to: QUALIFIED, at: '2026-11-20T15:00:00.000Z' },
      { from: QUALIFIED, to: OFFERS_MADE, at: '2026-11-20T15:00:01.000Z' },
      { from: OFFERS_MADE, to: NOT_ACCEPTED, at: '2026-11-20T15:00:02.000Z' },
    ]);
  });

  it('loses no stage when webhooks lack data.stage and FUB moves the person every second', async () => {
    h.processor.start();
    const stages = ['Lead', QUALIFIED, OFFERS_MADE, NOT_ACCEPTED, 'Nurture'];
    h.sim.addPerson(103, 'New');
    const times: Date[] = [];
    for (const stage of stages) {
      const at = new Date();
      times.push(at);
      const hooks = h.sim.movePerson(103, stage, at);
      await Promise.all([h.deliver(hooks.stageUpdatedBare), h.deliver(hooks.peopleUpdated)]);
      await sleep(1000);
    }
    await settle();
    expect(await historyOf(h.tdb.db, 103)).to.deep.equal(
      stages.map((stage, i) => ({ from: i === 0 ? null : stages[i - 1]!, to: stage, at: fubSecond(times[i]!).toISOString() })),
    );
  });

  it('records one row for a move reported by both peopleStageUpdated and peopleUpdated', async () => {
    h.sim.addPerson(104, 'Lead');
    const first = h.sim.movePerson(104, QUALIFIED, new Date('2026-11-20T16:00:00.000Z'));
    await h.deliver(first.stageUpdated);
    await h.deliver(first.peopleUpdated);
    await h.processor.drain();
    // The other order: the fetched copy first, then the webhook that names the stage.
    const second = h.sim.movePerson(104, OFFERS_MADE, new Date('2026-11-20T16:05:00.000Z'));
    await h.deliver(second.peopleUpdated);
    await h.processor.drain();
    await h.deliver(second.stageUpdated);
    await h.processor.drain();
    expect(await historyOf(h.tdb.db, 104)).to.deep.equal([
      { from: null, to: QUALIFIED, at: '2026-11-20T16:00:00.000Z' },
      { from: QUALIFIED, to: OFFERS_MADE, at: '2026-11-20T16:05:00.000Z' },
    ]);
    const names = await h.tdb.db.selectFrom('stage_changes').select(['first_name', 'last_name', 'assigned_user_name']).execute();
    expect(names).to.deep.equal([
      { first_name: 'First104', last_name: 'Last104', assigned_user_name: 'Agent Seven' },
      { first_name: 'First104', last_name: 'Last104', assigned_user_name: 'Agent Seven' },
    ]);
  });

  it('gives one row for 20 concurrent deliveries about one move, processed by 4 workers at once', async () => {
    h.sim.addPerson(105, 'Lead', new Date('2026-11-20T17:00:00.000Z'));
    const move = h.sim.movePerson(105, OFFERS_MADE, new Date('2026-11-20T17:00:05.000Z'));
    // Both event types, each delivered ten times (FUB retries with the same eventId), plus reads of
    // the person racing them.
    const hooks = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? move.peopleUpdated : move.stageUpdated));
    const answers = await Promise.all(hooks.map((hook) => h.deliver(hook)));
    expect(answers.map((r) => r.status)).to.deep.equal(Array(20).fill(200));
    await Promise.all(Array.from({ length: 8 }, (_, i) => h.deliver(h.sim.touchPerson(105, new Date(Date.parse('2026-11-20T17:00:05.000Z') + i * 300)))));
    const workers = Array.from({ length: 4 }, () => h.newProcessor({ batchSize: 3 }));
    await Promise.all(workers.map((w) => w.drain()));
    expect(await historyOf(h.tdb.db, 105)).to.deep.equal([{ from: null, to: OFFERS_MADE, at: '2026-11-20T17:00:05.000Z' }]);
    const statuses = await h.tdb.db.selectFrom('webhook_events').select('status').execute();
    expect(statuses.every((s) => s.status === 'completed')).to.equal(true);
  });

  it('records every change of 1,000 people moved in one burst, fetching them in batches', async () => {
    const people = Array.from({ length: 1000 }, (_, i) => 5000 + i);
    for (const id of people) h.sim.addPerson(id, 'Lead');
    const hooks = people.map((id) => h.sim.movePerson(id, QUALIFIED).stageUpdatedBare);
    h.processor.start();
    for (let i = 0; i < hooks.length; i += 50) {
      const answers = await Promise.all(hooks.slice(i, i + 50).map((hook) => h.deliver(hook)));
      expect(answers.every((r) => r.status === 200)).to.equal(true);
    }
    await settle();
    const rows = await h.tdb.db
      .selectFrom('stage_changes')
      .select(['person_id', 'stage_to'])
      .where('person_id', '>=', 5000)
      .orderBy('person_id')
      .execute();
    expect(rows).to.deep.equal(people.map((id) => ({ person_id: id, stage_to: QUALIFIED })));
    // Batched: far fewer FUB calls than people.
    expect(h.sim.peopleCalls().length).to.be.below(200);
  });

  it('waits out 429 Retry-After and retries 500s, then records the change', async () => {
    h.sim.addPerson(106, 'Lead');
    const hooks = h.sim.movePerson(106, QUALIFIED, new Date('2026-11-20T18:00:00.000Z'));
    let served = 0;
    h.sim.faults.push(() => {
      served += 1;
      if (served === 1) return { status: 429, headers: { 'Retry-After': '1' }, body: { errorMessage: 'slow down' } };
      if (served <= 3) return { status: 500, body: { errorMessage: 'boom' } };
      return undefined;
    });
    await h.deliver(hooks.peopleUpdated);
    await h.processor.drain();
    expect(await historyOf(h.tdb.db, 106)).to.deep.equal([{ from: null, to: QUALIFIED, at: '2026-11-20T18:00:00.000Z' }]);
    const calls = h.sim.peopleCalls();
    expect(calls).to.have.length(4);
    expect(calls[1]!.at - calls[0]!.at).to.be.at.least(950);
    const row = await h.tdb.db.selectFrom('webhook_events').selectAll().executeTakeFirstOrThrow();
    expect(row.status).to.equal('completed');
    expect(row.attempts).to.equal(1);
  });

  it('retries an event whose person FUB cannot find yet (just created), then records it', async () => {
    const hooks = { eventId: 'created-1', eventCreated: '2026-11-20T19:00:00.000Z', event: 'peopleCreated', resourceIds: [107] };
    await h.deliver(hooks);
    const patient = h.newProcessor({ retryBaseSeconds: 60 });
    await patient.drain();
    let row = await h.tdb.db.selectFrom('webhook_events').selectAll().executeTakeFirstOrThrow();
    expect(row.status).to.equal('failed');
    expect(row.error_message).to.equal('person 107 not found in FUB yet');
    expect(row.next_attempt_at.getTime() - Date.now()).to.be.within(25_000, 61_000);
    h.sim.addPerson(107, 'Lead', new Date('2026-11-20T19:00:01.000Z'));
    // The retry time comes.
    await h.tdb.db.updateTable('webhook_events').set({ next_attempt_at: new Date() }).execute();
    await patient.drain();
    row = await h.tdb.db.selectFrom('webhook_events').selectAll().executeTakeFirstOrThrow();
    expect(row.status).to.equal('completed');
    expect(await historyOf(h.tdb.db, 107)).to.deep.equal([{ from: null, to: 'Lead', at: '2026-11-20T19:00:01.000Z' }]);
  });

  it('dead-letters a poison event after its attempts while the others complete', async () => {
    h.sim.addPerson(108, 'Lead');
    h.sim.addPerson(109, 'Lead');
    h.sim.addPerson(666, 'Lead');
    h.sim.addPerson(667, 'Lead');
    // FUB fails every request that names person 666, and answers an HTML page for any naming 667.
    h.sim.faults.push((req) => (req.query.get('id')?.split(',').includes('666') ? { status: 500, body: {} } : undefined));
    h.sim.faults.push((req) => (req.query.get('id')?.split(',').includes('667') ? { status: 200, rawBody: '<html>Maintenance</html>' } : undefined));
    await h.deliver([
      { ...h.sim.movePerson(108, QUALIFIED, new Date('2026-11-20T20:00:00.000Z')).peopleUpdated, eventId: 'good-1' },
      { ...h.sim.movePerson(666, QUALIFIED).peopleUpdated, eventId: 'poison-fetch' },
      { ...h.sim.movePerson(667, QUALIFIED).peopleUpdated, eventId: 'poison-answer' },
      { ...h.sim.movePerson(109, OFFERS_MADE, new Date('2026-11-20T20:00:02.000Z')).stageUpdated, eventId: 'good-2' },
    ]);
    await h.processor.drain();
    const rows = await h.tdb.db.selectFrom('webhook_events').select(['event_id', 'status', 'attempts', 'error_message']).orderBy('event_id').execute();
    expect(rows.map((r) => [r.event_id, r.status])).to.deep.equal([
      ['good-1', 'completed'],
      ['good-2', 'completed'],
      ['poison-answer', 'dead'],
      ['poison-fetch', 'dead'],
    ]);
    expect(rows[2]).to.include({ attempts: 3 });
    expect(rows[2]!.error_message).to.match(/answered 200 with a body that is not JSON: "<html>Maintenance<\/html>"/);
    expect(rows[3]).to.include({ attempts: 3 });
    expect(rows[3]!.error_message).to.match(/answered 500/);
    expect(await historyOf(h.tdb.db, 108)).to.have.length(1);
    expect(await historyOf(h.tdb.db, 109)).to.deep.equal([{ from: null, to: OFFERS_MADE, at: '2026-11-20T20:00:02.000Z' }]);
  });
});
