// FUB's side fuzzed: every call the service makes (a poll's people page, a webhook's fetch of people by
// id, the stage list, the webhook list and registration) gets answers with odd statuses, headers and
// bodies, including text holding NUL and lone surrogates. None may be taken for "nothing changed" or
// "not found", none may crash or hang a process, and once FUB answers properly again nothing is lost.
import { expect } from 'chai';
import fc from 'fast-check';
import { sql } from 'kysely';
import { FubApiError } from '../src/shared/fub/fub-client.js';
import { registerWebhooks, COLLECTOR_EVENTS } from '../src/shared/fub/webhook-registrations.js';
import type { SimRequest, SimResponse } from '../fub-simulator/fub-simulator.js';
import { createHarness, type Harness } from './support/harness.js';
import { reportFault } from './support/fault-figures.js';

const DAY = 86_400_000;
const RUNS = 40;

/** How a fuzzed answer differs from the one FUB would give. `noise` answers are still good answers. */
type Mutation =
  | { kind: 'status'; status: number; body: Body }
  | { kind: 'body'; status: number; body: Body }
  | { kind: 'truncated'; status: number; keep: number }
  | { kind: 'structure'; drop: 'envelope' | 'list'; replacement: unknown }
  | { kind: 'field'; field: string; value: unknown }
  | { kind: 'headers'; headers: Record<string, string> }
  | { kind: 'noise'; nul: number; surrogate: 'high' | 'low'; headers: Record<string, string> };
type Body = { raw: string } | { bytes: number[] } | { json: unknown };

const isGood = (m: Mutation): boolean => m.kind === 'noise';

/** Headers that break nothing: any Content-Type (we read the body, not the label), a Date or none. */
const harmlessHeaders = fc.record(
  {
    'Content-Type': fc.constantFrom('application/json', 'text/html', 'text/plain; charset=utf-8', 'nonsense'),
    // A missing, unreadable or absurd Date must not move FUB's clock as we know it.
    Date: fc.oneof(fc.constant(''), fc.string({ maxLength: 30 }), fc.date({ min: new Date('1970-01-01'), max: new Date('2200-01-01'), noInvalidDate: true }).map((d) => d.toUTCString())),
  },
  { requiredKeys: [] },
);
const body: fc.Arbitrary<Body> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }).map((raw) => ({ raw })),
  fc.uint8Array({ maxLength: 200 }).map((b) => ({ bytes: [...b] })),
  // Any JSON but one shaped like the answer asked for (which would be FUB's word).
  fc.jsonValue().filter((v) => !(v !== null && typeof v === 'object' && !Array.isArray(v) && ('_metadata' in v || 'stages' in v || 'webhooks' in v || 'id' in v))).map((json) => ({ json })),
  fc.constantFrom<Body>({ raw: '' }, { raw: '<html><body>502 Bad Gateway</body></html>' }, { json: {} }, { json: { errorMessage: 'Internal error' } }, { json: null }, { json: [] }),
);
const anything = fc.constantFrom<unknown>(null, true, false, -5, 0, 1.5, '', ' ', '\u0000', 'not a date', '2026-13-45', [], [1], {}, { nested: 1 });
const text = fc.string({ maxLength: 20 });
/** Values a field cannot hold in a good answer (by what the field is). */
const WRONG: Record<string, fc.Arbitrary<unknown>> = {
  id: fc.oneof(anything, text).filter((v) => !(typeof v === 'string' && /^\s*\d+\s*$/.test(v)) && !(typeof v === 'number' && Number.isInteger(v) && v > 0)),
  stageId: fc.oneof(anything, text).filter((v) => v !== null && !(typeof v === 'string' && /^\s*\d*\s*$/.test(v)) && !(typeof v === 'number' && Number.isInteger(v) && v >= 0)),
  // A stage must be a name: not another type, and not empty once cleaned.
  stage: anything.filter((v) => typeof v !== 'string' || v.replaceAll('\u0000', '').trim() === ''),
  time: fc.oneof(anything, text).filter((v) => v !== null && !(typeof v === 'string' && (v.trim() === '' || /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(v)))),
  // Webhook fields are any string: only another type is wrong.
  string: anything.filter((v) => typeof v !== 'string'),
};
const FIELD_KIND: Record<string, keyof typeof WRONG> = {
  id: 'id',
  stageId: 'stageId',
  stage: 'stage',
  name: 'stage',
  updated: 'time',
  created: 'time',
  event: 'string',
  url: 'string',
  status: 'string',
};

