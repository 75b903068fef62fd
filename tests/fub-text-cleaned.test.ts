// Text from FUB is cleaned once where it enters: a NUL (which PostgreSQL refuses in text) or a lone
// surrogate in a name or a stage, from a people page, a fetch or a webhook's data.stage, costs nobody
// their history; and one person FUB sends in a shape we cannot read never hides the rest of a page.
import { expect } from 'chai';
import { sql } from 'kysely';
import { createHarness, type Harness } from './support/harness.js';

const DAY = 86_400_000;

describe('FUB text cleaned at the edge, one bad person never blocks a page', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  beforeEach(() => h.reset());
  after(() => h.close());

  const rowsOf = (personId: number) =>
    sql<{ stage_to: string; first_name: string | null }>`
      SELECT stage_to, first_name FROM stage_changes WHERE person_id = ${personId} ORDER BY changed_at, seq`
      .execute(h.tdb.db)
      .then((r) => r.rows);

  it('records a page whose names and stages hold NUL and lone surrogates, cleaned', async () => {
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 + 200));
    const at = new Date(h.sim.now().getTime() - 3 * DAY);
    h.sim.addPerson(1, 'Lead', at, { firstName: 'Ann\u0000a', lastName: 'Smith' });
    h.sim.addPerson(2, 'Hot\u0000 ', at);
    h.sim.addPerson(3, 'Cold \ud800', at, { firstName: '\udc00Bo', lastName: 'Lee' });
    const result = await h.newPoller().runOnce();
    expect(result.status, result.status === 'failed' ? result.error : '').to.equal('succeeded');
    expect(await rowsOf(1)).to.deep.equal([{ stage_to: 'Lead', first_name: 'Anna' }]);
    expect(await rowsOf(2)).to.deep.equal([{ stage_to: 'Hot', first_name: 'First2' }]);
    expect(await rowsOf(3)).to.deep.equal([{ stage_to: 'Cold \uFFFD', first_name: '\uFFFDBo' }]);
  });

  it('records a webhook whose data.stage holds NUL, cleaned, instead of dead-lettering it', async () => {
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 + 200));
    h.sim.addPerson(1, 'Lead', new Date(h.sim.now().getTime() - 3 * DAY));
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    h.sim.advanceClock(10_000);
    const move = h.sim.movePerson(1, 'Hot');
    expect((await h.deliver({ ...move.stageUpdated, data: { stage: 'Hot\u0000' } })).status).to.equal(200);
    await h.processor.drain();
    const event = await h.tdb.db.selectFrom('webhook_events').select(['status', 'error_message']).executeTakeFirstOrThrow();
    expect(event).to.deep.equal({ status: 'completed', error_message: null });
    expect((await rowsOf(1)).map((r) => r.stage_to)).to.deep.equal(['Lead', 'Hot']);
  });

  it('records everyone else on a page holding a person it cannot read, fails the poll, and reads that person again next time', async () => {
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 + 200));
    const at = new Date(h.sim.now().getTime() - 3 * DAY);
    for (const id of [1, 2, 3]) h.sim.addPerson(id, 'Lead', new Date(at.getTime() + id * 1000));
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    // All three move (webhooks lost); FUB sends person 2 with a stage that is not a name.
    h.sim.advanceClock(10_000);
    for (const id of [1, 2, 3]) h.sim.movePerson(id, 'Hot');
    h.sim.advanceClock(10 * 60_000);
    h.sim.edits.push((req, answer) => {
      if (req.path !== '/v1/people' || req.query.get('id') !== null) return undefined;
      const body = answer.body as { people: Record<string, unknown>[] };
      return { ...answer, body: { ...body, people: body.people.map((p) => (p.id === 2 ? { ...p, stage: 42 } : p)) } };
    });
    const broken = await h.newPoller().runOnce();
    expect(broken.status).to.equal('failed');
    expect(broken.status === 'failed' && broken.error).to.match(/could not read \(2; first: stage: /);
    expect((await rowsOf(1)).map((r) => r.stage_to)).to.deep.equal(['Lead', 'Hot']);
    expect((await rowsOf(3)).map((r) => r.stage_to)).to.deep.equal(['Lead', 'Hot']);
    expect((await rowsOf(2)).map((r) => r.stage_to)).to.deep.equal(['Lead']);
    h.sim.edits.length = 0;
    h.sim.advanceClock(60_000);
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    expect((await rowsOf(2)).map((r) => r.stage_to)).to.deep.equal(['Lead', 'Hot']);
  });
});
