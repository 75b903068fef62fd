import { expect } from 'chai';
import { FubClock } from '../src/shared/fub/fub-clock.js';

// FUB dates answers to the whole second (the Date header); reads made one after another inside one
// second must keep their order on FUB's clock, or a history built from them invents a return.
describe("FUB's clock as learned from answers", () => {
  const second = Date.parse('2026-11-27T14:01:36Z');
  const header = new Date(second).toUTCString();

  it('dates answers received one after another inside one FUB second in that order', () => {
    const clock = new FubClock(() => 0);
    // Local times (ms): each answer takes 20 ms; the gaps between them shrink and grow, as live
    // reads do when each follows its own webhook.
    const local = second - 3000; // our clock 3 s behind FUB's
    const answers: number[] = [];
    for (const [start, end] of [[0, 20], [300, 320], [340, 360], [365, 385], [700, 720], [722, 742]] as const) {
      answers.push(clock.observe(header, local + start, local + end).getTime());
    }
    for (const at of answers) expect(at).to.be.within(second, second + 999);
    expect(answers, answers.map((a) => a - second).join(', ')).to.deep.equal([...answers].sort((a, b) => a - b));
    expect(new Set(answers).size).to.equal(answers.length);
  });

  it('still dates an answer inside the second its Date header names', () => {
    const clock = new FubClock(() => 0);
    clock.observe(header, second, second + 10);
    // Our clock jumped 5 s; FUB's header still says the same second: FUB's word wins.
    expect(clock.observe(header, second + 5000, second + 5010).getTime()).to.be.within(second, second + 999);
    const next = new Date(second + 1000).toUTCString();
    expect(clock.observe(next, second + 6000, second + 6010).getTime()).to.be.within(second + 1000, second + 1999);
  });
});
