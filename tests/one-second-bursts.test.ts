// Many moves of one person inside one FUB second, to many distinct stages. FUB gives no
// order inside a second, but every move is one row and nothing is invented (invariant 1); the last
// row is FUB's current stage (invariant 2). (Found by an adversarial review: an S7 arrival was invented.)
import { expect } from 'chai';
import { sql } from 'kysely';
import { fubSecond, type WebhookEnvelope } from '../fub-simulator/fub-simulator.js';
import { createHarness, type Harness } from './support/harness.js';

const DAY = 86_400_000;

describe('a burst of moves to distinct stages inside one second', function () {
  this.timeout(180_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(() => h.close());

  it('records 7 moves to 7 stages made in one second, processed live, as 7 rows: no invented return, ending where FUB shows', async () => {
    await h.reset();
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 + 10));
    h.sim.addPerson(1, 'S0', new Date(h.sim.now().getTime() - 3 * DAY));
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    h.sim.advanceClock(60_000);
    const second = fubSecond(h.sim.now());
    // Each move's peopleUpdated arrives and is processed at once (fetched live, so each read shows
    // the stage just entered), all inside one FUB second; the peopleStageUpdated naming the stages
    // come a moment later, in reverse order (FUB promises no order).
    const named: WebhookEnvelope[] = [];
    for (let i = 1; i <= 7; i++) {
      h.sim.advanceClock(100);
      const move = h.sim.movePerson(1, `S${i}`);
      named.push(move.stageUpdated);
      expect((await h.deliver(move.peopleUpdated)).status).to.equal(200);
      await h.processor.drain();
    }
    for (const hook of named.reverse()) expect((await h.deliver(hook)).status).to.equal(200);
    await h.processor.drain();
    expect(fubSecond(h.sim.now()).getTime()).to.equal(second.getTime());
    h.sim.advanceClock(5_000);
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    const { rows } = await sql<{ stage_from: string | null; stage_to: string; kind: string }>`
      SELECT stage_from, stage_to, kind FROM stage_changes WHERE person_id = 1 ORDER BY changed_at, seq`.execute(h.tdb.db);
    const arrivals = rows.filter((r) => r.kind !== 'first_seen').map((r) => r.stage_to).sort();
    expect(arrivals, 'one arrival per move').to.deep.equal(['S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7']);
    expect(rows[rows.length - 1]!.stage_to).to.equal('S7');
  });
});
