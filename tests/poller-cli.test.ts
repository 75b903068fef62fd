import { expect } from 'chai';
import { FubSimulator } from './support/fub-simulator.js';
import { runEntrypoint } from './support/run-entrypoint.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

describe('npm run poller -- --once', function () {
  this.timeout(60_000);
  const sim = new FubSimulator();
  let tdb: TestDatabase;
  let env: Record<string, string>;
  before(async () => {
    await sim.start();
    tdb = await createTestDatabase();
    env = {
      DATABASE_URL: tdb.url,
      FUB_API_KEY: sim.apiKey,
      FUB_SYSTEM: sim.system,
      FUB_SYSTEM_KEY: sim.systemKey,
      FUB_API_BASE_URL: sim.baseUrl,
      LOG_LEVEL: 'warn',
    };
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
});
