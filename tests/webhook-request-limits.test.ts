import { expect } from 'chai';
import { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { startListeningWebhookServer, type ListeningWebhookServer } from './support/listening-webhook-server.js';
import { openRawRequest, type RawRequest } from './support/raw-http.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { postWebhook } from './support/webhook-server-process.js';
import { waitFor } from './support/wait.js';

// Real sockets on 127.0.0.1: what matters here is what the server does before a body has arrived.
describe('webhook request limits (real sockets)', function () {
  this.timeout(60_000);
  let sim: FubSimulator;
  let tdb: TestDatabase;
  let server: ListeningWebhookServer;
  const open: RawRequest[] = [];
  const MAX_BODIES = 4;

  before(async () => {
    sim = new FubSimulator();
    await sim.start();
    tdb = await createTestDatabase();
    server = await startListeningWebhookServer(sim, tdb, {
      WEBHOOK_BODY_TIMEOUT_MS: '3000',
      WEBHOOK_MAX_BODIES_IN_FLIGHT: String(MAX_BODIES),
    });
  });
  afterEach(() => {
    open.splice(0).forEach((r) => r.destroy());
  });
  after(async () => {
    await server.stop();
    await sim.stop();
    await tdb.destroy();
  });

  const envelope = (eventId: string) => ({
    eventId,
    eventCreated: '2026-11-20T14:30:00+00:00',
    event: 'peopleUpdated',
    resourceIds: [7],
    uri: 'https://api.followupboss.com/v1/people?id=7',
  });
  const isStored = async (eventId: string): Promise<boolean> =>
    (await tdb.db.selectFrom('webhook_events').select('id').where('event_id', '=', eventId).executeTakeFirst()) !== undefined;

  /** A signed delivery whose head is sent at once and whose body is still to come. */
  async function startSignedRequest(eventId: string): Promise<{ req: RawRequest; body: string }> {
    const { body, signature } = sim.sign(envelope(eventId));
    const req = await openRawRequest(server.port, [
      'POST /webhooks/fub HTTP/1.1',
      'Host: 127.0.0.1',
      'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(body)}`,
      `FUB-Signature: ${signature}`,
    ]);
    open.push(req);
    return { req, body };
  }

  it('answers 408 to a body sent one byte every 2 s and closes the socket', async () => {
    const { req, body } = await startSignedRequest('slow-1');
    let sent = 0;
    const drip = setInterval(() => req.write(body[sent++] ?? ''), 2000);
    req.write(body[sent++]!);
    try {
      // Body deadline 3 s here; without one the server waits for the last byte (over a minute away).
      const answer = await req.answer(15_000);
      expect(answer.status).to.equal(408);
      expect(answer.headers.connection).to.equal('close');
    } finally {
      clearInterval(drip);
    }
    expect(sent).to.be.below(body.length);
    expect(await isStored('slow-1')).to.equal(false);
  });

  it('gives the slot of a body that ran out of time back once its socket is closed', async () => {
    const slow = await Promise.all(Array.from({ length: MAX_BODIES }, (_, i) => startSignedRequest(`timed-out-${i}`)));
    slow.forEach(({ req, body }) => req.write(body.slice(0, 5)));
    const answers = await Promise.all(slow.map(({ req }) => req.answer(15_000)));
    expect(answers.map((a) => a.status)).to.deep.equal(Array(MAX_BODIES).fill(408));
    // Had the timed-out reads kept their slots, every slot would still be taken: 503.
    expect(await postWebhook(sim, server.port, envelope('after-timeouts'))).to.equal(200);
  });

  it('refuses a request without a FUB-Signature (401) before any of its body is sent', async () => {
    for (const signatureHeader of [[], ['FUB-Signature: not-a-signature']]) {
      const req = await openRawRequest(server.port, [
        'POST /webhooks/fub HTTP/1.1',
        'Host: 127.0.0.1',
        'Content-Type: application/json',
        `Content-Length: ${1024 * 1024}`,
        ...signatureHeader,
      ]);
      open.push(req);
      // Not one body byte is written: an answer can only come from looking at the headers.
      const answer = await req.answer(10_000);
      expect(answer.status).to.equal(401);
      expect(answer.headers.connection).to.equal('close');
    }
  });

  it(`answers 503 with Retry-After beyond ${MAX_BODIES} bodies being read at once, and takes deliveries again once they end`, async () => {
    for (let i = 0; i < MAX_BODIES; i++) {
      const { req, body } = await startSignedRequest(`held-${i}`);
      req.write(body.slice(0, 5));
    }
    // The server sees each head a moment after it was sent: probe until one is turned away. A probe
    // that was still let in becomes one more slow body; probes never send a body.
    let refused: { status: number; retryAfter: string | undefined } | undefined;
    await waitFor(
      'a request beyond the cap to be refused',
      async () => {
        const { req } = await startSignedRequest(`probe-${open.length}`);
        try {
          const answer = await req.answer(1000);
          refused = { status: answer.status, retryAfter: answer.headers['retry-after'] };
          return true;
        } catch {
          return false;
        }
      },
      15_000,
    );
    expect(refused?.status).to.equal(503);
    expect(Number(refused?.retryAfter)).to.be.greaterThan(0);

    open.splice(0).forEach((r) => r.destroy());
    await waitFor('a signed delivery to be taken again', async () => (await postWebhook(sim, server.port, envelope('after-1'))) === 200, 10_000);
    expect(await isStored('after-1')).to.equal(true);
  });
});
