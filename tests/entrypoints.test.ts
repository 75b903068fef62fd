import { expect } from 'chai';
import { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { runEntrypoint, serviceEnv } from './support/run-entrypoint.js';

// Every way into the service, run as the operator runs it: a process, its exit code and what it says.
const ENTRYPOINTS: { entry: string; args: string[] }[] = [
  { entry: 'src/main.ts', args: [] },
  { entry: 'src/webhook/main.ts', args: [] },
  { entry: 'src/poller/main.ts', args: ['--once'] },
  { entry: 'src/migrate.ts', args: [] },
  { entry: 'src/cli/main.ts', args: ['report'] },
];
// A stack frame as Node prints it: "    at fn (file:line:col)".
const STACK_FRAME = /^\s+at .+/m;

describe('entrypoints: one way in (runMain)', function () {
  this.timeout(120_000);
  const sim = new FubSimulator();
  let env: Record<string, string>;
  before(async () => {
    await sim.start();
    // 127.0.0.1:1 refuses every connection.
    env = { ...serviceEnv(sim, 'postgres://postgres@127.0.0.1:1/nowhere'), LOG_LEVEL: 'silent' };
  });
  after(() => sim.stop());

  for (const { entry, args } of ENTRYPOINTS) {
    it(`${entry}: an unreachable database is explained in a sentence, exit 1, no stack trace`, async () => {
      const result = await runEntrypoint(entry, args, env);
      expect(result.code, result.stderr).to.equal(1);
      expect(result.stderr).to.contain('Cannot reach the database');
      expect(result.stderr).not.to.match(STACK_FRAME);
    });

    it(`${entry}: --help prints its usage and exits 0 without touching the database`, async () => {
      const result = await runEntrypoint(entry, ['--help'], env);
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stdout).to.match(/^Usage: /);
      expect(result.stderr).to.equal('');
    });
  }

  it('a set but empty DATABASE_URL is refused by every entrypoint before anything starts', async () => {
    for (const { entry, args } of ENTRYPOINTS) {
      const result = await runEntrypoint(entry, args, { ...env, DATABASE_URL: '', EMBEDDED_PG_DIR: '/nonexistent/never-created' });
      expect(result.code, `${entry}: ${result.stderr}`).to.equal(1);
      expect(result.stderr, entry).to.contain('DATABASE_URL is set but empty');
      expect(result.stderr, entry).not.to.match(STACK_FRAME);
    }
  });

  it('no DATABASE_URL on Railway is refused: the embedded database would live on a throwaway disk', async () => {
    const { DATABASE_URL: _url, ...noUrl } = env;
    const result = await runEntrypoint('src/webhook/main.ts', [], { ...noUrl, RAILWAY_ENVIRONMENT: 'production', EMBEDDED_PG_DIR: '/nonexistent/never-created' });
    expect(result.code, result.stderr).to.equal(1);
    expect(result.stderr).to.contain('DATABASE_URL is required where the service is deployed (RAILWAY_ENVIRONMENT is set)');
  });

  it('an unknown flag is a usage error, exit 1', async () => {
    const result = await runEntrypoint('src/poller/main.ts', ['--onse'], env);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain("unknown option '--onse'");
  });
});
