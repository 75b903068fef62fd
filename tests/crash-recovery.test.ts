import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { sql } from 'kysely';
import { FubSimulator, type WebhookEnvelope } from '../fub-simulator/fub-simulator.js';
import { pendingEvents } from './support/history.js';
import { freePort, postWebhook, startWebhookProcess, stopProcess } from './support/webhook-server-process.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { waitFor } from './support/wait.js';
import { reportFault } from './support/fault-figures.js';

describe('a webhook server killed with SIGKILL mid-burst', function () {
  this.timeout(120_000);
  let tdb: TestDatabase;
  const sim = new FubSimulator();
  let child: ChildProcess | undefined;
  let port: number;

  before(async () => {
    await sim.start();
    tdb = await createTestDatabase();
    port = await freePort();
  });
  afterEach(async () => {
    await stopProcess(child);
    child = undefined;
  });
  after(async () => {
    await sim.stop();
    await tdb.destroy();
  });

  const startServer = (): Promise<ChildProcess> => startWebhookProcess(sim, tdb.url, port);

  /** Sends each webhook once; returns the ids the server acknowledged with a 2xx. */
  async function send(hooks: WebhookEnvelope[], onAck: () => void): Promise<Set<string>> {
    const acked = new Set<string>();
    let next = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < hooks.length) {
          const hook = hooks[next++]!;
          // Anything but a 2xx (refused, reset) is not acknowledged: FUB will deliver it again.
          const status = await postWebhook(sim, port, hook);
          if (status >= 200 && status < 300) {
            acked.add(hook.eventId);
            onAck();
          }
        }
      }),
    );
    return acked;
  }

  it('processes every acknowledged webhook exactly once after a restart', async () => {
    const t0 = Date.parse('2026-11-21T10:00:00.000Z');
    const hooks: WebhookEnvelope[] = [];
    for (let i = 0; i < 1000; i++) {
      sim.addPerson(20_000 + i, 'Lead');
      hooks.push(sim.movePerson(20_000 + i, 'ACQ - Qualified', new Date(t0 + i * 10)).stageUpdated);
      // A second later: moves inside one second have no order in what FUB sends, and no read settles it here.
      hooks.push(sim.movePerson(20_000 + i, 'ACQ - Offers Made', new Date(t0 + i * 10 + 1000)).stageUpdated);
    }
    child = await startServer();
    let acks = 0;
    const firstChild = child;
    const firstRound = await send(hooks, () => {
      if (++acks === 600) firstChild.kill('SIGKILL');
    });
    await new Promise((resolve) => (firstChild.exitCode !== null || firstChild.signalCode !== null ? resolve(null) : firstChild.once('exit', resolve)));
    expect(firstChild.signalCode).to.equal('SIGKILL');
    expect(firstRound.size).to.be.at.least(600).and.below(hooks.length);

    // FUB redelivers what was not acknowledged; the restarted server takes it and finishes the rest.
    child = await startServer();
    const secondRound = await send(hooks.filter((h) => !firstRound.has(h.eventId)), () => undefined);
    expect(firstRound.size + secondRound.size).to.equal(hooks.length);
    await waitFor('every event to be processed', async () => (await pendingEvents(tdb.db)) === 0, 60_000);

    const statuses = await tdb.db
      .selectFrom('webhook_events')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute();
    expect(statuses.map((s) => ({ status: s.status, n: Number(s.n) }))).to.deep.equal([{ status: 'completed', n: 2000 }]);
    const { rows } = await sql<{ rows: number; distinct_moves: number; right_from: number }>`
      SELECT count(*)::int AS rows,
             count(DISTINCT (person_id, stage_to))::int AS distinct_moves,
             count(*) FILTER (WHERE (stage_to = 'ACQ - Qualified' AND stage_from IS NULL)
                               OR (stage_to = 'ACQ - Offers Made' AND stage_from = 'ACQ - Qualified'))::int AS right_from
      FROM stage_changes`.execute(tdb.db);
    expect(rows[0]).to.deep.equal({ rows: 2000, distinct_moves: 2000, right_from: 2000 });
    const completed = statuses.filter((s) => s.status === 'completed').reduce((n, s) => n + Number(s.n), 0);
    reportFault({
      fault: 'webhook server killed with SIGKILL mid-burst, restarted',
      sent: hooks.length,
      acknowledged: `${firstRound.size + secondRound.size} (${firstRound.size} before the kill, ${secondRound.size} redelivered after)`,
      processed: String(completed),
      lost: hooks.length - rows[0]!.distinct_moves,
      duplicated: rows[0]!.rows - rows[0]!.distinct_moves,
      test: 'tests/crash-recovery.test.ts',
    });
  });

  it('stops cleanly on SIGTERM: no new connections, exit code 0', async () => {
    child = await startServer();
    const proc = child;
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.kill('SIGTERM');
    expect(await exited).to.equal(0);
    const refused = await fetch(`http://127.0.0.1:${port}/health`).then(
      () => false,
      () => true,
    );
    expect(refused).to.equal(true);
  });
});
