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
  /**
   * Longest a statement may run, enforced by the server (statement_timeout); a client gives up on a
   * server that does not answer at all (a stall) shortly after, and drops that connection.
   */
  statementTimeoutMs?: number;
  /**
   * Plan each prepared statement once per connection instead of on every call, with sequential scans
   * off: only for a pool whose every statement reaches its tables through indexes whatever their
   * size (the inbox writes), where planning would cost as much as running.
   */
  planOnce?: boolean;
  /**
   * Never scan a table whole or sort rows an index gives in order, whatever the statistics say: only
   * for a pool whose statements reach their rows through indexes, with key conditions (the event
   * processor's; learning a new stage's name, rare, still reads stage_changes whole either way). Its
   * tables change faster than ANALYZE follows (a new install; a bulk move the last ANALYZE never saw,
   * autovacuum waiting for a tenth of the table to change), and with statistics that say "few rows"
   * the planner scanned people, evidence and history whole for every batch, and sorted the whole
   * backlog of the inbox for every claim (35 ms for a claim of 200 at a backlog of 15,000; 0.8 ms
   * through the index).
   */
  indexedOnly?: boolean;
}

/** How much longer than statement_timeout the client waits: a server that is alive answers with its own error first. */
const CLIENT_GRACE_MS = 5000;
const READ_TIMEOUT = 'Query read timeout';

const pools = new WeakMap<Db, pg.Pool>();

// A statement whose text starts with this comment runs as a named prepared statement on each
// connection: parsed once there, not on every call (planned for its values each time, see
// withSessionOptions). For the hot, fixed-text statements; the name follows the marker.
export const PREPARED = '/* prepared:';

/**
 * Makes a client run marked statements as named prepared statements (Kysely passes plain text), and
 * drop its connection when a statement got no answer in time: whatever was sent may still be waiting
 * on it, so it is unusable (the pool then replaces it instead of handing it out again).
 */
function prepareMarkedStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const dropIfUnanswered = (error: unknown): void => {
    if ((error as Error | undefined)?.message !== READ_TIMEOUT) return;
    // Before the caller releases it: pg-pool drops a released client that is not queryable.
    const raw = client as unknown as { _queryable: boolean; connection: { stream: { destroy(): void } } };
    raw._queryable = false;
    raw.connection.stream.destroy();
  };
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (first: unknown, ...rest: unknown[]) => {
    if (typeof first === 'string' && first.startsWith(PREPARED)) {
      const name = first.slice(PREPARED.length, first.indexOf(' */'));
      first = { name, text: first, values: rest[0] };
      rest = rest.slice(1);
    }
    const last = rest.at(-1);
    if (typeof last === 'function') {
      rest[rest.length - 1] = (error: unknown, ...results: unknown[]) => {
        dropIfUnanswered(error);
        return (last as (...args: unknown[]) => unknown)(error, ...results);
      };
    }
    const result = query(first, ...rest);
    if (!(result instanceof Promise)) return result;
    return result.catch((error: unknown) => {
      dropIfUnanswered(error);
      throw error;
    });
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
 * The connection string with session settings as startup options (no extra statement, nothing queued
 * behind the first query): JIT off, because our statements are short and compiling one whose estimate
 * crosses jit_above_cost (a page of first sightings, unnest over 13 arrays) took 650 ms to run 30 ms
 * of work; and the statement deadline, before the URL's own options so that one set there wins.
 * Options already in the URL (a host's endpoint id) are kept.
 */
function withSessionOptions(connectionString: string, statementTimeoutMs: number, planOnce: boolean, indexedOnly: boolean): string {
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    return connectionString; // not a URL: pg reads it as it is
  }
  const own = url.searchParams.get('options');
  // plan_cache_mode: a prepared statement is planned for its values on every call. A plan cached
  // while the tables were small (a fresh install, the first minute of a bulk move) scanned them whole
  // for as long as the connection lived: storing a delivery went from 3 to 360 ms as 100,000 arrived.
  // A pool that plans once keeps its plan as the tables grow, so it must never pick a seq scan.
  const planning = planOnce ? '-c plan_cache_mode=force_generic_plan -c enable_seqscan=off' : '-c plan_cache_mode=force_custom_plan';
  const paths = indexedOnly ? '-c enable_seqscan=off -c enable_sort=off' : '';
  url.searchParams.set('options', [`-c statement_timeout=${statementTimeoutMs}`, own, '-c jit=off', planning, paths].filter(Boolean).join(' '));
  return url.toString();
}

/** One pg pool wrapped in Kysely; `db.destroy()` closes the pool. */
export function createDb(connectionString: string, options: DbOptions = {}): Db {
  const statementTimeoutMs = options.statementTimeoutMs ?? 30_000;
  const pool = new pg.Pool({
    connectionString: withSessionOptions(connectionString, statementTimeoutMs, options.planOnce ?? false, options.indexedOnly ?? false),
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 3000,
    query_timeout: statementTimeoutMs + CLIENT_GRACE_MS,
    // A peer that vanished without a reset (a dropped route) is noticed by the OS, not only by a timeout.
    keepAlive: true,
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

/**
 * Runs `work` in a transaction, tried again (up to 3 times) when PostgreSQL ends it for a deadlock:
 * writers lock people in id order, but a person another writer created meanwhile is locked after the
 * others, and nothing of an attempt ended that way was kept.
 */
export async function inTransaction<T>(db: Db, work: (trx: Trx) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(work);
    } catch (error) {
      if (attempt >= 3 || (error as { code?: unknown }).code !== '40P01') throw error;
    }
  }
}
