import cron from 'node-cron';
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import { pruneOldData } from './prune.js';

/** Once a day, at a quiet hour (server time); replicas pruning at once only skip each other's rows. */
export const PRUNE_CRON = '17 4 * * *';

/** Prunes daily while the process runs; `stop` waits for a prune in progress. */
export function startRetentionSchedule(deps: { db: Db; log: Logger; retentionDays: number }): { stop(): Promise<void> } {
  const log = deps.log.child({ component: 'retention' });
  let running: Promise<unknown> | undefined;
  const task = cron.schedule(PRUNE_CRON, () => {
    if (running) return;
    running = pruneOldData({ ...deps, log })
      .catch((error: unknown) => log.error({ err: error }, 'pruning failed; the next day tries again'))
      .finally(() => (running = undefined));
  });
  return {
    async stop() {
      await task.stop();
      await running;
    },
  };
}
