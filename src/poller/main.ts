import { Command } from 'commander';
import { loadConfigFromEnv, onShutdown, openRuntime } from '../shared/runtime.js';
import { runMain } from '../shared/run-main.js';
import { createPollerFor, runPollCommand } from './poller-service.js';

const program = new Command('poller')
  .description("Reads FUB's People API on POLL_CRON and records what the webhooks missed.")
  .option('--once', 'one poll, then exit (for cron or Task Scheduler): exit code 0 on success, 1 on failure')
  .option('--full', 'walk every person once (a resumable backfill), then exit');

runMain(program, async (args: { once?: boolean; full?: boolean }) => {
  const runtime = await openRuntime(loadConfigFromEnv('poller'));
  if (args.once || args.full) {
    try {
      return await runPollCommand(runtime, { full: args.full === true });
    } finally {
      await runtime.close();
    }
  }
  const poller = createPollerFor(runtime);
  poller.start();
  onShutdown(runtime.log, async () => {
    await poller.stop();
    await runtime.close();
  });
  return 'running';
});
