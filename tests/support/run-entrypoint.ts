import { spawn } from 'node:child_process';
import type { FubSimulator } from '../../fub-simulator/fub-simulator.js';

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a TypeScript entrypoint as its own process, as `npm run …` would, and waits for it to exit. */
export function runEntrypoint(entry: string, args: string[], env: Record<string, string>): Promise<Finished> {
  return new Promise((resolve, reject) => {
    // Only what the test gives, plus PATH: a developer's own FUB_* variables must not leak in.
    const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    // 'exit' can come before the last of the output is read: wait for both streams to end (a
    // grandchild still holding them, an embedded PostgreSQL say, gets a second).
    child.once('exit', (code) => {
      const ended = (stream: NodeJS.ReadableStream) => new Promise((done) => (stream.readable ? stream.once('end', done) : done(undefined)));
      void Promise.race([Promise.all([ended(child.stdout), ended(child.stderr)]), new Promise((done) => setTimeout(done, 1000))]).then(() =>
        resolve({ code, stdout, stderr }),
      );
    });
  });
}

/** The environment an entrypoint needs to run against a test database and the FUB simulator. */
export function serviceEnv(sim: FubSimulator, databaseUrl: string): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    FUB_API_KEY: sim.apiKey,
    FUB_SYSTEM: sim.system,
    FUB_SYSTEM_KEY: sim.systemKey,
    FUB_API_BASE_URL: sim.baseUrl,
  };
}
