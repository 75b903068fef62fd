// The collector's receiving path alone (verify, parse, group-committed inbox write, answer) with no
// processor running beside it: isolates what the acknowledgement costs from the stage recording.
// Its pools are made as the service's runtime makes them (the inbox on its own, planned once), and it
// logs at LOG_LEVEL (the service's default, info, unless set), so that it differs from the server
// users run by the recording alone.
import type { LogLevel } from '../src/shared/config.js';
import { createDb } from '../src/shared/db/database.js';
import { createLogger } from '../src/shared/logger.js';
import { createInboxDb } from '../src/shared/runtime.js';
import { createWebhookApp } from '../src/webhook/app.js';

const url = process.env.DATABASE_URL!;
const app = createWebhookApp({
  db: createDb(url),
  inboxDb: createInboxDb(url),
  log: createLogger((process.env.LOG_LEVEL as LogLevel | undefined) ?? 'info'),
  systemKey: process.env.FUB_SYSTEM_KEY,
});
app.listen(Number(process.env.PORT));
