import { expect } from 'chai';
import { exceedsJsonDepth } from '../src/webhook/json-depth.js';

describe('JSON nesting depth', () => {
  it('counts arrays and objects, not brackets inside strings or after escaped quotes', () => {
    expect(exceedsJsonDepth('{"a":[{"b":[1]}]}', 4)).to.equal(false);
    expect(exceedsJsonDepth('{"a":[{"b":[1]}]}', 3)).to.equal(true);
    expect(exceedsJsonDepth(JSON.stringify({ text: '[[[[{{{{' }), 1)).to.equal(false);
    expect(exceedsJsonDepth(JSON.stringify({ text: 'say \\"[[[[ and "{{{{"' }), 1)).to.equal(false);
    expect(exceedsJsonDepth(`${JSON.stringify('a\\')}`, 0)).to.equal(false);
  });

  it('stops at the limit on input of any depth without recursion', () => {
    const deep = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
    expect(exceedsJsonDepth(deep, 64)).to.equal(true);
    expect(exceedsJsonDepth('['.repeat(64) + ']'.repeat(64), 64)).to.equal(false);
  });
});
