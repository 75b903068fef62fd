// A claimed event's lease must never run out while its worker is still at it, however short the
// lease is configured: else a second worker takes the event mid-way and both record it.
import { expect } from 'chai';
import { sql } from 'kysely';
import { createHarness, type Harness } from './support/harness.js';
import { sleep } from './support/wait.js';

describe('lease heartbeat', function () {
  this.timeout(60_000);
  let h: Harness;
  before(async () => {
    h = await createHarness({ leaseSeconds: 1 });
  });
  after(() => h.close());

  it('with a 1 s lease and a FUB fetch taking 2.5 s, the lease keeps a safe margin the whole time', async () => {
    h.sim.addPerson(1, 'Lead', new Date(Date.now() - 86_400_000));
    // No data.stage: the processor must fetch the person, and FUB answers slowly.
    expect((await h.deliver(h.sim.touchPerson(1))).status).to.equal(200);
    h.sim.latencyMs = 2500;
    const drained = h.processor.drain();
    const margins: number[] = [];
    let done = false;
    void drained.finally(() => (done = true));
    while (!done) {
      const { rows } = await sql<{ margin: number | null }>`
        SELECT EXTRACT(EPOCH FROM min(locked_until) - clock_timestamp())::float8 AS margin
        FROM webhook_events WHERE status = 'processing'`.execute(h.tdb.db);
      if (rows[0]?.margin != null) margins.push(rows[0].margin);
      await sleep(10);
    }
    await drained;
    expect(margins.length, 'samples taken while the event was processing').to.be.greaterThan(50);
    // Renewed every third of the lease, the margin stays near two thirds of it (0.67 s).
    expect(Math.min(...margins), 'smallest time left on the lease (s)').to.be.greaterThan(0.3);
    const event = await h.tdb.db.selectFrom('webhook_events').select(['status', 'attempts']).executeTakeFirstOrThrow();
    expect(event).to.deep.equal({ status: 'completed', attempts: 1 });
  });
});
