import { loadConfig, readEnv, type Config, type ConfigPurpose } from './config.js';
import { createDb, type Db } from './db/database.js';
import { migrate } from './db/migrate.js';
import { openDatabase } from './db/open-database.js';
import { createFubClient, fubConnection, type FubClient, type FubClientOptions } from './fub/fub-client.js';
import { FubClock } from './fub/fub-clock.js';
import { FubRateLimiter } from './fub/rate-limiter.js';
import { abandonLogs, createLogger, exitWhenLogged, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';

/** The parts every entrypoint shares: one database pool and one FUB rate budget. */
export interface Runtime {
  config: Config;
  log: Logger;
  db: Db;
  /** The pool the webhook processor records on: bounded apart from `db`, which serves requests. */
  processingDb: Db;
  /** The pool the inbox writes webhooks on, its one statement planned once per connection. */
  inboxDb: Db;
  metrics: Metrics;
  /** A FUB client of its own (its own call counts) on the process's one rate limiter and FUB clock. */
  newFubClient(): FubClient;
  close(): Promise<void>;
}

/** The configuration from the environment and .env; throws ConfigError naming every problem. */
export function loadConfigFromEnv(purpose: ConfigPurpose = 'service'): Config {
  return loadConfig(readEnv(), purpose);
}

/** The client settings a runtime's FUB clients may differ in (tests shorten the retry delays). */
export type FubClientTuning = Partial<Pick<FubClientOptions, 'retryBaseDelayMs' | 'retryMaxDelayMs' | 'maxRetries' | 'timeoutMs' | 'max429Retries'>>;

/**
 * The wiring, written once: metrics on the database, one FUB rate budget and one FUB clock for the
 * process, and FUB clients on them. openRuntime calls it on the database it opened; tests call it on
 * their own database, so they run the parts the service runs.
 */
export function composeRuntime(parts: {
  config: Config;
  log: Logger;
  db: Db;
  /** The processor's own pool; `db` when not given (tests). */
  processingDb?: Db;
  /** The inbox's own pool; `db` when not given (tests). */
  inboxDb?: Db;
  fubTuning?: FubClientTuning;
  /** Releases what the caller opened for this runtime; the database pool is the caller's too. */
  close?: () => Promise<void>;
}): Runtime {
  const { config, log, db } = parts;
  const metrics = createMetrics(db);
  const limiter = new FubRateLimiter({ onWait: metrics.fubHooks.onWait });
  const clock = new FubClock();
  return {
    config,
    log,
    db,
    processingDb: parts.processingDb ?? db,
    inboxDb: parts.inboxDb ?? db,
    metrics,
    newFubClient: () =>
      createFubClient({ ...fubConnection(config.fub), limiter, clock, log, onCall: metrics.fubHooks.onCall, ...parts.fubTuning }),
    close: parts.close ?? (async () => undefined),
  };
}

export async function openRuntime(config: Config, log: Logger = createLogger(config.logLevel)): Promise<Runtime> {
  const location = await openDatabase(config, log);
  try {
    await migrate(location.url, log);
  } catch (error) {
    await location.close();
    throw error;
  }
  const db = createDb(location.url, { statementTimeoutMs: config.databaseStatementTimeoutMs });
  const processingDb = createDb(location.url, {
    statementTimeoutMs: config.databaseStatementTimeoutMs,
    max: config.processingDbConnections,
    applicationName: 'fub-collector-processing',
    indexedOnly: true,
  });
  const inboxDb = createInboxDb(location.url, config.databaseStatementTimeoutMs);
  return composeRuntime({
    config,
    log,
    db,
    processingDb,
    inboxDb,
    async close() {
      await inboxDb.destroy();
      await processingDb.destroy();
      await db.destroy();
      await location.close();
    },
  });
}

/**
 * The pool webhooks are written on, as the service makes it (tests and benchmarks make theirs here
 * too): its one statement planned once per connection. Two inbox statements run at a time, four
 * while a failed batch is retried one by one.
 */
export function createInboxDb(url: string, statementTimeoutMs?: number): Db {
  return createDb(url, { ...(statementTimeoutMs === undefined ? {} : { statementTimeoutMs }), max: 4, applicationName: 'fub-collector-inbox', planOnce: true });
}

/** Runs `start` on an open runtime; if it fails, closes the runtime (and an embedded database) first. */
export async function startOn<T>(runtime: Runtime, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    await runtime.close().catch(() => undefined);
    throw error;
  }
}

/** Runs `stop` once on SIGTERM/SIGINT; a second signal exits at once. */
export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      abandonLogs();
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    stop().then(
      () => exitWhenLogged(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        exitWhenLogged(1);
      },
    );
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
}
