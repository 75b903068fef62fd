import type { Runtime } from '../shared/runtime.js';
import type { FubClient } from '../shared/fub/fub-client.js';
import { createPoller, type Poller, type PollerOptions } from './poller.js';
import { drawProgress } from './progress-bar.js';

/** The poller built from the shared runtime (its own FUB client, the process's rate budget). */
export function createPollerFor(runtime: Runtime, overrides: { fub?: FubClient; options?: Partial<PollerOptions> } = {}): Poller {
  return createPoller({
    db: runtime.db,
    log: runtime.log,
    fub: overrides.fub ?? runtime.newFubClient(),
    metrics: runtime.metrics,
    options: { ...runtime.config.poller, ...overrides.options },
  });
}

/**
 * One poll for a command line (`--once`, `--full`, the CLI's poll and backfill): progress bar on a
 * terminal, a message on failure. Resolves to the process exit code.
 */
export async function runPollCommand(runtime: Runtime, options: { full: boolean }): Promise<number> {
  const tty = process.stderr.isTTY;
  const poller = createPollerFor(runtime, tty ? { options: { onPage: (p) => drawProgress(process.stderr, p) } } : {});
  const interrupt = (): void => void poller.stop();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    const result = await poller.runOnce({ full: options.full });
    if (tty) process.stderr.write('\n');
    if (result.status === 'skipped') process.stderr.write(`Poll skipped: ${result.reason}.\n`);
    if (result.status === 'failed') process.stderr.write(`Poll failed: ${result.error}\n`);
    if (result.status === 'interrupted') process.stderr.write('Poll interrupted; the next poll resumes where it stopped.\n');
    if (result.status === 'succeeded') {
      const c = result.counts;
      process.stderr.write(`Poll ${result.mode}: ${c.people_seen} people read, ${c.changes_inserted} changes recorded, ${c.changes_skipped_as_duplicate} already recorded, ${c.api_calls} API calls.\n`);
    }
    return result.status === 'succeeded' || result.status === 'skipped' ? 0 : 1;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}
