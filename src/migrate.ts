import { migrate } from './shared/db/migrate.js';
import { openDatabase } from './shared/db/open-database.js';
import { createLogger } from './shared/logger.js';
import { loadConfigOrExit } from './shared/runtime.js';

const config = loadConfigOrExit('database');
const log = createLogger(config.logLevel);
const location = await openDatabase(config, log);
try {
  const ran = await migrate(location.url, log);
  log.info({ applied: ran }, ran.length === 0 ? 'database is up to date' : 'migrations applied');
} finally {
  await location.close();
}
