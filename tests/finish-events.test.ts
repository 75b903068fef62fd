import { expect } from 'chai';
import { sql } from 'kysely';
import { claimDueEvents, finishEvents } from '../src/webhook/webhook-events.repository.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

// A batch's events end in one statement, each with its own outcome: what an operator then reads in
// the inbox (status, error, when it is tried again) must be that event's, never a neighbour's.
describe('finishing a claimed batch', () => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createTestDatabase();
  });
  after(() => tdb.destroy());
  beforeEach(() => tdb.reset());

  it('gives every event its own outcome, in whatever order the outcomes come, and leaves events claimed by someone else alone', async () => {
    await sql`INSERT INTO webhook_events (event_id, delivery_id, event, resource_ids, payload)
              SELECT 'e' || g, g, 'peopleStageUpdated', ARRAY[g]::bigint[], '{}'::json FROM generate_series(1, 6) g`.execute(tdb.db);
    const mine = await claimDueEvents(tdb.db, { claimToken: 'mine', limit: 5, leaseSeconds: 30 });
    const theirs = await claimDueEvents(tdb.db, { claimToken: 'theirs', limit: 5, leaseSeconds: 30 });
    const id = (eventId: string) => [...mine, ...theirs].find((row) => row.event_id === eventId)!.id;
    const retryAt = new Date('2030-01-02T03:04:05.000Z');
    // Every event was stored due at once in one statement: one next_attempt_at, which only a failure moves.
    const { next_attempt_at: due } = await tdb.db.selectFrom('webhook_events').select('next_attempt_at').where('event_id', '=', 'e1').executeTakeFirstOrThrow();
    const finished = await finishEvents(tdb.db, 'mine', [
      { id: id('e4'), result: { status: 'failed', error: 'FUB answered 500', retryAt } },
      { id: id('e1'), result: { status: 'completed' } },
      { id: id('e6'), result: { status: 'completed' } }, // claimed by 'theirs'
      { id: id('e3'), result: { status: 'dead', error: 'gave up after 5 attempts' } },
      { id: id('e2'), result: { status: 'ignored', reason: 'event "peopleTagsCreated" cannot change a stage' } },
      { id: id('e5'), result: { status: 'completed' } },
    ]);
    expect([...finished].sort((a, b) => a - b)).to.deep.equal(['e1', 'e2', 'e3', 'e4', 'e5'].map(id));
    const rows = await tdb.db
      .selectFrom('webhook_events')
      .select(['event_id', 'status', 'error_message', 'next_attempt_at', 'locked_by', 'processed_at'])
      .orderBy('event_id')
      .execute();
    const claimedAt = due.getTime();
    expect(rows.map((r) => ({ ...r, next_attempt_at: r.next_attempt_at.getTime() === claimedAt ? 'unchanged' : r.next_attempt_at.toISOString(), processed_at: r.processed_at !== null }))).to.deep.equal([
      { event_id: 'e1', status: 'completed', error_message: null, next_attempt_at: 'unchanged', locked_by: null, processed_at: true },
      { event_id: 'e2', status: 'ignored', error_message: 'event "peopleTagsCreated" cannot change a stage', next_attempt_at: 'unchanged', locked_by: null, processed_at: true },
      { event_id: 'e3', status: 'dead', error_message: 'gave up after 5 attempts', next_attempt_at: 'unchanged', locked_by: null, processed_at: true },
      { event_id: 'e4', status: 'failed', error_message: 'FUB answered 500', next_attempt_at: retryAt.toISOString(), locked_by: null, processed_at: false },
      { event_id: 'e5', status: 'completed', error_message: null, next_attempt_at: 'unchanged', locked_by: null, processed_at: true },
      { event_id: 'e6', status: 'processing', error_message: null, next_attempt_at: 'unchanged', locked_by: 'theirs', processed_at: false },
    ]);
  });

  it('ends an event whose error text holds NUL or a lone surrogate, with that text made storable', async () => {
    await sql`INSERT INTO webhook_events (event_id, delivery_id, event, resource_ids, payload) VALUES ('odd', 1, 'peopleUpdated', '{1}', '{}')`.execute(tdb.db);
    const [row] = await claimDueEvents(tdb.db, { claimToken: 'mine', limit: 1, leaseSeconds: 30 });
    const finished = await finishEvents(tdb.db, 'mine', [{ id: row!.id, result: { status: 'dead', error: 'FUB said \u0000 nothing \ud800 useful' } }]);
    expect([...finished]).to.deep.equal([row!.id]);
    const stored = await tdb.db.selectFrom('webhook_events').select(['status', 'error_message']).executeTakeFirstOrThrow();
    expect(stored).to.deep.equal({ status: 'dead', error_message: 'FUB said  nothing \ufffd useful' });
  });
});
