import { expect } from 'chai';
import { sql } from 'kysely';
import { PREPARED } from '../src/shared/db/database.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

// The hot statements (inbox insert, a rebuild's two) are planned once per connection, not per call.
describe('statements marked as prepared', () => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createTestDatabase();
  });
  after(() => tdb.destroy());

  it('run as named prepared statements on the connection, from Kysely and from the pool alike; others do not', async () => {
    const prepared = await tdb.db.connection().execute(async (conn) => {
      for (const n of [1, 2, 3]) await sql`${sql.raw(`${PREPARED}probe_statement */`)} SELECT ${n}::int AS n`.execute(conn);
      await sql`SELECT 42 AS unmarked`.execute(conn);
      return (await sql<{ name: string; statement: string }>`SELECT name, statement FROM pg_prepared_statements`.execute(conn)).rows;
    });
    expect(prepared.map((p) => p.name)).to.deep.equal(['probe_statement']);
    expect(prepared[0]!.statement).to.contain('SELECT $1::int AS n');
  });
});
