// The collector's receiving path alone (verify, parse, group-committed inbox write, answer) with no
// processor running beside it: isolates what the acknowledgement costs from the stage recording.
import { createDb } from '../src/shared/db/database.js';
import { createLogger } from '../src/shared/logger.js';
import { createWebhookApp } from '../src/webhook/app.js';

const app = createWebhookApp({ db: createDb(process.env.DATABASE_URL!), log: createLogger('warn'), systemKey: process.env.FUB_SYSTEM_KEY });
app.listen(Number(process.env.PORT));
