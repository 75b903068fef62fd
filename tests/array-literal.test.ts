import { expect } from 'chai';
import { sql } from 'kysely';
import { arrayLiteral } from '../src/shared/db/array-literal.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

// The batch statements send their arrays as literals made by arrayLiteral. PostgreSQL must read each
// exactly as it reads the driver's own serialization of the same array, whatever the text holds.
describe('array literals for batch statements', () => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createTestDatabase();
  });
  after(() => tdb.destroy());

  /** PostgreSQL's text of an array sent both ways: as our literal, and as the driver sends a JS array. */
  async function bothWays(values: unknown[], type: string): Promise<{ literal: string; driver: string }> {
    const ours = arrayLiteral(values as Parameters<typeof arrayLiteral>[0]);
    const { rows } = await sql<{ literal: string; driver: string }>`
      SELECT (${ours}::${sql.raw(type)})::text AS literal, (${values}::${sql.raw(type)})::text AS driver`.execute(tdb.db);
    return rows[0]!;
  }

  it('reads texts as the driver sends them: quotes, backslashes, separators, NULL as text, blanks, non-ASCII', async () => {
    const texts = ['plain', 'ACQ - Offers Made', 'say "hi"', 'back\\slash', '\\"', 'a,b', '{braces}', 'NULL', 'null', '', ' ', '  padded  ', 'tab\there', 'line\nbreak', 'Zoë ✓ 😀', "O'Brien", '\ud800 lone', null];
    const { literal, driver } = await bothWays(texts, 'text[]');
    expect(literal).to.equal(driver);
    const { rows } = await sql<{ back: (string | null)[] }>`SELECT ${arrayLiteral(texts)}::text[] AS back`.execute(tdb.db);
    expect(rows[0]!.back).to.deep.equal(texts.map((t) => (t === null ? null : t.replace('\ud800', '\ufffd'))));
  });

  it('reads numbers, booleans and times as the driver sends them', async () => {
    const same = async (values: unknown[], type: string) => {
      const { literal, driver } = await bothWays(values, type);
      expect(literal, type).to.equal(driver);
    };
    await same([1, -2, 9007199254740991, null, 0], 'bigint[]');
    await same([1, 2, null], 'smallint[]');
    await same([true, false, null], 'boolean[]');
    await same([new Date('2026-11-28T01:02:03.456Z'), new Date('1999-12-31T23:59:59.999Z'), null, new Date(0)], 'timestamptz[]');
  });

  it('writes times past year 9999 and before year 1 as PostgreSQL reads them, and an invalid one as data it refuses', async () => {
    const far = [new Date('+010000-01-01T00:30:00.000Z'), new Date('0000-06-01T00:00:00.000Z'), new Date('-000001-12-31T23:59:59.999Z'), new Date('9999-12-31T23:59:59.999Z'), new Date('0001-01-01T00:00:00.000Z')];
    const { rows } = await sql<{ back: string[] }>`SELECT (${arrayLiteral(far)}::timestamptz[])::text[] AS back`.execute(tdb.db);
    const { rows: driver } = await sql<{ back: string[] }>`SELECT (${far}::timestamptz[])::text[] AS back`.execute(tdb.db);
    expect(rows[0]!.back).to.deep.equal(driver[0]!.back);
    const refused = await sql`SELECT ${arrayLiteral([new Date(NaN)])}::timestamptz[]`.execute(tdb.db).then(
      () => 'accepted',
      (error: { code?: string }) => error.code,
    );
    expect(refused, 'a data error, retried event by event').to.equal('22007');
  });

  it('makes an empty array', async () => {
    const { rows } = await sql<{ n: number }>`SELECT cardinality(${arrayLiteral([])}::bigint[]) AS n`.execute(tdb.db);
    expect(rows[0]!.n).to.equal(0);
  });
});
