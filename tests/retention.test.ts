import { expect } from 'chai';
import { sql } from 'kysely';
import type { Db, Trx } from '../src/shared/db/database.js';
import { pruneOldData } from '../src/shared/retention/prune.js';
import { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { testLogger } from './support/harness.js';
import { runEntrypoint, serviceEnv } from './support/run-entrypoint.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const DAY = 86_400_000;
const ago = (days: number): Date => new Date(Date.now() - days * DAY);

/** One delivery carrying events in the given statuses, received and finished `days` ago. */
async function delivery(db: Db, days: number, statuses: string[]): Promise<number> {
  const { rows } = await sql<{ id: number }>`
    INSERT INTO webhook_deliveries (received_at, path, raw_body, event_count, duplicate_count)
    VALUES (${ago(days)}, '/webhooks/fub', '{"big":"body"}', ${statuses.length}, 0) RETURNING id`.execute(db);
  const id = rows[0]!.id;
  for (const [i, status] of statuses.entries()) {
    const finished = status === 'completed' || status === 'ignored' || status === 'dead';
    await sql`
      INSERT INTO webhook_events (event_id, delivery_id, event, payload, received_at, status, processed_at)
      VALUES (${`d${id}-${i}`}, ${id}, 'peopleStageUpdated', '{}', ${ago(days)}, ${status}, ${finished ? ago(days) : null})`.execute(db);
  }
  return id;
}

async function statusesLeft(db: Db): Promise<Record<string, string[]>> {
  const rows = await db.selectFrom('webhook_events').select(['delivery_id', 'status']).orderBy('id').execute();
  const left: Record<string, string[]> = {};
  for (const r of rows) (left[String(r.delivery_id)] ??= []).push(r.status);
  return left;
}

describe('retention: RETENTION_DAYS of raw bodies and finished inbox rows', function () {
  this.timeout(60_000);
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createTestDatabase();
  });
  beforeEach(() => tdb.reset());
  after(() => tdb.destroy());

  it('deletes finished events and bodies past the retention, in batches, and never stage history, dead, failed or pending events', async () => {
    const db = tdb.db;
    const oldDone = await delivery(db, 40, ['completed', 'ignored', 'completed']);
    const oldDead = await delivery(db, 40, ['completed', 'dead']);
    const oldFailed = await delivery(db, 40, ['failed']);
    const oldPending = await delivery(db, 40, ['received']);
    const oldDuplicateOnly = await delivery(db, 40, []);
    const recent = await delivery(db, 5, ['completed']);
    await sql`INSERT INTO stage_changes (person_id, stage_to, changed_at, received_at, source, seq, recorded_at)
              VALUES (1, 'Lead', ${ago(400)}, ${ago(400)}, 'polling', 0, ${ago(400)})`.execute(db);
    await sql`INSERT INTO stage_evidence (person_id, kind, at, stage, source, received_at, recorded_at)
              VALUES (1, 'snapshot', ${ago(400)}, 'Lead', 'polling', ${ago(400)}, ${ago(400)})`.execute(db);

    const result = await pruneOldData({ db, log: testLogger(), retentionDays: 30, batchSize: 2 });

    expect(result).to.include({ events: 4, deliveries: 2 });
    expect(await statusesLeft(db)).to.deep.equal({
      [oldDead]: ['dead'],
      [oldFailed]: ['failed'],
      [oldPending]: ['received'],
      [recent]: ['completed'],
    });
    const bodies = (await db.selectFrom('webhook_deliveries').select('id').orderBy('id').execute()).map((r) => r.id);
    expect(bodies, 'a dead event keeps its body for replay').to.deep.equal([oldDead, oldFailed, oldPending, recent]);
    expect(bodies).not.to.include.members([oldDone, oldDuplicateOnly]);
    const kept = await sql<{ changes: number; evidence: number }>`
      SELECT (SELECT count(*) FROM stage_changes)::int AS changes, (SELECT count(*) FROM stage_evidence)::int AS evidence`.execute(db);
    expect(kept.rows[0]).to.deep.equal({ changes: 1, evidence: 1 });
  });

  it('deleting old bodies looks events up by index, not by scanning the inbox once per body', async () => {
    const db = tdb.db;
    // A few old bodies whose events are to go, and a large inbox of recent events after them.
    for (let i = 0; i < 20; i++) await delivery(db, 40, ['completed']);
    await sql`
      WITH d AS (INSERT INTO webhook_deliveries (path, raw_body, event_count, duplicate_count)
                 SELECT '/webhooks/fub', '{}', 1, 0 FROM generate_series(1, 20000) RETURNING id)
      INSERT INTO webhook_events (event_id, delivery_id, event, payload, status, processed_at)
      SELECT 'r' || id, id, 'peopleStageUpdated', '{}', 'completed', now() FROM d`.execute(db);
    await sql`ANALYZE webhook_events, webhook_deliveries`.execute(db);
    const read = await db.transaction().execute(async (trx: Trx) => {
      const result = await pruneOldData({ db: trx, log: testLogger(), retentionDays: 30, batchSize: 5 });
      expect(result).to.include({ events: 20, deliveries: 20 });
      const { rows } = await sql<{ n: number }>`
        SELECT (seq_tup_read + coalesce(idx_tup_fetch, 0))::int AS n FROM pg_stat_xact_user_tables WHERE relname = 'webhook_events'`.execute(trx);
      return rows[0]!.n;
    });
    expect(read, 'inbox rows read while pruning 20 bodies').to.be.below(1000);
  });

  it('npm run cli -- prune prunes with RETENTION_DAYS and says what it did', async () => {
    await delivery(tdb.db, 40, ['completed']);
    await delivery(tdb.db, 10, ['completed']);
    const sim = new FubSimulator();
    const result = await runEntrypoint('src/cli/main.ts', ['prune'], { ...serviceEnv(sim, tdb.url), RETENTION_DAYS: '7' });
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^Pruned 2 finished event\(s\) and 2 raw bodies received before .* \(RETENTION_DAYS=7\)\.$/m);
  });
});
