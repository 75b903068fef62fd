// All-in-one: the webhook server and the poller schedule in one process, one FUB rate budget.
import { Command } from 'commander';
import { createPollerFor } from './poller/poller-service.js';
import { loadConfigFromEnv, onShutdown, openRuntime, startOn } from './shared/runtime.js';
import { runMain } from './shared/run-main.js';
import { startWebhookServer } from './webhook/webhook-server.js';

const program = new Command('fub-collector').description('The webhook server and the poller schedule in one process.');

runMain(program, async () => {
  const runtime = await openRuntime(loadConfigFromEnv());
  const webhook = await startOn(runtime, () => startWebhookServer(runtime));
  const poller = createPollerFor(runtime);
  poller.start();
  onShutdown(runtime.log, async () => {
    await Promise.all([webhook.stop(), poller.stop()]);
    await runtime.close();
  });
  return 'running';
});
