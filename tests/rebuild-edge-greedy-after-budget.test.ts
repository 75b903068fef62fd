// Found by an adversarial review (each failed before its fix): SEARCH_BUDGET is shared by every second of a rebuild, and a person's
// history is rebuilt from all their reports every time. One busy second (6 moves to 6 stages, each
// read; or two of 5, or ten of 4) spends it, and from then on every later second of that person,
// however simple, is ordered by arrangeGreedily, forever. The greedy order puts unread moves first and
// forces the second's last read to be the end with an inferred move, and groups moves to one stage.
import { expect } from 'chai';
import type { Evidence } from '../src/shared/stages/evidence.js';
import { arrivals, at, brief, burst, move, read, rebuild } from './support/rebuild-edge-support.js';

describe('rebuild edge: seconds ordered greedily once an earlier burst spent the search budget', () => {
  // Second 10: the busy second (6 distinct stages, each read live). It is ordered right.
  const busy = (): Evidence[] => [read('Lead', 0), ...burst(10, 'S', 6)];

  it('invents no move for A→B→A in one later second with a read after B', () => {
    // FUB, much later: → A at 1000; at 1100: A→B (fetched: B, 1100.3), B→A (its fetch lost); a note at
    // 1120, the poll finds A. Without the burst this rebuilds exactly.
    const later = [move('A', 1000), move('B', 1100), read('B', 1100, { readAt: at(1100.3) }), move('A', 1100), read('A', 1120, { readAt: at(1200) })];
    const alone = rebuild([read('Lead', 0), ...later]);
    expect(brief(alone).slice(1)).to.deep.equal(['Lead>A@1000', 'A>B@1100', 'B>A@1100']);
    const rows = rebuild([...busy(), ...later]);
    // Before the fix: ... S5>A@1000, A>B@1100, B>A@1100, A>B@1100 (invented), B>A@1120 (invented).
    const counts = arrivals(rows);
    expect([counts[5], counts[6]], brief(rows).slice(-4).join(', ')).to.deep.equal([2, 1]);
  });

  it('orders B, A, B from C without a move to the stage already held', () => {
    // Second 30: C→B→A→B, three named webhooks; fetched after A (30.4) and after the last B (30.9).
    const later = [move('C', 20), move('B', 30), move('A', 30), move('B', 30), read('A', 30, { readAt: at(30.4) }), read('B', 30, { readAt: at(30.9) })];
    const rows = rebuild([...busy(), ...later]);
    // Before the fix: C>A@30, A>B@30, ?>B@30 — the only valid order, C→B→A→B, is not found.
    expect(brief(rows).slice(-3)).to.deep.equal(['C>B@30', 'B>A@30', 'A>B@30']);
  });

  it('records a person created and read in Lead, then moved through 7 stages in the same second, without an invented return', () => {
    const names = ['S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7'];
    const created = at(10);
    const first = read('Lead', 10, { readAt: at(10.05), personCreatedAt: created });
    const stages = names.map((name, i) => ({ id: 100 + i, name }));
    const reads = stages.map((s, i) => ({ ...read('x', 10, { readAt: at(10.15 + 0.1 * i), personCreatedAt: created }), stage: s }));
    const moves = stages.map((s) => ({ ...move('x', 10), stage: s }));
    const rows = rebuild([first, ...reads, ...moves], at(0));
    // Before the fix: ?>S1 ... S6>S7, S7>Lead, Lead>S7 (two invented moves; Lead's creation not 'created').
    expect(brief(rows)).to.deep.equal(['created ?>Lead@10', 'Lead>S1@10', ...names.slice(1).map((n, i) => `${names[i]}>${n}@10`)]);
  });
});