/** Every way an answer can be wrong, for a call whose elements have these fields. */
function mutation(fields: string[]): fc.Arbitrary<Mutation> {
  return fc.oneof(
    fc.record({ kind: fc.constant('status' as const), status: fc.constantFrom(300, 304, 400, 404, 405, 409, 410, 418, 422, 500, 502, 503, 504), body }),
    fc.record({ kind: fc.constant('body' as const), status: fc.constantFrom(200, 200, 201, 202, 204, 206), body }),
    fc.record({ kind: fc.constant('truncated' as const), status: fc.constant(200), keep: fc.nat(400) }),
    fc.record({
      kind: fc.constant('structure' as const),
      drop: fc.constantFrom('envelope' as const, 'list' as const),
      replacement: fc.oneof(fc.constant(undefined), fc.jsonValue().filter((v) => !Array.isArray(v) && (v === null || typeof v !== 'object'))),
    }),
    fc.constantFrom(...fields).chain((field) => fc.record({ kind: fc.constant('field' as const), field: fc.constant(field), value: WRONG[FIELD_KIND[field]!]! })),
    // A body labelled compressed that is not: unreadable, like a cut connection.
    fc.record({ kind: fc.constant('headers' as const), headers: fc.constantFrom({ 'Content-Encoding': 'gzip' }, { 'Content-Encoding': 'br' }, { 'Content-Encoding': 'deflate' }) }),
    fc.record({ kind: fc.constant('noise' as const), nul: fc.integer({ min: 1, max: 3 }), surrogate: fc.constantFrom('high' as const, 'low' as const), headers: harmlessHeaders }),
  );
}

const LIST_KEYS = ['people', 'stages', 'webhooks'];

/** The fuzzed answer, made from the one the simulator would give. */
function apply(m: Mutation, answer: SimResponse): SimResponse {
  const valid = answer.body as Record<string, unknown>;
  const listKey = LIST_KEYS.find((k) => Array.isArray(valid[k]));
  switch (m.kind) {
    case 'status':
    case 'body':
      return { status: m.status, rawBody: 'raw' in m.body ? m.body.raw : 'bytes' in m.body ? Buffer.from(m.body.bytes) : JSON.stringify(m.body.json) ?? '' };
    case 'truncated': {
      const text = JSON.stringify(valid);
      return { status: m.status, rawBody: text.slice(0, Math.min(m.keep, text.length - 1)) };
    }
    case 'structure': {
      // The list itself lost or replaced; or, for a people page, its _metadata.
      const copy: Record<string, unknown> = { ...valid };
      const key = m.drop === 'envelope' && listKey === 'people' ? '_metadata' : (listKey ?? 'id');
      if (m.replacement === undefined || listKey === undefined) delete copy[key];
      else copy[key] = m.replacement;
      return { ...answer, body: copy };
    }
    case 'field': {
      if (listKey === undefined) return { ...answer, body: { ...valid, [m.field]: m.value } };
      const [first, ...rest] = valid[listKey] as Record<string, unknown>[];
      return { ...answer, body: { ...valid, [listKey]: [{ ...first, [m.field]: m.value }, ...rest] } };
    }
    case 'headers':
      return { ...answer, headers: { ...answer.headers, ...m.headers } };
    case 'noise': {
      // NUL around and inside names and stages (cleaning removes it exactly); lone surrogates in names.
      const nul = '\u0000'.repeat(m.nul);
      const lone = m.surrogate === 'high' ? '\ud83d' : '\udc4d';
      const noisy = (e: Record<string, unknown>): Record<string, unknown> => ({
        ...e,
        ...(typeof e.stage === 'string' ? { stage: `${nul}${e.stage} ${nul}` } : {}),
        ...(typeof e.name === 'string' ? { name: `${e.name}${nul}` } : {}),
        ...(typeof e.firstName === 'string' ? { firstName: `${lone}${e.firstName}${nul}` } : {}),
      });
      const list = listKey === undefined ? undefined : (valid[listKey] as Record<string, unknown>[]).map(noisy);
      return { ...answer, headers: { ...answer.headers, ...m.headers }, body: listKey === undefined ? valid : { ...valid, [listKey]: list } };
    }
  }
}

