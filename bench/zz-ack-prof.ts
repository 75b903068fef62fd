import { createDb } from '../src/shared/db/database.js';
import { createLogger } from '../src/shared/logger.js';
import { createWebhookApp } from '../src/webhook/app.js';
const app = createWebhookApp({ db: createDb(process.env.DATABASE_URL!), log: createLogger('warn'), systemKey: process.env.FUB_SYSTEM_KEY });
app.listen(Number(process.env.PORT));
process.on('SIGINT', () => process.exit(0));
