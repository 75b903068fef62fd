import { expect } from 'chai';
import { sql } from 'kysely';
import type { Trx } from '../src/shared/db/database.js';
import { EXACT_COUNT_CAP } from '../src/shared/db/bounded-counts.js';
import { readHealthCounters } from '../src/webhook/health.repository.js';
import { createMetrics } from '../src/shared/metrics.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

/** Rows the statements run inside `work` read from the inbox and stage tables (this transaction's own statistics). */
async function rowsRead(trx: Trx): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)), 0)::int AS n FROM pg_stat_xact_user_tables
    WHERE relname IN ('webhook_events', 'webhook_deliveries', 'stage_changes')`.execute(trx);
  return rows[0]!.n;
}

async function fillInbox(tdb: TestDatabase, events: number): Promise<void> {
  await sql`
    WITH d AS (INSERT INTO webhook_deliveries (path, raw_body, event_count, duplicate_count)
               SELECT '/webhooks/fub', '{}', CASE WHEN i % 100 = 0 THEN 2 ELSE 1 END, CASE WHEN i % 100 = 0 THEN 1 ELSE 0 END FROM generate_series(1, ${events}) i RETURNING id)
    INSERT INTO webhook_events (event_id, delivery_id, event, payload, status, processed_at)
    SELECT 'e' || id, id, 'peopleStageUpdated', '{}', CASE WHEN id % 1000 = 0 THEN 'dead' ELSE 'completed' END, now() FROM d`.execute(tdb.db);
  await sql`
    INSERT INTO stage_changes (person_id, stage_to, changed_at, received_at, source, seq)
    SELECT i, 'Lead', now(), now(), CASE WHEN i % 2 = 0 THEN 'polling' ELSE 'webhook_peopleStageUpdated' END, 0 FROM generate_series(1, ${events}) i`.execute(tdb.db);
  await sql`ANALYZE webhook_events, webhook_deliveries, stage_changes`.execute(tdb.db);
}

// /health and /metrics are unauthenticated: their cost must not grow with the inbox (ten callers on a
// 300,000-row inbox raised everyone's ack p95 to 1.3 s). Counted in rows read, not in milliseconds.
describe('/health and /metrics cost a few index lookups whatever the table sizes', function () {
  this.timeout(120_000);
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createTestDatabase();
  });
  after(() => tdb.destroy());

  it('are exact while the tables are small', async () => {
    await fillInbox(tdb, 2000);
    const counters = await readHealthCounters(tdb.db);
    expect(counters).to.deep.include({
      webhooks_received: 2020,
      webhooks_deduplicated: 20,
      webhooks_processed: 1998,
      dead_letter: 2,
      inbox_pending: 0,
      stage_changes_total: 2000,
      stage_changes_captured: 1000,
      counts_estimated: [],
    });
    await tdb.reset();
  });

  it(`read a bounded number of rows with ${3 * EXACT_COUNT_CAP} inbox rows, and say which counts are estimates`, async () => {
    await fillInbox(tdb, 3 * EXACT_COUNT_CAP);
    const { read, counters } = await tdb.db.transaction().execute(async (trx) => {
      const before = await rowsRead(trx);
      const counters = await readHealthCounters(trx);
      await createMetrics(trx).refresh();
      return { read: (await rowsRead(trx)) - before, counters };
    });
    expect(read, 'rows read by /health and /metrics together').to.be.below(EXACT_COUNT_CAP / 2);
    expect(counters.dead_letter, 'few dead events: still exact').to.equal(30);
    expect(counters.counts_estimated).to.include.members(['webhooks_processed', 'stage_changes_total', 'webhooks_received']);
    expect(counters.counts_estimated).not.to.include('dead_letter');
    expect(counters.webhooks_processed, 'the estimate is near the truth').to.be.within(0.9 * 29_970, 1.1 * 29_970);
  });
});
