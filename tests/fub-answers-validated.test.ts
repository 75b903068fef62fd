// FUB (or a proxy in front of it) answers 200 with something that is not a people page. That is not
// "nobody changed": the poll must fail and keep its watermark, so the next poll reads the change
// (accepted data is never lost; a malformed answer is never read as "nothing changed").
import { expect } from 'chai';
import { sql } from 'kysely';
import { createHarness, type Harness } from './support/harness.js';

const DAY = 86_400_000;

describe('FUB answers validated: a malformed 200 answer to the poll', function () {
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

  for (const [label, body] of [
    ['an HTML maintenance page', '<html><body>Down for maintenance</body></html>'],
    ['an empty JSON object', {}],
    ['an error object', { errorMessage: 'Internal error, please retry' }],
  ] as const) {
    it(`does not lose a move whose webhooks were lost when one poll gets ${label}`, async () => {
      h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 + 200));
      const installedAt = new Date(h.sim.now().getTime() - 3 * DAY);
      for (const id of [1, 2, 3]) h.sim.addPerson(id, 'Lead', new Date(installedAt.getTime() + id * 1000));
      expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
      // Person 1 moves; its webhooks never arrive.
      h.sim.advanceClock(10_000);
      h.sim.movePerson(1, 'Hot');
      // Ten minutes later a poll gets a 200 that is not a people page.
      h.sim.advanceClock(10 * 60_000);
      h.sim.faults.push((req) => (req.path === '/v1/people' && req.query.get('id') === null ? { status: 200, body } : undefined));
      const broken = await h.newPoller().runOnce();
      h.sim.faults.length = 0;
      h.sim.advanceClock(60_000);
      expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
      expect(await stagesOf(1)).to.deep.equal(['Lead', 'Hot']);
      expect(broken.status).to.equal('failed');
    });
  }
});
