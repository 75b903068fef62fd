// FUB (or a cache in front of it that ignores the query) answers every page with the same `next`.
// Followed blindly, that cursor is a walk without end: the poll never finishes, holds the poll lock
// so every later poll is "skipped" (exit 0), and the watermark never moves. A cursor already
// followed is a malformed answer: the poll fails, saying so.
import { expect } from 'chai';
import { createHarness, type Harness } from './support/harness.js';

describe('poll: a cursor FUB gives again', function () {
  this.timeout(60_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  beforeEach(async () => {
    h.sim.edits.length = 0;
    await h.reset();
  });
  after(() => h.close());

  for (const mode of ['full', 'incremental'] as const) {
    it(`fails a ${mode} poll that would follow the same cursor round and round, instead of never finishing`, async () => {
      h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 + 200));
      const at = new Date(h.sim.now().getTime() - 86_400_000);
      for (const id of [1, 2, 3]) h.sim.addPerson(id, 'Lead', at);
      if (mode === 'incremental') {
        expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
        // Everyone moves after it: no page ends the walk by reaching the watermark.
        h.sim.advanceClock(60_000);
        for (const id of [1, 2, 3]) h.sim.movePerson(id, 'Hot');
      }
      // Every listing page (not the fetches by id) names the first page's cursor, whatever was asked.
      let first: unknown;
      h.sim.edits.push((req, answer) => {
        if (req.path !== '/v1/people' || req.query.get('id') !== null) return undefined;
        const body = answer.body as { _metadata: Record<string, unknown>; people: unknown[] };
        first ??= body._metadata.next;
        return { ...answer, body: { ...body, _metadata: { ...body._metadata, next: first, nextLink: null } } };
      });
      const poller = h.newPoller({ pageSize: 2 });
      const outcome = await Promise.race([poller.runOnce(), new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 8000))]);
      if (outcome === 'still running') await poller.stop();
      expect(outcome === 'still running' ? outcome : outcome.status).to.equal('failed');
      expect(outcome !== 'still running' && outcome.status === 'failed' && outcome.error).to.match(/cursor/);
    });
  }
});
