// Events read their people in bounded chunks: a webhook naming hundreds of people reads them one FUB
// call at a time on its own, so it neither holds up nor fails the small events claimed with it, and a
// retry reads only the people it could not read before.
import { expect } from 'chai';
import { sql } from 'kysely';
import type { SimRequest } from '../fub-simulator/fub-simulator.js';
import { createHarness, type Harness } from './support/harness.js';

const BIG = 300;

describe('events fetched in bounded chunks', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  beforeEach(() => h.reset());
  after(() => h.close());

  const idsOf = (req: SimRequest): number[] => (req.query.get('id') ?? '').split(',').filter(Boolean).map(Number);
  const statuses = async () =>
    Object.fromEntries(
      (await h.tdb.db.selectFrom('webhook_events').select(['event_id', 'status', 'attempts']).orderBy('event_id').execute()).map((r) => [r.event_id, `${r.status}/${r.attempts}`]),
    );

  it('a big event failing on one chunk fails alone, and its retry reads only that chunk', async () => {
    const ids = Array.from({ length: BIG }, (_, i) => i + 1);
    for (const id of [...ids, 1000]) h.sim.addPerson(id, 'Lead');
    // FUB fails every call that names person 250 until told otherwise.
    let failing = true;
    h.sim.faults.push((req) => (failing && idsOf(req).includes(250) ? { status: 500, body: { errorMessage: 'Internal error' } } : undefined));
    const big = { ...h.sim.envelope('peopleUpdated', ids), eventId: 'big' };
    const small = { ...h.sim.touchPerson(1000), eventId: 'small' };
    expect((await h.deliver([big, small])).status).to.equal(200);
    // Retries an hour away, so one drain is one attempt.
    const processor = h.newProcessor({ retryBaseSeconds: 3600 });
    await processor.drain();
    expect(await statuses()).to.deep.equal({ big: 'failed/1', small: 'completed/1' });
    const recorded = await sql<{ n: number }>`SELECT count(DISTINCT person_id)::int AS n FROM stage_changes`.execute(h.tdb.db);
    expect(recorded.rows[0]!.n, 'people recorded from the chunks FUB answered').to.equal(201);

    failing = false;
    const before = h.sim.requests.length;
    await h.tdb.db.updateTable('webhook_events').set({ next_attempt_at: new Date() }).where('event_id', '=', 'big').execute();
    await processor.drain();
    expect(await statuses()).to.deep.equal({ big: 'completed/2', small: 'completed/1' });
    const retried = h.sim.requests.slice(before).filter((r) => r.path === '/v1/people');
    expect(retried.map((r) => [Math.min(...idsOf(r)), Math.max(...idsOf(r)), idsOf(r).length])).to.deep.equal([[201, 300, 100]]);
    const all = await sql<{ n: number }>`SELECT count(DISTINCT person_id)::int AS n FROM stage_changes`.execute(h.tdb.db);
    expect(all.rows[0]!.n).to.equal(BIG + 1);
  });

  it('reads a big event in calls of at most 100 people, each person once', async () => {
    const ids = Array.from({ length: BIG }, (_, i) => i + 1);
    for (const id of ids) h.sim.addPerson(id, 'Lead');
    expect((await h.deliver({ ...h.sim.envelope('peopleUpdated', [...ids, ...ids.slice(0, 50)]), eventId: 'big' })).status).to.equal(200);
    await h.processor.drain();
    const calls = h.sim.peopleCalls().map((r) => idsOf(r));
    expect(calls.every((c) => c.length <= 100)).to.equal(true);
    expect(calls.flat().sort((a, b) => a - b)).to.deep.equal(ids);
    expect(await statuses()).to.deep.equal({ big: 'completed/1' });
  });
});
