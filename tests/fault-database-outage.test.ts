import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { sql } from 'kysely';
import { createDb, type Db } from '../src/shared/db/database.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/shared/db/embedded-postgres.js';
import { FubSimulator, type WebhookEnvelope } from '../fub-simulator/fub-simulator.js';
import { testLogger } from './support/harness.js';
import { pendingEvents } from './support/history.js';
import { sleep, waitFor } from './support/wait.js';
import { freePort, postWebhook, startWebhookProcess, stopProcess } from './support/webhook-server-process.js';
import { reportFault } from './support/fault-figures.js';

describe('fault: PostgreSQL stopped for 10 s under load', function () {
  this.timeout(180_000);
  const sim = new FubSimulator();
  // A server of this test's own, never the shared one the other tests use.
  const dataDir = join(tmpdir(), `fub-collector-outage-pg-${process.pid}`);
  let pgPort: number;
  let pg: EmbeddedDatabase | undefined;
  let server: ChildProcess | undefined;
  let db: Db | undefined;

  const startPostgres = async (): Promise<EmbeddedDatabase> => startEmbeddedPostgres({ dataDir, port: pgPort, log: testLogger() });

  before(async () => {
    await sim.start();
    pgPort = await freePort();
    pg = await startPostgres();
  });
  after(async () => {
    await stopProcess(server);
    await db?.destroy();
    await pg?.stop();
    await sim.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers 503 while it is down, recovers by itself, and loses nothing it acknowledged', async () => {
    const webPort = await freePort();
    server = await startWebhookProcess(sim, pg!.url, webPort);
    const hooks: WebhookEnvelope[] = [];
    const t0 = Date.parse('2026-11-22T08:00:00Z');
    for (let i = 0; i < 1200; i++) {
      sim.addPerson(50_000 + i, 'Lead');
      hooks.push(sim.movePerson(50_000 + i, 'ACQ - Qualified', new Date(t0 + i * 1000)).stageUpdated);
    }
    const statuses = new Map<number, number>();
    const acked = new Set<string>();
    const sendAll = async (list: WebhookEnvelope[], paceMs: number): Promise<void> => {
      for (const hook of list) {
        const status = await postWebhook(sim, webPort, hook);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status >= 200 && status < 300) acked.add(hook.eventId);
        await sleep(paceMs);
      }
    };
    // ~20 s of steady load; PostgreSQL goes away from 4 s to 14 s.
    const load = sendAll(hooks, 15);
    await sleep(4000);
    await pg!.stop();
    pg = undefined;
    await sleep(10_000);
    pg = await startPostgres();
    await load;
    expect(server.exitCode, 'the server process kept running').to.equal(null);
    expect(statuses.get(503) ?? 0, 'answers while the database was down').to.be.greaterThan(50);
    expect([...statuses.keys()].filter((s) => s !== 200 && s !== 503), 'no other answers').to.deep.equal([]);

    // FUB redelivers what got a 503; everything ends up stored and processed once.
    await sendAll(hooks.filter((h) => !acked.has(h.eventId)), 0);
    db = createDb(pg.url);
    await waitFor('every event to be processed', async () => (await pendingEvents(db!)) === 0, 60_000);
    const { rows } = await sql<{ events: number; completed: number; changes: number; people: number }>`
      SELECT (SELECT count(*) FROM webhook_events)::int AS events,
             (SELECT count(*) FROM webhook_events WHERE status = 'completed')::int AS completed,
             (SELECT count(*) FROM stage_changes)::int AS changes,
             (SELECT count(DISTINCT person_id) FROM stage_changes)::int AS people`.execute(db);
    expect(rows[0]).to.deep.equal({ events: 1200, completed: 1200, changes: 1200, people: 1200 });
    const health = await fetch(`http://127.0.0.1:${webPort}/health`);
    expect(health.status).to.equal(200);
    reportFault({
      fault: 'PostgreSQL (the test\'s own) stopped for 10 s under load',
      sent: hooks.length,
      acknowledged: `${rows[0]!.events} (${statuses.get(503) ?? 0} got 503 while it was down and were redelivered)`,
      processed: String(rows[0]!.completed),
      lost: hooks.length - rows[0]!.people,
      duplicated: rows[0]!.changes - rows[0]!.people,
      test: 'tests/fault-database-outage.test.ts',
    });
  });
});
