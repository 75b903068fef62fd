import { expect } from 'chai';
import { claimDueEvents, expireLeases, finishEvent } from '../src/webhook/webhook-events.repository.js';
import { createHarness, type Harness } from './support/harness.js';
import { historyOf } from './support/history.js';
import { sleep, waitFor } from './support/wait.js';

describe('leases on claimed events, and stopping the processor', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(() => h.close());
  beforeEach(() => h.reset());

  it('renews the lease while FUB keeps a batch waiting, so no other worker takes it', async () => {
    h.sim.addPerson(1, 'Lead');
    await h.deliver(h.sim.movePerson(1, 'ACQ - Qualified', new Date('2026-11-22T09:00:00Z')).peopleUpdated);
    h.sim.latencyMs = 3000; // longer than the 2 s lease
    const slow = h.newProcessor({ leaseSeconds: 2 }).drain();
    await sleep(2500);
    await expireLeases(h.tdb.db, 3);
    const stolen = await h.newProcessor({ leaseSeconds: 2 }).drain();
    await slow;
    expect(stolen).to.equal(0);
    const row = await h.tdb.db.selectFrom('webhook_events').select(['status', 'attempts']).executeTakeFirstOrThrow();
    expect(row).to.deep.equal({ status: 'completed', attempts: 1 });
  });

  it('does not let a worker whose lease ran out finish an event someone else re-claimed', async () => {
    await h.deliver({ eventId: 'e1', event: 'peopleTagsCreated', resourceIds: [1] });
    const [first] = await claimDueEvents(h.tdb.db, { claimToken: 'worker-a/1', limit: 10, leaseSeconds: 30 });
    await h.tdb.db.updateTable('webhook_events').set({ locked_until: new Date(Date.now() - 1000) }).execute();
    expect(await expireLeases(h.tdb.db, 5)).to.equal(1);
    const [again] = await claimDueEvents(h.tdb.db, { claimToken: 'worker-b/1', limit: 10, leaseSeconds: 30 });
    expect(again!.attempts).to.equal(2);
    expect(await finishEvent(h.tdb.db, first!.id, 'worker-a/1', { status: 'completed' })).to.equal(false);
    expect(await finishEvent(h.tdb.db, again!.id, 'worker-b/1', { status: 'ignored', reason: 'tags' })).to.equal(true);
  });

  it('hands back claimed events it had not started, for the next worker', async () => {
    for (const id of [1, 2, 3]) h.sim.addPerson(id, 'Lead');
    h.sim.faults.push(() => ({ status: 200, delayMs: 400 })); // FUB is slow...
    const hooks = [1, 2, 3].map((id) => h.sim.movePerson(id, 'ACQ - Qualified', new Date(`2026-11-22T10:00:0${id}.000Z`)).peopleUpdated);
    h.processor.start();
    await h.deliver(hooks);
    await waitFor('the events to be claimed', async () => (await h.tdb.db.selectFrom('webhook_events').select('status').where('status', '=', 'processing').execute()).length === 3);
    await sleep(50);
    await h.processor.stop(); // ...and the process is told to stop while it waits
    const rows = await h.tdb.db.selectFrom('webhook_events').select(['status', 'attempts', 'locked_by']).execute();
    expect(rows).to.deep.equal(Array(3).fill({ status: 'received', attempts: 0, locked_by: null }));

    h.sim.faults.length = 0;
    await h.newProcessor().drain();
    for (const id of [1, 2, 3]) expect(await historyOf(h.tdb.db, id)).to.have.length(1);
  });
});
