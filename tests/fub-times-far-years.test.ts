import { expect } from 'chai';
import { createHarness, type Harness } from './support/harness.js';

// FUB's `created`/`updated` are any ISO time with a 4-digit year and an offset, so
// "9999-12-31T23:30:00-01:00" is year 10000 in UTC and "0000-06-01T00:00:00Z" is year 0 (1 BC).
// Batch statements send times in array literals (arrayLiteral): such a time must be written as
// PostgreSQL reads it, or one person fails a poll's whole page, for good. (Found by review.)
const DAY = 86_400_000;

describe('FUB times outside years 1 to 9999 (UTC)', function () {
  this.timeout(60_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(() => h.close());
  beforeEach(() => h.reset());

  /** FUB's answers give person 2 the `field` value as sent. */
  function person2(field: 'created' | 'updated', value: string): void {
    h.sim.edits.push((req, answer) => {
      if (!req.path.startsWith('/v1/people')) return undefined;
      const body = answer.body as { people?: Record<string, unknown>[] } & Record<string, unknown>;
      if (Array.isArray(body.people)) return { ...answer, body: { ...body, people: body.people.map((p) => (p.id === 2 ? { ...p, [field]: value } : p)) } };
      return undefined;
    });
  }

  async function firstRows(): Promise<number[]> {
    const rows = await h.tdb.db.selectFrom('stage_changes').select('person_id').orderBy('person_id').execute();
    return rows.map((r) => Number(r.person_id));
  }

  async function pollFirstSightings(): Promise<void> {
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000));
    for (const id of [1, 2, 3]) h.sim.addPerson(id, 'Lead', new Date(h.sim.now().getTime() - 3 * DAY + id * 1000));
    const result = await h.newPoller().runOnce();
    expect(result, JSON.stringify(result)).to.include({ status: 'succeeded' });
    expect(await firstRows()).to.deep.equal([1, 2, 3]);
  }

  it("a poll page with a person created '9999-12-31T23:30:00-01:00' (year 10000 UTC) is recorded", async () => {
    person2('created', '9999-12-31T23:30:00-01:00');
    await pollFirstSightings();
  });

  it("a poll page with a person created '0000-06-01T00:00:00Z' (year 0) is recorded", async () => {
    person2('created', '0000-06-01T00:00:00Z');
    await pollFirstSightings();
  });

  it("a poll page with a person updated '0000-06-01T00:00:00Z' (year 0) is recorded", async () => {
    person2('updated', '0000-06-01T00:00:00Z');
    await pollFirstSightings();
  });

  it("a peopleUpdated whose read gives created '9999-12-31T23:30:00-01:00' completes, as do the batch's other events", async () => {
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 - 120_000));
    for (const id of [1, 2, 3]) h.sim.addPerson(id, 'Lead', new Date(h.sim.now().getTime() - 3 * DAY));
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    h.sim.advanceClock(60_000);
    person2('created', '9999-12-31T23:30:00-01:00');
    for (const id of [1, 2, 3]) {
      const move = h.sim.movePerson(id, 'Hot');
      expect((await h.deliver(move.peopleUpdated)).status).to.equal(200);
    }
    await h.processor.drain();
    const events = await h.tdb.db.selectFrom('webhook_events').select(['resource_ids', 'status', 'error_message']).orderBy('id').execute();
    expect(events.map((e) => ({ ids: e.resource_ids.map(Number), status: e.status, error: e.error_message }))).to.deep.equal([
      { ids: [1], status: 'completed', error: null },
      { ids: [2], status: 'completed', error: null },
      { ids: [3], status: 'completed', error: null },
    ]);
  });
});
