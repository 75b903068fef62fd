import { Kysely, PostgresDialect, type Transaction } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;
export type Trx = Transaction<Database>;

const INT8_OID = 20;
const INT8_ARRAY_OID = 1016;
const parseTextArray = (pg.types.getTypeParser as (oid: number) => unknown)(1009) as (value: string) => (string | null)[];

// int8 (bigserial ids, FUB ids, count(*)) as numbers: every value we store is far below 2^53.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID) return (value: string) => Number(value);
    if (oid === INT8_ARRAY_OID) return (value: string) => parseTextArray(value).map((v) => (v === null ? null : Number(v)));
    return pg.types.getTypeParser(oid, format as 'text');
  }) as typeof pg.types.getTypeParser,
};

export interface DbOptions {
  /** Pool size; keep it small, FUB traffic is modest. */
  max?: number;
  /** Fail a checkout fast so a webhook gets a 503 well inside FUB's 10-second budget. */
  connectionTimeoutMillis?: number;
  applicationName?: string;
}

const pools = new WeakMap<Db, pg.Pool>();

// A statement whose text starts with this comment runs as a named prepared statement on each
// connection: parsed and planned once there, not on every call. For the hot, fixed-text statements
// (planning a large one costs more than running it); the name follows the marker.
export const PREPARED = '/* prepared:';

/** Makes a client run marked statements as named prepared statements (Kysely passes plain text). */
function prepareMarkedStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (first: unknown, ...rest: unknown[]) => {
    if (typeof first === 'string' && first.startsWith(PREPARED)) {
      const name = first.slice(PREPARED.length, first.indexOf(' */'));
      return query({ name, text: first, values: rest[0] }, ...rest.slice(1));
    }
    return query(first, ...rest);
  };
}

/**
 * The pg pool under a Db from createDb, for the one hot statement that needs what Kysely does not
 * offer: a named prepared statement, parsed and planned once per connection.
 */
export function poolOf(db: Db): pg.Pool {
  const pool = pools.get(db);
  if (!pool) throw new Error('poolOf: this Db was not made by createDb');
  return pool;
}

/**
 * The connection string with JIT turned off for the session, as a startup option (no extra
 * statement, nothing queued behind the first query). Our statements are short, and compiling one
 * whose estimate crosses jit_above_cost (a page of first sightings, unnest over 13 arrays) took
 * 650 ms to run 30 ms of work. Options already in the URL (a host's endpoint id) are kept.
 */
function withoutJit(connectionString: string): string {
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    return connectionString; // not a URL: pg reads it as it is
  }
  const own = url.searchParams.get('options');
  url.searchParams.set('options', own ? `${own} -c jit=off` : '-c jit=off');
  return url.toString();
}

/** One pg pool wrapped in Kysely; `db.destroy()` closes the pool. */
export function createDb(connectionString: string, options: DbOptions = {}): Db {
  const pool = new pg.Pool({
    connectionString: withoutJit(connectionString),
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 3000,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName ?? 'fub-collector',
    types,
  });
  // A client losing its server (restart, failover) must not crash the process: idle ones report on
  // the pool, checked-out ones on themselves. The query that needed it fails and is retried by its caller.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
    prepareMarkedStatements(client);
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, pool);
  return db;
}
