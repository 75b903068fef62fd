// FUB's texts are short labels and names, but nothing in an answer says so. PostgreSQL refuses a
// b-tree index entry over about 2.7 kB, and a stage name is indexed (stage_names, stage_changes,
// stage_evidence): one person sent with a huge stage must cost only that person, never the page
// (every poll would fail there, for everyone after it) nor an event's other people.
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { sql } from 'kysely';
import { createHarness, type Harness } from './support/harness.js';

const DAY = 86_400_000;
// Random text does not compress: stored as is, far over PostgreSQL's index entry limit.
const HUGE = randomBytes(6000).toString('base64');

describe('FUB text of absurd length costs only the person it belongs to', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  beforeEach(() => h.reset());
  after(() => h.close());

  const stagesOf = (personId: number) =>
    sql<{ stage_to: string }>`SELECT stage_to FROM stage_changes WHERE person_id = ${personId} ORDER BY changed_at, seq`
      .execute(h.tdb.db)
      .then((r) => r.rows.map((row) => row.stage_to));

  it('a page with one person whose stage is 8 kB: everyone else recorded, that one named in the failed poll', async () => {
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 + 200));
    const at = new Date(h.sim.now().getTime() - 3 * DAY);
    for (const id of [1, 2, 3]) h.sim.addPerson(id, id === 2 ? HUGE : 'Lead', new Date(at.getTime() + id * 1000));
    const result = await h.newPoller().runOnce();
    expect(await stagesOf(1)).to.deep.equal(['Lead']);
    expect(await stagesOf(3)).to.deep.equal(['Lead']);
    expect(result.status).to.equal('failed');
    expect(result.status === 'failed' && result.error).to.match(/could not read \(2; first: stage: /);
  });

  it('a webhook naming an 8 kB stage reads the person instead, and records the stage FUB shows', async () => {
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 + 200));
    for (const id of [1, 2]) h.sim.addPerson(id, 'Lead', new Date(h.sim.now().getTime() - 3 * DAY));
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    h.sim.advanceClock(10_000);
    const one = h.sim.movePerson(1, 'Hot');
    const two = h.sim.movePerson(2, 'Hot');
    expect((await h.deliver({ ...one.stageUpdated, data: { stage: HUGE } })).status).to.equal(200);
    expect((await h.deliver(two.stageUpdated)).status).to.equal(200);
    await h.processor.drain();
    expect(await stagesOf(1)).to.deep.equal(['Lead', 'Hot']);
    expect(await stagesOf(2)).to.deep.equal(['Lead', 'Hot']);
    const events = await h.tdb.db.selectFrom('webhook_events').select('status').execute();
    expect(events.map((e) => e.status)).to.deep.equal(['completed', 'completed']);
  });
});
