// FUB stamps a move's `eventCreated` and the person's `updated` separately, each to the
// whole second. When the move is saved at x.998 and its event stamped at x+1.001, the read says
// "in B, not moved since second x" and the webhook "moved into B in second x+1". That is one move.
import { expect } from 'chai';
import { sql } from 'kysely';
import { fubEventTime } from '../fub-simulator/fub-simulator.js';
import { createHarness, type Harness } from './support/harness.js';

const DAY = 86_400_000;

describe('eventCreated one second after the updated of the same move', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  beforeEach(() => h.reset());
  after(() => h.close());

  const rows = (personId: number) =>
    sql<{ kind: string; stage_from: string | null; stage_to: string }>`
      SELECT kind, stage_from, stage_to FROM stage_changes WHERE person_id = ${personId} ORDER BY changed_at, seq`
      .execute(h.tdb.db)
      .then((r) => r.rows);

  it('records A→B once when the webhook naming B is stamped in the second after FUB\'s updated', async () => {
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 + 998));
    h.sim.addPerson(1, 'A', new Date(h.sim.now().getTime() - 3 * DAY));
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    h.sim.advanceClock(60_000);
    const move = h.sim.movePerson(1, 'B'); // updated = x.998
    const stamped = fubEventTime(new Date(h.sim.now().getTime() + 3)); // the event: x+1.001
    h.sim.advanceClock(5);
    for (const hook of [{ ...move.peopleUpdated, eventCreated: stamped }, { ...move.stageUpdated, eventCreated: stamped }]) {
      expect((await h.deliver(hook)).status).to.equal(200);
    }
    await h.processor.drain();
    h.sim.advanceClock(5_000);
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    expect(await rows(1)).to.deep.equal([
      { kind: 'first_seen', stage_from: null, stage_to: 'A' },
      { kind: 'move', stage_from: 'A', stage_to: 'B' },
    ]);
  });
});
