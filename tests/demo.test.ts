import { expect } from 'chai';
import { runEntrypoint } from './support/run-entrypoint.js';

describe('npm run demo', function () {
  this.timeout(150_000);

  it('plays the scripted day in under two minutes and says nothing was missed', async () => {
    const started = Date.now();
    const result = await runEntrypoint('demo/run-demo.ts', ['--exit'], {});
    const seconds = (Date.now() - started) / 1000;
    expect(result.code, result.stdout + result.stderr).to.equal(0);
    expect(seconds).to.be.below(120);
    expect(result.stdout).to.match(/Nothing was missed: (\d+) of \1 moves recorded, nothing extra, every history intact/);
    for (const scenario of [
      'rapid moves 100 ms apart',
      'duplicate and out-of-order deliveries',
      'webhook outage, filled by a poll',
      'burst of 429s from FUB',
      'two moves in one second',
      "FUB's clock 2 min ahead \\(stages fetched\\)",
      'leads already in a stage before installation',
    ]) {
      // leads, moves made, captured (= made), extra 0, missed 0, broken histories 0
      expect(result.stdout).to.match(new RegExp(`${scenario}\\s+\\d+\\s+(\\d+)\\s+\\1\\s+0\\s+0\\s+0\\n`));
    }
    expect(result.stdout).to.contain('All sources HEALTHY.');
    expect(result.stdout).to.match(/Dashboard: http:\/\/localhost:\d+\/dashboard {2}\(password: demo-[0-9a-f]{12}\)\n/);
  });
});
