import { expect } from 'chai';
import { sql } from 'kysely';
import { createHarness, type Harness } from './support/harness.js';

// A stored time JavaScript cannot parse when it is read back is an Invalid Date in the rebuild's
// statements. It must fail that person's event alone (PostgreSQL refuses it as data, and the batch is
// retried event by event), never throw in JavaScript and fail the whole claimed batch's round, which
// leaves every event of it 'processing' until its lease ends, again and again. (Found by review.)
// One such time: a year BC ("0001-06-01T00:00:00+00:00 BC" in PostgreSQL's JSON), as releases up
// to de27442 stored from FUB's `updated: "0000-06-01T00:00:00Z"`.
const DAY = 86_400_000;

/**
 * Persons 1 to 3 move and FUB's peopleUpdated for each is processed in one batch: the round must end
 * (no JavaScript throw), and persons 1 and 3 complete whatever person 2's stored times are. Returns
 * each person's event status.
 */
async function movesOfThreeProcessed(h: Harness): Promise<(id: number) => string | undefined> {
  h.sim.advanceClock(60_000);
  for (const id of [1, 2, 3]) expect((await h.deliver(h.sim.movePerson(id, 'Hot').peopleUpdated)).status).to.equal(200);
  const drained = await h.processor.drain().then(
    (n) => `handled ${n}`,
    (error: Error) => `round failed: ${error.name}: ${error.message}`,
  );
  const events = await h.tdb.db.selectFrom('webhook_events').select(['resource_ids', 'status']).orderBy('id').execute();
  const statusOf = (id: number) => events.find((e) => e.resource_ids.map(Number).includes(id))?.status;
  expect({ drained: drained.startsWith('handled'), 1: statusOf(1), 3: statusOf(3) }, drained).to.deep.equal({ drained: true, 1: 'completed', 3: 'completed' });
  return statusOf;
}

describe('a time read back that JavaScript cannot parse', function () {
  this.timeout(60_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(() => h.close());

  it('a batch holding a person with a BC time stored ends its other events (only that person’s event fails)', async () => {
    await h.reset();
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 - 120_000));
    for (const id of [1, 2, 3]) h.sim.addPerson(id, 'Lead', new Date(h.sim.now().getTime() - 3 * DAY));
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    // What the previous release stored for a FUB `updated` of "0000-06-01T00:00:00Z" (see
    // fub-times-far-years.test.ts: it recorded such a page): the read's time, year 1 BC.
    await sql`UPDATE stage_evidence SET at = '0001-06-01 00:00:00+00 BC' WHERE person_id = 2`.execute(h.tdb.db);
    await sql`UPDATE stage_changes SET changed_at = '0001-06-01 00:00:00+00 BC' WHERE person_id = 2`.execute(h.tdb.db);
    await sql`UPDATE people SET fub_updated_at = '0001-06-01 00:00:00+00 BC', stage_changed_at = '0001-06-01 00:00:00+00 BC' WHERE person_id = 2`.execute(h.tdb.db);
    const statusOf = await movesOfThreeProcessed(h);
    expect(statusOf(2)).to.not.equal('processing');
  });
});

// The same without any data from an earlier release: a server whose TimeZone is not UTC (initdb
// takes the machine's zone) prints a time before 1883 in JSON with its local mean time offset,
// "1800-05-31T19:03:58-04:56:02", which JavaScript cannot parse. FUB's `updated` of
// "1800-06-01T00:00:00Z" is stored fine (a year 1..9999), and read back as an Invalid Date by the
// next rebuild of that person.
describe('a time read back that JavaScript cannot parse (server TimeZone not UTC)', function () {
  this.timeout(60_000);
  let h: Harness;
  let serverUrl: string | undefined;
  before(async () => {
    serverUrl = process.env.TEST_DATABASE_URL;
    const url = new URL(serverUrl!);
    url.searchParams.set('options', '-c timezone=America/New_York');
    process.env.TEST_DATABASE_URL = url.toString();
    h = await createHarness();
  });
  after(async () => {
    await h.close();
    process.env.TEST_DATABASE_URL = serverUrl;
  });

  it('a batch holding a person FUB says was updated in 1800 ends its other events', async () => {
    await h.reset();
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 - 120_000));
    for (const id of [1, 2, 3]) h.sim.addPerson(id, 'Lead', new Date(h.sim.now().getTime() - 3 * DAY));
    h.sim.edits.push((req, answer) => {
      const body = answer.body as { people?: Record<string, unknown>[] } & Record<string, unknown>;
      if (!req.path.startsWith('/v1/people') || !Array.isArray(body.people)) return undefined;
      return { ...answer, body: { ...body, people: body.people.map((p) => (p.id === 2 ? { ...p, updated: '1800-06-01T00:00:00Z' } : p)) } };
    });
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    await movesOfThreeProcessed(h);
  });
});
