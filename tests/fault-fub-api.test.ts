import { expect } from 'chai';
import type { SimRequest } from '../fub-simulator/fub-simulator.js';
import { createHarness, type Harness } from './support/harness.js';
import { historyOf, pendingEvents } from './support/history.js';
import { waitFor } from './support/wait.js';
import { reportFault } from './support/fault-figures.js';

describe('fault: FUB answers badly (429 storms, 500s, timeouts, slow answers, resets)', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    // A 1 s client timeout makes the simulator's 5 s answers time out, as a slow FUB would.
    h = await createHarness({ maxAttempts: 10, retryBaseSeconds: 0, batchSize: 20 }, { timeoutMs: 1000, maxRetries: 3 });
  });
  after(() => h.close());

  it('records every move exactly once, with bounded retries and every Retry-After respected', async () => {
    const PEOPLE = 150;
    const ids = Array.from({ length: PEOPLE }, (_, i) => 700 + i);
    for (const id of ids) h.sim.addPerson(id, 'Lead');
    // A fixed, repeatable schedule of misbehaviour for FUB's first 60 answers, then health.
    const plan = ['429', '429', '429', '500', 'slow', 'reset', 'ok', '500', 'reset', '429', 'slow', 'ok'];
    const retryAfterUntil: number[] = [];
    h.sim.faults.push((req: SimRequest) => {
      const n = h.sim.requests.length;
      if (n > 60) return undefined;
      switch (plan[n % plan.length]) {
        case '429':
          retryAfterUntil.push(req.at + 1000);
          return { status: 429, headers: { 'Retry-After': '1' }, body: { errorMessage: 'Rate limit exceeded' } };
        case '500':
          return { status: 500, body: { errorMessage: 'Internal error' } };
        case 'slow':
          return { status: 200, delayMs: 5000, body: { people: [] } };
        case 'reset':
          return { status: 200, reset: true };
        default:
          return undefined;
      }
    });
    h.processor.start();
    const moves = ids.map((id, i) => h.sim.movePerson(id, 'ACQ - Qualified', new Date(Date.parse('2026-11-22T12:00:00Z') + i * 1000)));
    for (let i = 0; i < moves.length; i += 25) {
      const answers = await Promise.all(moves.slice(i, i + 25).flatMap((m) => [h.deliver(m.peopleUpdated), h.deliver(m.stageUpdatedBare)]));
      expect(answers.every((r) => r.status === 200)).to.equal(true);
    }
    await waitFor('every event to be processed', async () => (await pendingEvents(h.tdb.db)) === 0, 90_000);

    const statuses = await h.tdb.db.selectFrom('webhook_events').select('status').execute();
    expect(statuses.filter((s) => s.status !== 'completed')).to.deep.equal([]);
    for (const id of ids) {
      expect(await historyOf(h.tdb.db, id), `person ${id}`).to.have.length(1);
    }
    // Bounded: fewer FUB calls than webhooks even with the retries, not a storm of our own.
    const calls = h.sim.peopleCalls();
    expect(calls.length).to.be.below(PEOPLE * 2);
    // Nobody called FUB while a Retry-After it had given was running. Calls already on their way when
    // the 429 left FUB arrive within a few milliseconds of it (150 ms allowed for a busy event loop);
    // anything later was sent after we knew.
    for (const until of retryAfterUntil) {
      const during = calls.filter((c) => c.at > until - 1000 + 150 && c.at < until - 50).map((c) => c.at - (until - 1000));
      expect(during, 'ms after a 429 that calls arrived, inside its Retry-After').to.deep.equal([]);
    }
    const recorded = await Promise.all(ids.map((id) => historyOf(h.tdb.db, id)));
    reportFault({
      fault: 'FUB: 429 storm, 500s, 5 s answers past the timeout, connection resets',
      sent: PEOPLE * 2,
      acknowledged: String(PEOPLE * 2),
      processed: `${statuses.filter((s) => s.status === 'completed').length} (${calls.length} FUB calls, ${retryAfterUntil.length} answered 429, none sent inside a Retry-After)`,
      lost: recorded.filter((rows) => rows.length === 0).length,
      duplicated: recorded.reduce((n, rows) => n + Math.max(0, rows.length - 1), 0),
      test: 'tests/fault-fub-api.test.ts',
    });
  });
});
