// Found by an adversarial review, end to end: two quick moves in one FUB second, the second saved at
// x.995 and its events stamped x+1 (the README's "two clocks inside FUB"). Every webhook is
// delivered once and a poll runs afterwards; FUB made two moves, so two rows after the first sighting.
import { expect } from 'chai';
import { sql } from 'kysely';
import { fubEventTime } from '../fub-simulator/fub-simulator.js';
import { createHarness, type Harness } from './support/harness.js';

const DAY = 86_400_000;

describe('rebuild edge, end to end: a late-stamped move after another move of the same second', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(() => h.close());

  it('records A→B, B→C (no invented arrival in C) when C is stamped in the second after its updated', async () => {
    await h.reset();
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 + 400));
    h.sim.addPerson(1, 'A', new Date(h.sim.now().getTime() - 3 * DAY));
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    h.sim.advanceClock(60_000);
    const toB = h.sim.movePerson(1, 'B'); // x.400, stamped x
    h.sim.advanceClock(595);
    const toC = h.sim.movePerson(1, 'C'); // x.995: updated x
    const stamped = fubEventTime(new Date(h.sim.now().getTime() + 6)); // its events: x+1.001
    h.sim.advanceClock(10);
    for (const hook of [toB.stageUpdated, toB.peopleUpdated, { ...toC.stageUpdated, eventCreated: stamped }, { ...toC.peopleUpdated, eventCreated: stamped }]) {
      expect((await h.deliver(hook)).status).to.equal(200);
    }
    await h.processor.drain();
    h.sim.advanceClock(5_000);
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    const { rows } = await sql<{ kind: string; stage_from: string | null; stage_to: string }>`
      SELECT kind, stage_from, stage_to FROM stage_changes WHERE person_id = 1 ORDER BY changed_at, seq`.execute(h.tdb.db);
    // Observed (pure-function equivalent): first_seen A, A→C (invented), C→B, B→C.
    expect(rows).to.deep.equal([
      { kind: 'first_seen', stage_from: null, stage_to: 'A' },
      { kind: 'move', stage_from: 'A', stage_to: 'B' },
      { kind: 'move', stage_from: 'B', stage_to: 'C' },
    ]);
  });
});
