import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { waitFor } from './support/wait.js';
import { freePort, postWebhook, startWebhookProcess, stopProcess } from './support/webhook-server-process.js';

// The default settings, as deployed: the helper's short test lease and sweep are blanked out.
const DEFAULTS = { PROCESSING_LEASE_SECONDS: '', PROCESSING_SWEEP_MS: '' };

describe('a process killed while it holds events', function () {
  this.timeout(120_000);
  const sim = new FubSimulator();
  let tdb: TestDatabase;
  let first: ChildProcess | undefined;
  let second: ChildProcess | undefined;
  before(async () => {
    await sim.start();
    tdb = await createTestDatabase();
  });
  after(async () => {
    await stopProcess(first);
    await stopProcess(second);
    await sim.stop();
    await tdb.destroy();
  });

  it('has its events retried by another process within 30 s (short lease, renewed by heartbeat while alive)', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    first = await startWebhookProcess(sim, tdb.url, portA, DEFAULTS);
    for (const id of [1, 2, 3]) sim.addPerson(id, 'Lead');
    sim.latencyMs = 60_000; // FUB keeps the first process's people fetch waiting
    for (const id of [1, 2, 3]) {
      expect(await postWebhook(sim, portA, sim.movePerson(id, 'ACQ - Qualified', new Date(`2026-11-22T09:00:0${id}Z`)).peopleUpdated)).to.equal(200);
    }
    const processing = async (): Promise<number> =>
      (await tdb.db.selectFrom('webhook_events').select('id').where('status', '=', 'processing').execute()).length;
    await waitFor('the first process to claim events', async () => (await processing()) >= 2);
    second = await startWebhookProcess(sim, tdb.url, portB, DEFAULTS);
    await stopProcess(first, 'SIGKILL');
    const killedAt = Date.now();
    sim.latencyMs = 0;
    await waitFor(
      'the other process to finish the dead one\'s events',
      async () => (await tdb.db.selectFrom('webhook_events').select('id').where('status', '=', 'completed').execute()).length === 3,
      60_000,
    );
    expect(Date.now() - killedAt, 'ms from the kill to every event done').to.be.below(30_000);
  });
});
