import { parseArgs } from 'node:util';
import { loadConfigOrExit, onShutdown, openRuntime } from '../shared/runtime.js';
import { drawProgress } from './progress-bar.js';
import { createPollerFor } from './poller-service.js';

const { values: args } = parseArgs({
  options: { once: { type: 'boolean', default: false }, full: { type: 'boolean', default: false } },
});
const runtime = await openRuntime(loadConfigOrExit('poller'));
const onPage = process.stderr.isTTY ? (p: Parameters<typeof drawProgress>[1]) => drawProgress(process.stderr, p) : undefined;
const poller = createPollerFor(runtime, onPage);

if (args.once || args.full) {
  // One poll, then exit: for the system's cron or Task Scheduler.
  onShutdown(runtime.log, () => poller.stop());
  const result = await poller.runOnce({ full: args.full });
  if (onPage) process.stderr.write('\n');
  await runtime.close();
  if (result.status === 'failed') process.stderr.write(`Poll failed: ${result.error}\n`);
  if (result.status === 'interrupted') process.stderr.write('Poll interrupted; the next poll resumes where it stopped.\n');
  process.exit(result.status === 'succeeded' || result.status === 'skipped' ? 0 : 1);
} else {
  poller.start();
  onShutdown(runtime.log, async () => {
    await poller.stop();
    await runtime.close();
  });
}
