import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { sql } from 'kysely';
import { createDb, type Db } from '../src/shared/db/database.js';
import { createInboxWriter } from '../src/webhook/inbox-writer.js';
import { FubSimulator, type WebhookEnvelope } from '../fub-simulator/fub-simulator.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { waitFor } from './support/wait.js';
import { freePort, startWebhookProcess, stopProcess } from './support/webhook-server-process.js';

// FUB gives up on a webhook after about 10 s; a client that waits this long saw the server hang.
const CLIENT_PATIENCE_MS = 15_000;

/** The test database's URL, reached through the proxy. */
function through(proxy: TcpProxy, url: string): string {
  const parsed = new URL(url);
  parsed.port = String(proxy.port);
  return parsed.toString();
}

/** Status of a signed POST, or 0 when the client gave up waiting. */
async function post(sim: FubSimulator, port: number, hook: unknown): Promise<number> {
  const { body, signature } = sim.sign(hook);
  try {
    const res = await fetch(`http://127.0.0.1:${port}/webhooks/fub`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'FUB-Signature': signature },
      body,
      signal: AbortSignal.timeout(CLIENT_PATIENCE_MS),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

async function get(port: number, path: string): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(CLIENT_PATIENCE_MS) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

describe('fault: the database stalls (connections open, no answers)', function () {
  this.timeout(120_000);
  const sim = new FubSimulator();
  let tdb: TestDatabase;
  let proxy: TcpProxy;
  let server: ChildProcess | undefined;
  let db: Db | undefined;

  before(async () => {
    await sim.start();
    tdb = await createTestDatabase();
  });
  beforeEach(async () => {
    proxy = await startTcpProxy();
  });
  afterEach(async () => {
    await stopProcess(server);
    server = undefined;
    await proxy.close(); // first: a pool cannot close while a statement waits on a stalled connection
    await db?.destroy();
    db = undefined;
  });
  after(async () => {
    await sim.stop();
    await tdb.destroy();
  });

  it('the webhook server answers 503 instead of hanging, /health and /metrics answer too, and it recovers', async () => {
    const port = await freePort();
    server = await startWebhookProcess(sim, through(proxy, tdb.url), port, { PROCESSING_SWEEP_MS: '1000' });
    sim.addPerson(1, 'Lead');
    const move = (at: string): WebhookEnvelope => sim.movePerson(1, 'ACQ - Qualified', new Date(at)).stageUpdated;
    expect(await post(sim, port, move('2026-11-22T09:00:00Z'))).to.equal(200);

    proxy.setMode('stall');
    const during = move('2026-11-22T09:01:00Z');
    const [webhook, health, metrics] = await Promise.all([post(sim, port, during), get(port, '/health'), get(port, '/metrics')]);
    expect(webhook, 'a stored webhook is 200, a refused one 503; 0 means the client gave up waiting').to.equal(503);
    expect(health, '/health').to.equal(503);
    expect(metrics, '/metrics still serves the process metrics').to.equal(200);
    expect(server.exitCode, 'the server kept running').to.equal(null);

    // FUB redelivers; once the database answers again the webhook is stored and processed.
    proxy.setMode('pass');
    await waitFor('the redelivery to be stored', async () => (await post(sim, port, during)) === 200, 60_000);
    db = createDb(tdb.url);
    const stored = await db.selectFrom('webhook_events').select('event_id').where('event_id', '=', during.eventId).execute();
    expect(stored).to.have.length(1);
  });

  it('keeps no more unacknowledged bodies in memory than its bound, and answers each within the deadline', async () => {
    db = createDb(through(proxy, tdb.url), { max: 4 });
    await sql`SELECT 1`.execute(db); // a connection open before the stall
    const inbox = createInboxWriter(db, { maxQueuedBytes: 4 * 1024 * 1024, deadlineMs: 1000 });
    proxy.setMode('stall');
    const body = 'x'.repeat(1024 * 1024);
    const outcomes: ('stored' | 'refused' | 'waiting')[] = Array(40).fill('waiting');
    const stores = outcomes.map((_, i) =>
      inbox
        .store({ path: '/webhooks/fub', rawBody: body, events: [] })
        .then(() => (outcomes[i] = 'stored'))
        .catch(() => (outcomes[i] = 'refused')),
    );
    // Bodies beyond the bound are refused at once (the server answers 503): they never queue up.
    await new Promise((resolve) => setImmediate(resolve));
    const refusedAtOnce = outcomes.filter((o) => o === 'refused').length;
    expect(refusedAtOnce, 'refused before any deadline').to.be.at.least(40 - 4 - 8);
    expect(inbox.queuedBytes()).to.be.at.most(4 * 1024 * 1024);
    // The rest are refused at their deadline, while the database still says nothing.
    await waitFor('every store to be answered', async () => !outcomes.includes('waiting'), 5000);
    expect(outcomes.filter((o) => o === 'stored')).to.deep.equal([]);
    expect(inbox.queuedBytes()).to.equal(0);
    proxy.setMode('pass');
    await Promise.all(stores);
  });

  it('a statement on a connection that stopped answering fails at the client deadline, and the pool replaces that connection', async () => {
    db = createDb(through(proxy, tdb.url), { max: 1, statementTimeoutMs: 1000 });
    await sql`SELECT 1`.execute(db);
    proxy.setMode('stall');
    const error = await sql`SELECT 1`.execute(db).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).to.equal('Query read timeout');
    proxy.setMode('pass');
    const { rows } = await sql<{ n: number }>`SELECT 2 AS n`.execute(db);
    expect(rows).to.deep.equal([{ n: 2 }]);
  });

  it('a statement that runs too long is cancelled by the server (statement_timeout)', async () => {
    db = createDb(tdb.url, { max: 1, statementTimeoutMs: 300 });
    const error = await sql`SELECT pg_sleep(5)`.execute(db).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).to.contain('statement timeout');
  });
});
