// What a soak runs on: FUB (the simulator, its clock 30 s to 5 minutes off ours), a database of its own,
// and the proxy every collector process reaches that database through.
import { createDb, type Db } from '../../src/shared/db/database.js';
import { FubSimulator } from '../../fub-simulator/fub-simulator.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { addSoakPeople } from './lead-activity.js';
import type { Random } from './random.js';

export interface SoakEnvironment {
  sim: FubSimulator;
  /** Direct access, for the checks and the inbox watch (never through the proxy). */
  tdb: TestDatabase;
  proxy: TcpProxy;
  /** The test database's URL with the proxy's port: what the servers and the poller use. */
  proxiedUrl: string;
  /** The poller's pool, through the proxy. */
  pollerDb: Db;
  close(): Promise<void>;
}

export async function openSoakEnvironment(random: Random, personIds: readonly number[]): Promise<SoakEnvironment> {
  // Undone in reverse order, also when opening fails half-way.
  const undo: (() => Promise<void> | void)[] = [];
  const close = async (): Promise<void> => {
    for (const step of undo.reverse()) await step();
  };
  try {
    const sim = new FubSimulator();
    await sim.start();
    undo.push(() => sim.stop());
    // At least 30 s either way: a run whose FUB clock happened to agree with ours would test less.
    sim.clockOffsetMs = (random.chance(0.5) ? 1 : -1) * random.int(30_000, 300_000);
    addSoakPeople(sim, personIds);
    // The simulator keeps every request; only the last ten seconds matter (its rate-limit headers).
    const trim = setInterval(() => {
      if (sim.requests.length > 4000) sim.requests.splice(0, sim.requests.length - 2000);
      if (sim.reads.length > 4000) sim.reads.splice(0, sim.reads.length - 2000);
    }, 5000);
    undo.push(() => clearInterval(trim));

    const tdb = await createTestDatabase();
    undo.push(() => tdb.destroy());
    const target = new URL(tdb.url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    undo.push(() => proxy.close());
    const proxied = new URL(tdb.url);
    proxied.port = String(proxy.port);
    const pollerDb = createDb(proxied.toString(), { max: 4, applicationName: 'soak-poller' });
    undo.push(() => pollerDb.destroy());
    return { sim, tdb, proxy, proxiedUrl: proxied.toString(), pollerDb, close };
  } catch (error) {
    await close();
    throw error;
  }
}
