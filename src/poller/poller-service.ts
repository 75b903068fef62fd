import type { Runtime } from '../shared/runtime.js';
import { createPoller, type Poller, type PollProgress } from './poller.js';

/** The poller built from the shared runtime (its own FUB client, the process's rate budget). */
export function createPollerFor(runtime: Runtime, onPage?: (progress: PollProgress) => void): Poller {
  return createPoller({
    db: runtime.db,
    log: runtime.log,
    fub: runtime.newFubClient(),
    options: { ...runtime.config.poller, ...(onPage ? { onPage } : {}) },
  });
}
