import { parseArgs } from 'node:util';
import { loadConfigOrExit, onShutdown, openRuntime } from '../shared/runtime.js';
import { createPollerFor, runPollCommand } from './poller-service.js';

const { values: args } = parseArgs({
  options: { once: { type: 'boolean', default: false }, full: { type: 'boolean', default: false } },
});
const runtime = await openRuntime(loadConfigOrExit('poller'));

if (args.once || args.full) {
  // One poll, then exit: for the system's cron or Task Scheduler.
  const code = await runPollCommand(runtime, { full: args.full });
  await runtime.close();
  process.exit(code);
} else {
  const poller = createPollerFor(runtime);
  poller.start();
  onShutdown(runtime.log, async () => {
    await poller.stop();
    await runtime.close();
  });
}
