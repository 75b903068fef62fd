import { expect } from 'chai';
import fc from 'fast-check';
import request from 'supertest';
import { signBody } from '../src/webhook/verify-signature.js';
import { createHarness, type Harness } from './support/harness.js';
import { reportFault } from './support/fault-figures.js';

/** How the signature header of a fuzzed request is made. */
type SignatureKind = 'none' | 'valid' | 'other-key' | 'garbage' | 'valid-upper';

describe('fault: fuzzed webhook requests (fast-check)', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(() => h.close());

  const count = async (): Promise<number> =>
    Number((await h.tdb.db.selectFrom('webhook_events').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  // Bodies: raw bytes, arbitrary text, arbitrary JSON, and envelope-like objects with odd fields.
  const envelope = fc.record(
    {
      eventId: fc.oneof(fc.uuid(), fc.string(), fc.integer(), fc.constant(null)),
      event: fc.oneof(fc.constantFrom('peopleStageUpdated', 'peopleUpdated', 'peopleCreated', 'peopleTagsCreated'), fc.string()),
      resourceIds: fc.oneof(fc.array(fc.integer()), fc.array(fc.string()), fc.anything()),
      eventCreated: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string(), fc.integer()),
      data: fc.oneof(fc.record({ stage: fc.string() }), fc.anything()),
    },
    { requiredKeys: [] },
  );
  const body = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
    fc.string({ unit: 'binary', maxLength: 300 }).map((s) => Buffer.from(s)),
    fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
    fc.oneof(envelope, fc.array(envelope, { maxLength: 5 })).map((v) => Buffer.from(JSON.stringify(v))),
  );
  const signature = fc.constantFrom<SignatureKind>('none', 'valid', 'other-key', 'garbage', 'valid-upper');
  const contentType = fc.constantFrom(undefined, 'application/json', 'text/plain', 'application/x-www-form-urlencoded', '');
  const path = fc.constantFrom('/webhooks/fub', '/webhook/fub/stage-change');

  it('answers every request with 2xx or 4xx, never 5xx, and stores nothing that is not correctly signed', async () => {
    const outcomes = { stored: 0, rejected: 0 };
    const storedBodies = new Set<string>();
    await fc.assert(
      fc.asyncProperty(body, signature, contentType, path, fc.string({ maxLength: 80 }), async (bytes, kind, type, target, junk) => {
        const before = await count();
        let req = request(h.app.callback()).post(target);
        if (type !== undefined) req = req.set('Content-Type', type);
        const valid = signBody(bytes, h.sim.systemKey);
        if (kind === 'valid') req = req.set('FUB-Signature', valid);
        if (kind === 'valid-upper') req = req.set('FUB-Signature', valid.toUpperCase());
        if (kind === 'other-key') req = req.set('FUB-Signature', signBody(bytes, 'someone-else'));
        if (kind === 'garbage') req = req.set('FUB-Signature', junk);
        // Send the bytes as they are (superagent would JSON-encode a Buffer under a JSON content type).
        const res = await req.serialize((data: unknown) => data as string).send(bytes);
        expect(res.status, `status for ${kind}`).to.be.within(200, 499);
        const signed = kind === 'valid' || kind === 'valid-upper';
        if (!signed) {
          expect(res.status).to.equal(401);
          expect(await count()).to.equal(before);
          outcomes.rejected += 1;
          return;
        }
        let json = true;
        try {
          JSON.parse(bytes.toString('utf8'));
        } catch {
          json = false;
        }
        expect(res.status).to.equal(json ? 200 : 400);
        if (!json) expect(await count()).to.equal(before);
        else {
          outcomes.stored += 1;
          storedBodies.add(bytes.toString('utf8'));
        }
      }),
      { numRuns: 300, seed: 20261123 },
    );
    // Everything stored can be processed without a crash: odd shapes end ignored, never stuck.
    await h.processor.drain();
    const stuck = await h.tdb.db.selectFrom('webhook_events').select('status').where('status', 'in', ['received', 'processing']).execute();
    expect(stuck).to.deep.equal([]);
    expect(outcomes.stored).to.be.greaterThan(50);
    expect(outcomes.rejected).to.be.greaterThan(100);
    // Every acknowledged delivery is kept as it came, before the answer: one row per distinct body,
    // an exact replay counted on it.
    const kept = await h.tdb.db
      .selectFrom('webhook_deliveries')
      .select((eb) => [eb.fn.countAll<number>().as('rows'), eb.fn.sum<number>(eb('replay_count', '+', 1)).as('arrivals')])
      .executeTakeFirstOrThrow();
    expect(Number(kept.rows)).to.equal(storedBodies.size);
    const deliveries = Number(kept.arrivals);
    expect(deliveries).to.equal(outcomes.stored);
    reportFault({
      fault: 'fuzzed bodies, headers and signatures (fast-check, 300 runs)',
      sent: 300,
      acknowledged: `${outcomes.stored} signed JSON stored; ${outcomes.rejected} unsigned → 401, nothing stored; 0 answered 5xx`,
      processed: `every stored event ends completed, ignored or dead (${stuck.length} left waiting)`,
      lost: outcomes.stored - deliveries,
      duplicated: 'n/a',
      test: 'tests/fault-fuzz.test.ts',
    });
  });
});
