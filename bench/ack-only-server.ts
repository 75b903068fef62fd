// The collector's receiving path alone (verify, parse, group-committed inbox write, answer) with no
// processor running beside it: isolates what the acknowledgement costs from the stage recording.
// Its pools are made as the service's runtime makes them (the inbox on its own, planned once).
import { createDb } from '../src/shared/db/database.js';
import { createLogger } from '../src/shared/logger.js';
import { createInboxDb } from '../src/shared/runtime.js';
import { createWebhookApp } from '../src/webhook/app.js';

const url = process.env.DATABASE_URL!;
const app = createWebhookApp({
  db: createDb(url),
  inboxDb: createInboxDb(url),
  log: createLogger('warn'),
  systemKey: process.env.FUB_SYSTEM_KEY,
});
app.listen(Number(process.env.PORT));
