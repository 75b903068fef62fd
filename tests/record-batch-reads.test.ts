import { expect } from 'chai';
import { sql } from 'kysely';
import { createDb, inTransaction, type Db } from '../src/shared/db/database.js';
import type { Evidence } from '../src/shared/stages/evidence.js';
import { recordPeopleReports, type PersonReports } from '../src/shared/stages/record-person-reports.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

// Recording a batch touches that batch's people and rows, however big the tables and whatever the
// planner's statistics say. After a burst of first sightings (webhooks, no names yet), the reads that
// bring the names must not walk all of history for each batch: on the processing pool's settings the
// batch's statements once read every row of stage_changes and people through their indexes.
const T0 = Date.parse('2026-11-02T09:00:00Z');
const PEOPLE = 3000;
const BATCH = 200;

const move = (personId: number): PersonReports => ({
  personId,
  evidence: [{ kind: 'move', at: new Date(T0), stage: { id: null, name: 'Lead' }, source: 'webhook_peopleStageUpdated', eventId: `m${personId}`, receivedAt: new Date(T0 + 1000) }],
});

const readWithName = (personId: number): PersonReports => {
  const read: Evidence = { kind: 'snapshot', at: new Date(T0), stage: { id: null, name: 'Lead' }, readAt: new Date(T0 + 5000), personCreatedAt: null, source: 'polling', eventId: null, receivedAt: new Date(T0 + 5000) };
  return { personId, evidence: [read], details: { firstName: `First${personId}`, lastName: 'Last', assignedUserId: 7, assignedUserName: 'Agent', leadSource: 'Zillow' } };
};

/** Rows of `table` read (whole-table and index scans alike) so far, as PostgreSQL counts them. */
async function rowsRead(db: Db, table: string): Promise<number> {
  await sql`SELECT pg_stat_clear_snapshot()`.execute(db);
  const { rows } = await sql<{ n: string }>`
    SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS n FROM pg_stat_user_tables WHERE relname = ${table}`.execute(db);
  return Number(rows[0]!.n);
}

describe('recording a batch reads only that batch', () => {
  let tdb: TestDatabase;
  let processing: Db;
  before(async () => {
    tdb = await createTestDatabase();
    // The event processor's pool, as the service makes it.
    processing = createDb(tdb.url, { max: 1, indexedOnly: true });
  });
  after(async () => {
    await processing.destroy();
    await tdb.destroy();
  });

  it('fills the names a burst of first sightings lacked, reading only the batch\'s people and rows', async () => {
    // Statistics from before the burst: nothing there.
    await sql`ANALYZE people, stage_changes, stage_evidence`.execute(tdb.db);
    const ids = Array.from({ length: PEOPLE }, (_, i) => 500_000 + i);
    await inTransaction(tdb.db, async (trx) => {
      await recordPeopleReports(trx, ids.map(move));
      await sql`SELECT pg_stat_force_next_flush()`.execute(trx);
    });
    const batch = ids.slice(1000, 1000 + BATCH);
    const before = { changes: await rowsRead(tdb.db, 'stage_changes'), people: await rowsRead(tdb.db, 'people') };
    await inTransaction(processing, async (trx) => {
      await recordPeopleReports(trx, batch.map(readWithName));
      await sql`SELECT pg_stat_force_next_flush()`.execute(trx);
    });
    const read = { changes: (await rowsRead(tdb.db, 'stage_changes')) - before.changes, people: (await rowsRead(tdb.db, 'people')) - before.people };
    // The names reached every row of the batch, and only those.
    const named = await tdb.db.selectFrom('stage_changes').select('person_id').where('first_name', 'is not', null).execute();
    expect(named.map((r) => Number(r.person_id)).sort((a, b) => a - b)).to.deep.equal(batch);
    // A few reads of each of the batch's rows, not a pass over the other 2,800 people's.
    expect(read.changes).to.be.below(BATCH * 5);
    expect(read.people).to.be.below(BATCH * 5);
  });
});
