// Found by an adversarial review (each failed before its fix): the late-stamp rule covers moves that name their stage, not a
// peopleStageUpdated without data.stage stamped x+1 for a move saved at x.99x: that move is dated x.
import { expect } from 'chai';
import { at, brief, read, rebuild, unnamed } from './support/rebuild-edge-support.js';

describe('rebuild edge: an unnamed move stamped one second after the updated it gave', () => {
  it('dates the move by its eventCreated second (61), as the README promises for a peopleStageUpdated without the stage', () => {
    // FUB: in A. Moved to B at 60.998 (updated 60), the peopleStageUpdated (no data.stage) stamped 61;
    // the fetch after it (61.5) and a poll (70) show B, updated 60: one move, FUB said "second 61".
    const evidence = [read('A', 0), unnamed(61), read('B', 60, { readAt: at(61.5) }), read('B', 60, { readAt: at(70) })];
    const rows = rebuild(evidence);
    // Before the fix: A>B@60 (the unnamed move's second is ignored).
    expect(brief(rows)).to.deep.equal(['first_seen ?>A@0', 'A>B@61']);
  });
});
