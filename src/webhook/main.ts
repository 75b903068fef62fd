import { loadConfigOrExit, onShutdown, openRuntime } from '../shared/runtime.js';
import { startWebhookServer } from './webhook-server.js';

const runtime = await openRuntime(loadConfigOrExit());
const webhook = await startWebhookServer(runtime);
onShutdown(runtime.log, async () => {
  await webhook.stop();
  await runtime.close();
});
