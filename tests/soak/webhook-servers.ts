// The webhook server replicas of a soak: real processes, killed with SIGKILL and started again. A
// server that exits by itself is noted as a crash and started again, as a platform would.
import type { ChildProcess } from 'node:child_process';
import type { FubSimulator } from '../../fub-simulator/fub-simulator.js';
import { sleep } from '../support/wait.js';
import { freePort, startWebhookProcess, stopProcess } from '../support/webhook-server-process.js';

/** A server that exited without being killed by the soak. */
export interface Crash {
  server: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  at: Date;
}

export interface WebhookServers {
  readonly ports: readonly number[];
  readonly crashes: readonly Crash[];
  /** Kills server `index` with SIGKILL, waits `downMs`, starts it again on the same port. */
  killAndRestart(index: number, downMs: number): Promise<void>;
  /** Indexes of servers running now (not killed, not restarting). */
  running(): number[];
  /** Resolves once no restart is under way (every server runs). */
  settled(): Promise<void>;
  stopAll(): Promise<void>;
}

export async function startWebhookServers(
  sim: FubSimulator,
  databaseUrl: string,
  count: number,
  env: Record<string, string>,
): Promise<WebhookServers> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  const procs: (ChildProcess | undefined)[] = [];
  const restarts = new Set<Promise<void>>();
  const crashes: Crash[] = [];
  let stopping = false;

  /** Runs `work` as a restart others can wait for (settled, stopAll). */
  const track = async (work: Promise<void>): Promise<void> => {
    restarts.add(work);
    try {
      await work;
    } finally {
      restarts.delete(work);
    }
  };

  /** Starts server `index`; an exit nobody asked for is a crash, and it is started again. */
  async function start(index: number): Promise<void> {
    const proc = await startWebhookProcess(sim, databaseUrl, ports[index]!, env);
    procs[index] = proc;
    proc.once('exit', (code, signal) => {
      // Killed by the soak (or stopping): it was taken out of `procs` first.
      if (procs[index] !== proc || stopping) return;
      procs[index] = undefined;
      crashes.push({ server: index, code, signal, at: new Date() });
      void track(restart(index)).catch(() => undefined);
    });
  }

  /**
   * Starts a server again, trying until it answers /health: a start during a database refusal fails
   * its migration check and exits 1 (its error and stack go to stderr, so they show in the soak's
   * output), as it would in production before the platform restarts it. Not counted as a crash.
   */
  async function restart(index: number): Promise<void> {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        await start(index);
        return;
      } catch (error) {
        if (attempt >= 20) throw new Error(`webhook server ${index} did not start after ${attempt} tries: ${(error as Error).message}`, { cause: error });
        await sleep(500);
      }
    }
  }

  await Promise.all(ports.map((_, index) => start(index)));

  return {
    ports,
    crashes,
    async killAndRestart(index, downMs) {
      const proc = procs[index];
      if (proc === undefined) return;
      procs[index] = undefined;
      await track(
        (async () => {
          await stopProcess(proc, 'SIGKILL');
          await sleep(downMs);
          await restart(index);
        })(),
      );
    },
    running: () => procs.flatMap((p, i) => (p !== undefined ? [i] : [])),
    async settled() {
      while (restarts.size > 0) await Promise.allSettled([...restarts]);
    },
    async stopAll() {
      stopping = true;
      await Promise.allSettled([...restarts]);
      await Promise.all(procs.map((p) => stopProcess(p)));
    },
  };
}
