// The poller of a soak: in this process, on its own pool through the proxy, polling every few
// seconds. Its failures are expected while faults strike; each poll starts from the last success.
import type { Db } from '../../src/shared/db/database.js';
import { createPoller, type Poller, type PollResult } from '../../src/poller/poller.js';
import { createFubClient } from '../../src/shared/fub/fub-client.js';
import { FubRateLimiter } from '../../src/shared/fub/rate-limiter.js';
import type { FubSimulator } from '../../fub-simulator/fub-simulator.js';
import { testLogger } from '../support/harness.js';
import { sleep } from '../support/wait.js';

export interface PollCounts {
  succeeded: number;
  /** Failed, or could not run at all (the database refused the poll's own connection). */
  failed: number;
  skipped: number;
}

export interface BackgroundPoller {
  readonly poller: Poller;
  readonly counts: PollCounts;
  /** Starts polling every `intervalMs` (a poll that runs long delays the next). */
  start(intervalMs: number): void;
  /** Stops after the poll in hand. */
  stop(): Promise<void>;
  /** One poll now, tried until it succeeds (for the end, when every fault is off). */
  pollUntilSucceeded(tries?: number): Promise<PollResult>;
}

export function createBackgroundPoller(db: Db, sim: FubSimulator): BackgroundPoller {
  const log = testLogger();
  const fub = createFubClient({ ...sim.connection(), limiter: new FubRateLimiter(), log, retryBaseDelayMs: 200, retryMaxDelayMs: 2000 });
  // The schedule is ours (start()); the cron expression is never started.
  const poller = createPoller({ db, log, fub, options: { cron: '*/30 * * * *', overlapMs: 5 * 60_000 } });
  const counts: PollCounts = { succeeded: 0, failed: 0, skipped: 0 };
  let loop: Promise<void> | undefined;
  let stopping = false;

  const pollOnce = async (): Promise<PollResult | undefined> => {
    try {
      const result = await poller.runOnce();
      if (result.status === 'succeeded') counts.succeeded += 1;
      else if (result.status === 'skipped') counts.skipped += 1;
      else counts.failed += 1;
      return result;
    } catch {
      counts.failed += 1;
      return undefined;
    }
  };

  return {
    poller,
    counts,
    start(intervalMs) {
      stopping = false;
      loop = (async () => {
        while (!stopping) {
          await pollOnce();
          await sleep(intervalMs);
        }
      })();
    },
    async stop() {
      stopping = true;
      await loop;
    },
    async pollUntilSucceeded(tries = 10) {
      let result: PollResult | undefined;
      for (let i = 0; i < tries; i++) {
        result = await pollOnce();
        if (result?.status === 'succeeded') return result;
        await sleep(1000);
      }
      throw new Error(`the final poll did not succeed in ${tries} tries: ${JSON.stringify(result)}`);
    },
  };
}
