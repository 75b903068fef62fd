// Found by an adversarial review (each failed before its fix): readsAfterLateStamps moves a read of `updated` x into second x+1, where
// reads are matched as a set. A read with updated x necessarily came before every read with updated
// x+1 (FUB's updated only moves forward), so rewriting it loses that order and can hide a real move.
import { expect } from 'chai';
import { arrivals, at, brief, move, read, rebuild } from './support/rebuild-edge-support.js';

describe('rebuild edge: a read moved to the late-stamped second hides a real arrival', () => {
  it('counts two arrivals in B when reads show B (updated 60), then C (updated 61), then B (updated 61)', () => {
    // FUB: in A. Reaches B in second 60 (its webhook was lost, or is the move stamped 61: either way
    // the person is in B, updated 60, when read at 61.1). Then in second 61: B→C (read C, updated 61,
    // at 61.3) and C→B (named). A poll at 70 finds B, updated 61. B was entered twice: once before the
    // 61.1 read, once after the 61.3 read. Only one webhook names B, so one arrival is inferred.
    const evidence = [
      read('A', 0),
      read('B', 60, { readAt: at(61.1) }),
      move('C', 61),
      move('B', 61),
      read('C', 61, { readAt: at(61.3) }),
      read('B', 61, { readAt: at(70) }),
    ];
    const rows = rebuild(evidence);
    // Before the fix: first_seen A, A>C@61, C>B@61 (one B arrival: the B read of updated 60 was moved into
    // second 61, and the search matched it to the end of that second, after C).
    expect(arrivals(rows), brief(rows).join(', ')).to.deep.equal({ 6: 2, 7: 1 });
  });
});
