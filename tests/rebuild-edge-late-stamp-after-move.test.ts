// Found by an adversarial review (each failed before its fix): the "two clocks inside FUB" rule (readsAfterLateStamps) only fires when
// second x holds no other report. A late-stamped move that follows another move in the same second
// (the usual case: two quick moves, the second saved at x.99x and stamped x+1) invents an arrival.
import { expect } from 'chai';
import { arrivals, at, brief, move, read, rebuild } from './support/rebuild-edge-support.js';

describe('rebuild edge: a late-stamped move after another move of the same second', () => {
  it('records A→B→C once each when C (saved at 60.99x) is stamped 61 and every read says updated 60', () => {
    // FUB: in A (poll). At 60.4 moved to B (webhook stamped 60). At 60.995 moved to C: updated = 60,
    // but eventCreated = 61. A poll at 90 finds C, updated 60 (nothing changed after second 60, so the
    // move stamped 61 is the move saved in second 60: there was no other).
    const evidence = [read('A', 0), move('B', 60), move('C', 61), read('C', 60, { readAt: at(90) })];
    const rows = rebuild(evidence);
    // Before the fix: first_seen A, A>C@60 (invented), C>B@60, B>C@61: two C arrivals.
    expect(arrivals(rows), brief(rows).join(', ')).to.deep.equal({ 6: 1, 7: 1 });
    expect(brief(rows)).to.deep.equal(['first_seen ?>A@0', 'A>B@60', 'B>C@61']);
  });

  it('keeps the chain and the reads of an earlier second when the late-stamped move follows a move in its second', () => {
    // FUB: in A. Second 1: A→B (read B at 1.3), B→A (read A at 1.4). Second 2: A→C (read C at 2.9), then
    // C→B at 2.995, stamped 3. Fetch at 3.1 and poll at 63 both show B, updated 2.
    const evidence = [
      read('A', 0, { readAt: at(0.5) }),
      move('B', 1), read('B', 1, { readAt: at(1.3) }), move('A', 1), read('A', 1, { readAt: at(1.4) }),
      move('C', 2), read('C', 2, { readAt: at(2.9) }),
      move('B', 3), read('B', 2, { readAt: at(3.1) }), read('B', 2, { readAt: at(63) }),
    ];
    const rows = rebuild(evidence);
    // Before the fix: first_seen A, ?>A@1 (a move to the stage held), A>B@1, B>C@2, C>B@3: second 1 is
    // ordered against both of its reads so that a read of second 2 can be "explained" by the start.
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.from, `row ${i} of ${brief(rows).join(', ')}`).to.not.equal(null);
    expect(brief(rows)).to.deep.equal(['first_seen ?>A@0', 'A>B@1', 'B>A@1', 'A>C@2', 'C>B@3']);
  });
});
