// Faults striking at random for as long as the soak streams: each kind on its own schedule, so they
// also overlap (a server killed while the database stalls, FUB failing during a refusal).
import type { Fault, FubSimulator } from '../../fub-simulator/fub-simulator.js';
import type { TcpProxy } from '../support/tcp-proxy.js';
import type { Random } from './random.js';
import type { WebhookServers } from './webhook-servers.js';

export interface FaultCounts {
  kills: number;
  refusals: number;
  stalls: number;
  fub500s: number;
}

export interface FaultInjector {
  readonly counts: FaultCounts;
  /** Ends every fault: FUB answers, the proxy passes, every server runs again. */
  stop(): Promise<void>;
}

/** Milliseconds ranges: the gap before each episode, and how long it lasts. */
interface Schedule {
  gapMs: [number, number];
  holdMs: [number, number];
}

export interface FaultSchedules {
  kill: Schedule;
  database: Schedule;
  fub: Schedule;
}

export const DEFAULT_FAULTS: FaultSchedules = {
  // hold: how long the killed server stays down before it is started again.
  kill: { gapMs: [6_000, 20_000], holdMs: [500, 3_000] },
  database: { gapMs: [4_000, 15_000], holdMs: [2_000, 5_000] },
  fub: { gapMs: [6_000, 20_000], holdMs: [3_000, 10_000] },
};

const fubDown: Fault = () => ({ status: 500, body: { errorMessage: 'Internal Server Error' } });

export function startFaults(
  deps: { sim: FubSimulator; proxy: TcpProxy; servers: WebhookServers; random: Random },
  schedules: FaultSchedules = DEFAULT_FAULTS,
): FaultInjector {
  const { sim, proxy, servers, random } = deps;
  const counts: FaultCounts = { kills: 0, refusals: 0, stalls: 0, fub500s: 0 };
  const stopped = new AbortController();
  const between = ([min, max]: [number, number]): number => random.int(min, max);

  /** Runs `episode` again and again after a random gap, until stopped. */
  const every = async (schedule: Schedule, episode: (holdMs: number) => Promise<void>): Promise<void> => {
    while (!stopped.signal.aborted) {
      await pause(between(schedule.gapMs), stopped.signal);
      if (stopped.signal.aborted) return;
      await episode(between(schedule.holdMs));
    }
  };

  const loops = [
    every(schedules.kill, async (downMs) => {
      // One server down at a time: the brief is replicas failing, not the whole service.
      const running = servers.running();
      if (running.length < servers.ports.length) return;
      counts.kills += 1;
      await servers.killAndRestart(random.pick(running), downMs);
    }),
    every(schedules.database, async (holdMs) => {
      const mode = random.chance(0.5) ? 'refuse' : 'stall';
      counts[mode === 'refuse' ? 'refusals' : 'stalls'] += 1;
      proxy.setMode(mode);
      // Not cut short by stop(): a stall ends the way it would, then stop() restores the proxy.
      await pause(holdMs);
      proxy.setMode('pass');
    }),
    every(schedules.fub, async (holdMs) => {
      counts.fub500s += 1;
      sim.faults.push(fubDown);
      await pause(holdMs);
      sim.faults.splice(sim.faults.indexOf(fubDown), 1);
    }),
  ];

  return {
    counts,
    async stop() {
      stopped.abort();
      await Promise.all(loops);
      proxy.setMode('pass');
      sim.faults.length = 0;
      await servers.settled();
    },
  };
}

/** Sleeps `ms`, or less when `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
