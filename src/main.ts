// All-in-one: the webhook server and the poller schedule in one process, one FUB rate budget.
import { createPollerFor } from './poller/poller-service.js';
import { loadConfigOrExit, onShutdown, openRuntime } from './shared/runtime.js';
import { startWebhookServer } from './webhook/webhook-server.js';

const runtime = await openRuntime(loadConfigOrExit());
const webhook = await startWebhookServer(runtime);
const poller = createPollerFor(runtime);
poller.start();
onShutdown(runtime.log, async () => {
  await Promise.all([webhook.stop(), poller.stop()]);
  await runtime.close();
});
