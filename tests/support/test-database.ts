import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sql } from 'kysely';
import { createDb, type Db } from '../../src/shared/db/database.js';
import { migrate } from '../../src/shared/db/migrate.js';

export interface TestDatabase {
  url: string;
  db: Db;
  /** Empties every table (between tests). */
  reset(): Promise<void>;
  /** Closes the pool and drops the database. */
  destroy(): Promise<void>;
}

export function serverUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_DATABASE_URL is not set: run the tests through mocha (global setup finds PostgreSQL)');
  return url;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** A database of its own for one test file, migrated with the production migrator. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `fubtest_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = withDatabase(serverUrl(), name);
  await migrate(url);
  // Benchmarks fill a million rows in one statement: more than a service statement may take.
  const db = createDb(url, { max: 20, statementTimeoutMs: 600_000 });
  return {
    url,
    db,
    async reset() {
      await sql`TRUNCATE webhook_events, webhook_deliveries, people, stage_changes, stage_evidence, stages, stage_names, poll_runs RESTART IDENTITY CASCADE`.execute(db);
      await sql`UPDATE collector_state SET watching_since = NULL`.execute(db);
      await sql`UPDATE poll_state SET backfill_cursor = NULL, backfill_started_at = NULL, backfill_people_seen = 0, descending_sort = NULL`.execute(db);
    },
    async destroy() {
      await db.destroy();
      await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

async function admin(work: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl() });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}
