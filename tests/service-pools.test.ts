import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { sql } from 'kysely';
import { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { waitFor } from './support/wait.js';
import { freePort, postWebhook, startWebhookProcess, stopProcess } from './support/webhook-server-process.js';

// The webhook server as deployed keeps three pools: requests, recording, and the inbox writes, the
// last planned once per connection (see database.ts). What PostgreSQL sees of a running server.
describe('the webhook server process', function () {
  this.timeout(60_000);
  const sim = new FubSimulator();
  let tdb: TestDatabase;
  let server: ChildProcess | undefined;
  before(async () => {
    await sim.start();
    tdb = await createTestDatabase();
  });
  after(async () => {
    await stopProcess(server);
    await sim.stop();
    await tdb.destroy();
  });

  it('writes webhooks on its own inbox pool and records on its processing pool', async () => {
    const port = await freePort();
    server = await startWebhookProcess(sim, tdb.url, port);
    sim.addPerson(1, 'Lead');
    expect(await postWebhook(sim, port, sim.movePerson(1, 'ACQ - Qualified', new Date('2026-11-22T09:00:00Z')).stageUpdated)).to.equal(200);
    await waitFor('the event to be recorded', async () =>
      (await tdb.db.selectFrom('webhook_events').select('id').where('status', '=', 'completed').execute()).length === 1);
    const { rows } = await sql<{ application_name: string; query: string }>`
      SELECT application_name, query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`.execute(tdb.db);
    const inbox = rows.filter((r) => r.application_name === 'fub-collector-inbox');
    expect(inbox.map((r) => r.query.includes('prepared:store_deliveries'))).to.deep.equal([true]);
    expect(rows.some((r) => r.application_name === 'fub-collector-processing')).to.equal(true);
    // No other connection of the server wrote a delivery.
    expect(rows.filter((r) => r.query.includes('store_deliveries')).map((r) => r.application_name)).to.deep.equal(['fub-collector-inbox']);
  });
});
