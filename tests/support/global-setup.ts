// Finds the PostgreSQL the tests use: TEST_DATABASE_URL, else the local server on 127.0.0.1:5432,
// else an embedded server this run starts (a fresh machine with no PostgreSQL still tests).
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/shared/db/embedded-postgres.js';
import { createLogger } from '../../src/shared/logger.js';

const LOCAL_URL = 'postgres://postgres@127.0.0.1:5432/test';
let embedded: EmbeddedDatabase | undefined;

export async function mochaGlobalSetup(): Promise<void> {
  if (process.env.TEST_DATABASE_URL) return;
  if (await reachable(LOCAL_URL)) {
    process.env.TEST_DATABASE_URL = LOCAL_URL;
    return;
  }
  console.log('No PostgreSQL on 127.0.0.1:5432: starting an embedded one for the tests');
  embedded = await startEmbeddedPostgres({
    dataDir: join(tmpdir(), `fub-collector-test-pg-${process.getuid?.() ?? 0}`),
    port: Number(process.env.TEST_EMBEDDED_PG_PORT ?? 54329),
    log: createLogger('warn'),
  });
  process.env.TEST_DATABASE_URL = embedded.url;
}

export async function mochaGlobalTeardown(): Promise<void> {
  await embedded?.stop();
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
