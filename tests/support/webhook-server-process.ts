import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { FubSimulator, WebhookEnvelope } from '../../fub-simulator/fub-simulator.js';
import { serviceEnv } from './run-entrypoint.js';
import { waitFor } from './wait.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The real webhook server entrypoint as its own process, answering /health on `port`. */
export async function startWebhookProcess(sim: FubSimulator, databaseUrl: string, port: number, extraEnv: Record<string, string> = {}): Promise<ChildProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/webhook/main.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      ...serviceEnv(sim, databaseUrl),
      PORT: String(port),
      LOG_LEVEL: 'warn',
      PROCESSING_LEASE_SECONDS: '2',
      PROCESSING_SWEEP_MS: '200',
      ...extraEnv,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitFor('the server to answer /health', async () => {
    if (proc.exitCode !== null) throw new Error(`webhook server exited with ${proc.exitCode}`);
    try {
      return (await fetch(`http://127.0.0.1:${port}/health`)).status === 200;
    } catch {
      return false;
    }
  });
  return proc;
}

export async function stopProcess(proc: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill(signal);
  await exited;
}

/** POSTs one signed webhook; the status, or 0 when the connection failed. */
export async function postWebhook(sim: FubSimulator, port: number, hook: WebhookEnvelope): Promise<number> {
  const { body, signature } = sim.sign(hook);
  try {
    const res = await fetch(`http://127.0.0.1:${port}/webhooks/fub`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'FUB-Signature': signature },
      body,
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}
