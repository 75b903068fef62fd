import { expect } from 'chai';
import { sql } from 'kysely';
import { loadConfig } from '../src/shared/config.js';
import { createDb, poolOf, PREPARED } from '../src/shared/db/database.js';
import { createLogger } from '../src/shared/logger.js';
import { openRuntime } from '../src/shared/runtime.js';
import { recordPersonReports } from '../src/shared/stages/record-person-reports.js';
import { toInboxEvents } from '../src/webhook/parse-webhook.js';
import { claimStatement, storeDeliveries } from '../src/webhook/webhook-events.repository.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

// What every pooled connection is set up with: the hot statements (inbox insert, a rebuild's) are
// parsed once per connection but planned for their values on every call, and no statement is
// JIT-compiled.
describe('database connections', () => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createTestDatabase();
  });
  after(() => tdb.destroy());

  it('turn JIT off (compiling a page of first sightings took 20 times longer than running it)', async () => {
    const settings = await Promise.all(Array.from({ length: 3 }, () => sql<{ jit: string }>`SHOW jit`.execute(tdb.db)));
    expect(settings.map((s) => s.rows[0]!.jit)).to.deep.equal(['off', 'off', 'off']);
  });

  it('plan a prepared statement for its values each time: a plan made while a table was empty does not scan it whole once it has grown', async () => {
    await sql`CREATE TABLE plan_probe (id bigint PRIMARY KEY, pad text); ANALYZE plan_probe`.execute(tdb.db);
    // A pool of its own, closed after: its prepared statement stays out of the other tests' connections.
    const own = createDb(tdb.url, { max: 1 });
    try {
      const plan = await own.connection().execute(async (conn) => {
        // Ten runs on an empty table: PostgreSQL would keep a generic plan from here on (a seq scan).
        for (let i = 0; i < 10; i++) await sql`${sql.raw(`${PREPARED}plan_probe */`)} SELECT pad FROM plan_probe WHERE id = ANY(${[i]}::bigint[])`.execute(conn);
        await sql`INSERT INTO plan_probe SELECT g, repeat('x', 200) FROM generate_series(1, 50000) g`.execute(conn);
        const { rows } = await sql<{ 'QUERY PLAN': string }>`EXPLAIN EXECUTE plan_probe('{7}')`.execute(conn);
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      });
      expect(plan).to.match(/Index/);
      expect(plan).to.not.match(/Seq Scan/);
    } finally {
      await own.destroy();
      await sql`DROP TABLE plan_probe`.execute(tdb.db);
    }
  });

  it('the inbox pool plans its statement once, on empty tables, and it still looks bodies up by index after 50,000 deliveries', async () => {
    const own = createDb(tdb.url, { max: 1, planOnce: true });
    const delivery = (n: number) => {
      const rawBody = JSON.stringify({ eventId: `plan-once-${n}`, event: 'peopleStageUpdated', resourceIds: [n], data: { stage: 'Lead' } });
      return { path: '/webhooks/fub', rawBody, events: toInboxEvents(JSON.parse(rawBody)) };
    };
    try {
      // Planned here, while both inbox tables are empty (and known to be: analyzed), and kept by the
      // connection from then on.
      await sql`ANALYZE webhook_deliveries, webhook_events`.execute(tdb.db);
      for (let n = 1; n <= 6; n++) await storeDeliveries(own, [delivery(n)]);
      await sql`INSERT INTO webhook_deliveries (path, raw_body, event_count, duplicate_count, body_sha256)
                SELECT '/webhooks/fub', 'filler ' || g, 1, 0, sha256(convert_to('filler ' || g, 'UTF8')) FROM generate_series(1, 50000) g`.execute(tdb.db);
      const { rows } = await poolOf(own).query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE store_deliveries('{/webhooks/fub}', '["x"]', '{1}', '{1}', '{e}', '{peopleStageUpdated}', '{"{1}"}', '{NULL}', '[{}]')`);
      const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(plan).to.not.match(/Seq Scan/);
      // One lookup per body in the unique index, never a pass over the whole table.
      expect(plan).to.match(/Index (Only )?Scan using webhook_deliveries_body_sha256_idx[^\n]*\n\s*Index Cond: \(body_sha256 = /);
      const [stored] = await storeDeliveries(own, [delivery(7)]);
      expect([...stored!.inserted]).to.deep.equal(['plan-once-7']);
    } finally {
      await own.destroy();
      await sql`TRUNCATE webhook_events, webhook_deliveries`.execute(tdb.db);
    }
  });

  it('the processing pool reaches rows through indexes even when statistics say the tables are empty: a claim at a backlog of 5,000 reads the due index in order, it does not sort the backlog', async () => {
    const own = createDb(tdb.url, { max: 1, indexedOnly: true });
    try {
      // The statistics of a new install (or of an inbox before a bulk move): no events waiting.
      await sql`ANALYZE webhook_events`.execute(tdb.db);
      await sql`INSERT INTO webhook_events (event_id, delivery_id, event, resource_ids, payload)
                SELECT 'backlog-' || g, g, 'peopleStageUpdated', ARRAY[g]::bigint[], '{}'::json FROM generate_series(1, 5000) g`.execute(tdb.db);
      const claim = claimStatement({ claimToken: 'plan-probe', limit: 200, leaseSeconds: 30 }).compile(own);
      const client = await poolOf(own).connect();
      let plan: string;
      try {
        // Run (and rolled back): what each step of the plan actually read.
        await client.query('BEGIN');
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) ${claim.sql}`, [...claim.parameters]);
        plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
      expect(plan).to.match(/Index Scan using webhook_events_due_idx/);
      expect(plan).to.not.match(/Sort|Seq Scan/);
      // No step of it touched more events than the 200 it claims.
      const read = [...plan.matchAll(/actual rows=(\d+)/g)].map((m) => Number(m[1]));
      expect(read.length).to.be.greaterThan(0);
      expect(Math.max(...read)).to.equal(200);
    } finally {
      await own.destroy();
      await sql`TRUNCATE webhook_events`.execute(tdb.db);
    }
  });

  it('the service records on such a pool, and only there: its other pool still scans and sorts where that is cheaper', async () => {
    const runtime = await openRuntime(loadConfig({ FUB_API_KEY: 'key', FUB_SYSTEM: 'fub-collector', FUB_SYSTEM_KEY: 'secret', DATABASE_URL: tdb.url }), createLogger('silent'));
    try {
      const settings = async (db: typeof tdb.db) =>
        (await sql<{ seqscan: string; sort: string }>`SELECT current_setting('enable_seqscan') AS seqscan, current_setting('enable_sort') AS sort`.execute(db)).rows[0];
      expect(await settings(runtime.processingDb)).to.deep.equal({ seqscan: 'off', sort: 'off' });
      expect(await settings(runtime.db)).to.deep.equal({ seqscan: 'on', sort: 'on' });
    } finally {
      await runtime.close();
    }
  });

  it('keep startup options the URL already names (a host\'s endpoint id) beside JIT off', async () => {
    const url = new URL(tdb.url);
    url.searchParams.set('options', '-c statement_timeout=12345');
    const other = createDb(url.toString(), { max: 1 });
    try {
      const { rows } = await sql<{ jit: string; timeout: string }>`SELECT current_setting('jit') AS jit, current_setting('statement_timeout') AS timeout`.execute(other);
      expect(rows[0]).to.deep.equal({ jit: 'off', timeout: '12345ms' });
    } finally {
      await other.destroy();
    }
  });

  it('run statements marked as prepared as named prepared statements, from Kysely and from the pool alike; others do not', async () => {
    const prepared = await tdb.db.connection().execute(async (conn) => {
      for (const n of [1, 2, 3]) await sql`${sql.raw(`${PREPARED}probe_statement */`)} SELECT ${n}::int AS n`.execute(conn);
      await sql`SELECT 42 AS unmarked`.execute(conn);
      return (await sql<{ name: string; statement: string }>`SELECT name, statement FROM pg_prepared_statements`.execute(conn)).rows;
    });
    expect(prepared.map((p) => p.name)).to.deep.equal(['probe_statement']);
    expect(prepared[0]!.statement).to.contain('SELECT $1::int AS n');
  });

  it('keep working on an open connection after a migration adds columns (a deploy migrates while the old servers run)', async () => {
    const server = createDb(tdb.url, { max: 1 });
    try {
      const report = (personId: number, second: number) =>
        server.transaction().execute((trx) =>
          recordPersonReports(trx, {
            personId,
            evidence: [{ kind: 'move', at: new Date(Date.UTC(2026, 10, 1, 9, 0, second)), stage: { id: null, name: `S${second}` }, source: 'webhook_peopleStageUpdated', eventId: `e${personId}-${second}`, receivedAt: new Date() }],
          }),
        );
      await report(1, 0);
      for (const table of ['people', 'stage_changes', 'stage_evidence']) await sql`ALTER TABLE ${sql.table(table)} ADD COLUMN probe integer`.execute(tdb.db);
      expect((await report(1, 5)).inserted).to.have.length(1);
      expect((await report(2, 0)).inserted).to.have.length(1);
    } finally {
      await server.destroy();
      for (const table of ['people', 'stage_changes', 'stage_evidence']) await sql`ALTER TABLE ${sql.table(table)} DROP COLUMN IF EXISTS probe`.execute(tdb.db);
    }
  });
});