describe("fault: fuzzed FUB answers (fast-check), for every call the service makes", function () {
  this.timeout(600_000);
  let h: Harness;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    // Two retries per call keep the runs short; what is retried is the same either way.
    h = await createHarness({}, { maxRetries: 2 });
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await h.close();
    expect(unhandled, 'unhandled rejections').to.deep.equal([]);
  });

  const stagesOf = async (personId: number): Promise<string[]> =>
    (await sql<{ stage_to: string }>`SELECT stage_to FROM stage_changes WHERE person_id = ${personId} ORDER BY changed_at, seq`.execute(h.tdb.db)).rows.map((r) => r.stage_to);
  const fuzz = (when: (req: SimRequest) => boolean, m: Mutation): void => {
    h.sim.edits.push((req, answer) => (when(req) ? apply(m, answer) : undefined));
  };
  const peopleList = (req: SimRequest): boolean => req.path === '/v1/people' && req.query.get('id') === null;
  const peopleByIds = (req: SimRequest): boolean => req.path === '/v1/people' && req.query.get('id') !== null;

  /** Person 1 in Lead for days and read by a first poll; FUB's clock stands still, near ours. */
  async function installed(): Promise<void> {
    await h.reset();
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 + 200));
    h.sim.addPerson(1, 'Lead', new Date(h.sim.now().getTime() - 3 * DAY));
    h.sim.addPerson(2, 'Lead', new Date(h.sim.now().getTime() - 3 * DAY + 1000));
    const first = await h.newPoller().runOnce();
    expect(first.status).to.equal('succeeded');
  }

  it('a poll given a bad people page fails (watermark kept); the next poll records the move', async () => {
    const tally = { failed: 0, good: 0 };
    await fc.assert(
      fc.asyncProperty(mutation(['id', 'stage', 'stageId', 'updated', 'created']), async (m) => {
        await installed();
        h.sim.advanceClock(10_000);
        h.sim.movePerson(1, 'Hot'); // its webhooks are lost
        h.sim.advanceClock(10 * 60_000);
        fuzz(peopleList, m);
        const fuzzed = await h.newPoller().runOnce();
        h.sim.edits.length = 0;
        expect(fuzzed.status, JSON.stringify(fuzzed)).to.equal(isGood(m) ? 'succeeded' : 'failed');
        tally[isGood(m) ? 'good' : 'failed'] += 1;
        h.sim.advanceClock(60_000);
        expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
        expect(await stagesOf(1)).to.deep.equal(['Lead', 'Hot']);
        // The watermark is sane: a later move is read by the poll after it.
        h.sim.advanceClock(60_000);
        h.sim.movePerson(2, 'Cold');
        h.sim.advanceClock(60_000);
        expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
        expect(await stagesOf(2)).to.deep.equal(['Lead', 'Cold']);
        const names = await h.tdb.db.selectFrom('people').select(['first_name']).execute();
        expect(names.every((n) => n.first_name !== null && !n.first_name.includes('\u0000'))).to.equal(true);
      }),
      { numRuns: RUNS, seed: 20261127 },
    );
    expect(tally.failed).to.be.greaterThan(RUNS / 2);
    reportFault({
      fault: `fuzzed FUB people pages for the poll (fast-check, ${RUNS} runs)`,
      sent: RUNS,
      acknowledged: `${tally.failed} bad answers → poll failed, watermark kept; ${tally.good} noisy but good → recorded, cleaned`,
      processed: 'the next poll recorded every move in every run',
      lost: 0,
      duplicated: 0,
      test: 'tests/fault-fuzz-fub.test.ts',
    });
  });

  it("a webhook's fetch given a bad answer ends dead (never ignored), and is recorded once replayed", async () => {
    await fc.assert(
      fc.asyncProperty(mutation(['id', 'stage', 'stageId', 'updated', 'created']), async (m) => {
        await installed();
        h.sim.advanceClock(10_000);
        const move = h.sim.movePerson(1, 'Hot');
        fuzz(peopleByIds, m);
        expect((await h.deliver(move.peopleUpdated)).status).to.equal(200);
        await h.processor.drain();
        h.sim.edits.length = 0;
        const row = await h.tdb.db.selectFrom('webhook_events').select(['status', 'error_message']).executeTakeFirstOrThrow();
        if (isGood(m)) {
          expect(row.status, row.error_message ?? '').to.equal('completed');
        } else {
          expect(row.status, row.error_message ?? '').to.equal('dead');
          expect(row.error_message).not.to.match(/not found/);
          await h.tdb.db.updateTable('webhook_events').set({ status: 'failed', attempts: 0, next_attempt_at: new Date() }).execute();
          await h.processor.drain();
        }
        expect(await stagesOf(1)).to.deep.equal(['Lead', 'Hot']);
      }),
      { numRuns: RUNS, seed: 20261128 },
    );
  });

  it('a bad stage list costs a named move nothing: it is recorded by name', async () => {
    await fc.assert(
      fc.asyncProperty(mutation(['id', 'name']), async (m) => {
        await installed();
        h.sim.advanceClock(10_000);
        const move = h.sim.movePerson(1, 'Brand new stage');
        fuzz((req) => req.path === '/v1/stages', m);
        expect((await h.deliver(move.stageUpdated)).status).to.equal(200);
        await h.processor.drain();
        h.sim.edits.length = 0;
        const row = await h.tdb.db.selectFrom('webhook_events').select(['status', 'error_message']).executeTakeFirstOrThrow();
        expect(row.status, row.error_message ?? '').to.equal('completed');
        expect(await stagesOf(1)).to.deep.equal(['Lead', 'Brand new stage']);
      }),
      { numRuns: RUNS, seed: 20261129 },
    );
  });

  it('webhook registration given a bad list or answer fails clearly, and never registers one twice', async () => {
    const url = 'https://collector.example/webhooks/fub';
    await fc.assert(
      fc.asyncProperty(mutation(['id', 'event', 'url', 'status']), fc.constantFrom('GET', 'POST'), async (m, method) => {
        await h.reset();
        fuzz((req) => req.path === '/v1/webhooks' && req.method === method, m);
        const outcome = await registerWebhooks(h.fub, url).then(
          () => 'registered',
          (error: unknown) => error,
        );
        h.sim.edits.length = 0;
        if (isGood(m)) expect(outcome).to.equal('registered');
        else expect(outcome, String(outcome)).to.be.instanceOf(FubApiError);
        // Once FUB answers properly, one more run completes the set without a second copy of any.
        await registerWebhooks(h.fub, url);
        expect(h.sim.webhooks.map((w) => w.event).sort()).to.deep.equal([...COLLECTOR_EVENTS].sort());
      }),
      { numRuns: RUNS, seed: 20261130 },
    );
  });
});
