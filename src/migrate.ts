import { Command } from 'commander';
import { migrate } from './shared/db/migrate.js';
import { openDatabase } from './shared/db/open-database.js';
import { createLogger } from './shared/logger.js';
import { loadConfigFromEnv } from './shared/runtime.js';
import { runMain } from './shared/run-main.js';

const program = new Command('migrate').description('Applies pending migrations (needs only DATABASE_URL).');

runMain(program, async () => {
  const config = loadConfigFromEnv('database');
  const log = createLogger(config.logLevel);
  const location = await openDatabase(config, log);
  try {
    const ran = await migrate(location.url, log);
    log.info({ applied: ran }, ran.length === 0 ? 'database is up to date' : 'migrations applied');
    return 0;
  } finally {
    await location.close();
  }
});
