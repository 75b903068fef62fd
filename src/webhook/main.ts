import { Command } from 'commander';
import { loadConfigFromEnv, onShutdown, openRuntime, startOn } from '../shared/runtime.js';
import { runMain } from '../shared/run-main.js';
import { startWebhookServer } from './webhook-server.js';

const program = new Command('webhook').description("FUB's webhook receiver: stores each signed webhook, then records its stage changes.");

runMain(program, async () => {
  const runtime = await openRuntime(loadConfigFromEnv());
  const webhook = await startOn(runtime, () => startWebhookServer(runtime));
  onShutdown(runtime.log, async () => {
    await webhook.stop();
    await runtime.close();
  });
  return 'running';
});
