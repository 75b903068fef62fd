// A careless operator starts a second copy, or picks a port something else holds: that is a mistake
// to explain in a sentence (exit 1), not a bug to print a stack trace for.
import { createServer, type Server } from 'node:net';
import { expect } from 'chai';
import { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { runEntrypoint, serviceEnv } from './support/run-entrypoint.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const STACK_FRAME = /^\s+at .+/m;

describe('entrypoints: the webhook port is taken', function () {
  this.timeout(120_000);
  const sim = new FubSimulator();
  let tdb: TestDatabase;
  let holder: Server;
  let port: number;
  before(async () => {
    await sim.start();
    tdb = await createTestDatabase();
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    port = (holder.address() as { port: number }).port;
  });
  after(async () => {
    await new Promise<void>((resolve) => holder.close(() => resolve()));
    await tdb.destroy();
    await sim.stop();
  });

  it('says the port is in use and which variable sets it, exit 1, no stack trace', async () => {
    const env = { ...serviceEnv(sim, tdb.url), LOG_LEVEL: 'silent', PORT: String(port) };
    const result = await runEntrypoint('src/webhook/main.ts', [], env);
    expect(result.code, result.stderr).to.equal(1);
    expect(result.stderr).to.contain(`Port ${port} is already in use`);
    expect(result.stderr).to.contain('PORT');
    expect(result.stderr).not.to.match(STACK_FRAME);
  });
});
