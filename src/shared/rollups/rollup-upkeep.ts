import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import { foldRollups, rebuildRollups, rollupZone } from './rollups.repository.js';

/** Days folded per statement: a backfill's thousands of loose days go in short transactions. */
const DAYS_PER_FOLD = 50;

/** Makes the rollups count days in `timeZone`, recounting them when they counted another zone. Returns whether it did. */
export async function useRollupZone(db: Db, timeZone: string, log: Logger): Promise<boolean> {
  const current = await rollupZone(db);
  if (current === timeZone) return false;
  const started = Date.now();
  await rebuildRollups(db, timeZone);
  log.info({ from: current, to: timeZone, ms: Date.now() - started }, 'dashboard rollups recounted in the business time zone');
  return true;
}

/** Folds every loose rollup row present now, a few days at a time. Returns the days folded. */
export async function foldAllRollups(db: Db): Promise<number> {
  let total = 0;
  for (;;) {
    const days = await foldRollups(db, DAYS_PER_FOLD);
    total += days;
    if (days < DAYS_PER_FOLD) return total;
  }
}

/**
 * Keeps the dashboard's rollups: counting in `timeZone` (BUSINESS_TIMEZONE), and folded every
 * minute so a dashboard sums few rows per key. Until the first recount ends the monitoring files read
 * stage_changes itself, which gives the same answers. `stop` waits for work in progress.
 */
export function startRollupUpkeep(deps: { db: Db; log: Logger; timeZone: string; intervalMs?: number }): { stop(): Promise<void> } {
  const log = deps.log.child({ component: 'rollups' });
  let running: Promise<unknown> | undefined = useRollupZone(deps.db, deps.timeZone, log)
    .catch((error: unknown) => log.error({ err: error }, 'recounting the dashboard rollups failed; dashboards read stage_changes instead'))
    .finally(() => (running = undefined));
  const tick = (): void => {
    if (running) return;
    running = foldAllRollups(deps.db)
      .catch((error: unknown) => log.error({ err: error }, 'folding the dashboard rollups failed; the next minute tries again'))
      .finally(() => (running = undefined));
  };
  const timer = setInterval(tick, deps.intervalMs ?? 60_000);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
