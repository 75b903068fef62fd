// A careless operator's arguments are usage errors, answered before anything opens: not a
// database error about "NaN" after connecting.
import { expect } from 'chai';
import { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { runEntrypoint, serviceEnv } from './support/run-entrypoint.js';

const STACK_FRAME = /^\s+at .+/m;

describe('cli: malformed numbers in arguments', function () {
  this.timeout(60_000);
  const sim = new FubSimulator();
  let env: Record<string, string>;
  before(async () => {
    await sim.start();
    // 127.0.0.1:1 refuses every connection: a command that got as far as the database says so.
    env = { ...serviceEnv(sim, 'postgres://postgres@127.0.0.1:1/nowhere'), LOG_LEVEL: 'silent' };
  });
  after(() => sim.stop());

  for (const limit of ['abc', '-5', '0', '1.5']) {
    it(`events list --limit ${limit} is a usage error naming --limit, exit 1, database untouched`, async () => {
      const result = await runEntrypoint('src/cli/main.ts', ['events', 'list', '--limit', limit], env);
      expect(result.code, result.stderr).to.equal(1);
      expect(result.stderr).to.contain('--limit');
      expect(result.stderr).not.to.contain('Cannot reach the database');
      expect(result.stderr).not.to.match(STACK_FRAME);
    });
  }
});
