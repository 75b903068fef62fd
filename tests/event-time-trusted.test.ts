// A signed webhook whose eventCreated is far from FUB's clock (a FUB bug, a test event,
// a hand-replayed payload). Bad input must change nothing; it must not pin a person's history.
import { expect } from 'chai';
import { sql } from 'kysely';
import { fubSecond } from '../fub-simulator/fub-simulator.js';
import { toInboxEvents } from '../src/webhook/parse-webhook.js';
import { createHarness, type Harness } from './support/harness.js';

const DAY = 86_400_000;

describe('event times: eventCreated far from FUB\'s clock', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  beforeEach(() => h.reset());
  after(() => h.close());

  it('a move stamped in 2099 neither stays the current stage nor dates a row in the future', async () => {
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 + 200));
    h.sim.addPerson(1, 'Lead', new Date(h.sim.now().getTime() - 3 * DAY));
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    h.sim.advanceClock(10_000);
    const bogus = h.sim.envelope('peopleStageUpdated', [1]);
    expect((await h.deliver({ ...bogus, eventCreated: '2099-01-01T00:00:00+00:00', data: { stage: 'Hot' } })).status).to.equal(200);
    await h.processor.drain();
    // Real moves afterwards, reported as FUB reports them, and a poll.
    h.sim.advanceClock(10_000);
    const q = h.sim.movePerson(1, 'Qualified');
    for (const hook of [q.stageUpdated, q.peopleUpdated]) expect((await h.deliver(hook)).status).to.equal(200);
    await h.processor.drain();
    h.sim.advanceClock(10_000);
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    const { rows } = await sql<{ stage_to: string; changed_at: Date }>`
      SELECT stage_to, changed_at FROM stage_changes WHERE person_id = 1 ORDER BY changed_at, seq`.execute(h.tdb.db);
    const person = await h.tdb.db.selectFrom('people').select('stage').where('person_id', '=', 1).executeTakeFirstOrThrow();
    expect({ last: rows[rows.length - 1]!.stage_to, current: person.stage }).to.deep.equal({ last: 'Qualified', current: 'Qualified' });
    expect(rows.filter((r) => r.changed_at.getTime() > fubSecond(h.sim.now()).getTime()).length, 'rows dated after FUB\'s now').to.equal(0);
  });
  it('a first event stamped years ago does not turn every existing lead into an arrival', async () => {
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 + 200));
    // The collector is installed today; FUB has had these leads for a year.
    for (const id of [1, 2, 3]) h.sim.addPerson(id, 'Lead', new Date(h.sim.now().getTime() - 365 * DAY));
    h.sim.addPerson(4, 'Lead', new Date(h.sim.now().getTime() - 3 * DAY));
    // The first webhook ever processed carries an eventCreated from 2001 (a bogus or replayed event).
    const odd = h.sim.touchPerson(4);
    expect((await h.deliver({ ...odd, eventCreated: '2001-01-01T00:00:00+00:00' })).status).to.equal(200);
    await h.processor.drain();
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    const { rows } = await sql<{ person_id: number; kind: string }>`
      SELECT person_id::int, kind FROM stage_changes ORDER BY person_id`.execute(h.tdb.db);
    expect(rows).to.deep.equal([1, 2, 3, 4].map((id) => ({ person_id: id, kind: 'first_seen' })));
  });

  it('reads eventCreated only as FUB prints it: "1" or "March 5" is no time at all, not 2001', () => {
    const times = ['1', '2026', 'March 5, 2026', '2026-03-11T16:48:12Z', '2026-03-11 16:48:12+00:00'].map(
      (eventCreated) => toInboxEvents({ eventId: eventCreated, event: 'peopleUpdated', eventCreated })[0]!.eventCreated?.toISOString() ?? null,
    );
    expect(times).to.deep.equal([null, null, null, '2026-03-11T16:48:12.000Z', '2026-03-11T16:48:12.000Z']);
  });
});
