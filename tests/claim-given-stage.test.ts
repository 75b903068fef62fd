import { expect } from 'chai';
import { sql } from 'kysely';
import { planEvent } from '../src/webhook/plan-event.js';
import { claimDueEvents } from '../src/webhook/webhook-events.repository.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

// The claim hands processing the payload only of the events whose plan reads it. A
// peopleStageUpdated event must plan exactly as it would from the stored payload, whatever FUB put
// there (a stage given or not must never flip), and no payload may fail the claim of its batch.
describe('the stage a claimed event gives', () => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createTestDatabase();
  });
  after(() => tdb.destroy());
  beforeEach(() => tdb.reset());

  it('plans every payload form as the whole payload parsed would', async () => {
    const payloads = [
      '{"data":{"stage":"ACQ - Offers Made"}}',
      // Duplicate keys: JSON.parse keeps the last, and so must the claim.
      '{"data":{"stage":"ACQ - Qualified","stage":"ACQ - Offers Made"}}',
      '{"data":{"stage":"Lead"},"data":{"stage":"ACQ - Offer Not Accepted"}}',
      '{"data":{"stage":42}}',
      '{"data":{"stage":"42"}}',
      '{"data":{"stage":["Lead"]}}',
      '{"data":{"stage":{"name":"Lead"}}}',
      '{"data":{"stage":null}}',
      '{"data":{"stage":true}}',
      '{"data":["Lead"]}',
      '{"data":"Lead"}',
      '{"data":null}',
      '{"stage":"Lead"}',
      '["Lead"]',
      '"Lead"',
      'null',
      '{}',
      '{"data":{"stage":"  Lead\\u0000 "}}',
      '{"data":{"stage":"\\u0000"}}',
      '{"data":{"stage":"\\ud800Lead"}}',
      '{"data":{"stage":"\\"quoted\\" \\\\ stage"}}',
      `{"data":{"stage":"${'x'.repeat(501)}"}}`,
      `{"data":{"stage":"${'x'.repeat(500)}"}}`,
    ];
    const created = new Date('2026-11-01T09:00:00Z');
    for (const [i, payload] of payloads.entries()) {
      await sql`INSERT INTO webhook_events (event_id, delivery_id, event, resource_ids, event_created, payload)
                VALUES (${`e${i}`}, ${i + 1}, 'peopleStageUpdated', '{7}', ${created}, ${payload}::json)`.execute(tdb.db);
    }
    const claimed = await claimDueEvents(tdb.db, { claimToken: 'mine', limit: payloads.length, leaseSeconds: 30 });
    expect(claimed).to.have.length(payloads.length);
    const plans = claimed.map((row) => planEvent(row));
    const expected = claimed.map((row) =>
      planEvent({ event: 'peopleStageUpdated', resource_ids: [7], event_created: created, payload: JSON.parse(payloads[Number(row.event_id.slice(1))]!) }),
    );
    expect(plans).to.deep.equal(expected);
    // The forms that name a stage do name it (the comparison above is not between two nulls).
    expect(plans.filter((p) => p.kind === 'stage-given').map((p) => (p.kind === 'stage-given' ? p.stage : ''))).to.have.members([
      'ACQ - Offers Made',
      'ACQ - Offers Made',
      'ACQ - Offer Not Accepted',
      '42',
      'Lead',
      '\ufffdLead',
      '"quoted" \\ stage',
      'x'.repeat(500),
    ]);
  });
});
