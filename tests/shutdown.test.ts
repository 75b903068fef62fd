import { expect } from 'chai';
import { createHarness, type Harness } from './support/harness.js';
import { historyOf } from './support/history.js';
import { sleep, waitFor } from './support/wait.js';

describe('stopping the event processor', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(() => h.close());

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
