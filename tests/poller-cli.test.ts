import { spawn } from 'node:child_process';
import { expect } from 'chai';
import { waitFor } from './support/wait.js';
import { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { runEntrypoint, serviceEnv } from './support/run-entrypoint.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

describe('npm run poller -- --once', function () {
  this.timeout(60_000);
  const sim = new FubSimulator();
  let tdb: TestDatabase;
  let env: Record<string, string>;
  before(async () => {
    await sim.start();
    tdb = await createTestDatabase();
    env = { ...serviceEnv(sim, tdb.url), LOG_LEVEL: 'warn' };
  });
  after(async () => {
    await sim.stop();
    await tdb.destroy();
  });

  it('runs one poll and exits 0', async () => {
    for (let id = 1; id <= 120; id++) sim.addPerson(id, 'Lead');
    const result = await runEntrypoint('src/poller/main.ts', ['--once'], env);
    expect(result.code, result.stderr).to.equal(0);
    const runs = await tdb.db.selectFrom('poll_runs').select(['status', 'mode', 'people_seen']).execute();
    expect(runs).to.deep.equal([{ status: 'succeeded', mode: 'full', people_seen: 120 }]);
  });

  it('exits 1 with a clear message when FUB rejects the key', async () => {
    const result = await runEntrypoint('src/poller/main.ts', ['--once'], { ...env, FUB_API_KEY: 'wrong' });
    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain('Poll failed: FUB rejected the API key (401) on /people: check FUB_API_KEY');
  });

  it('exits 1 naming the missing variable, and needs no webhook key', async () => {
    const { FUB_API_KEY: _key, FUB_SYSTEM_KEY: _systemKey, FUB_SYSTEM: _system, ...rest } = env;
    const result = await runEntrypoint('src/poller/main.ts', ['--once'], rest);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain('FUB_API_KEY is required');
    expect(result.stderr).not.to.contain('FUB_SYSTEM_KEY');
  });

  it('npm start (src/main.ts) runs the webhook server and the poller in one process', async () => {
    const port = 30_000 + Math.floor(Math.random() * 20_000);
    await tdb.reset();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port) },
      stdio: 'ignore',
    });
    try {
      await waitFor('a poll to succeed, seen through /health', async () => {
        const res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
        return res?.status === 200 && ((await res.json()) as { last_poll_status: string }).last_poll_status === 'succeeded';
      });
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).to.equal(0);
    }
  });
});
