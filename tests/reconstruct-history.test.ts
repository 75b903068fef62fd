import { expect } from 'chai';
import type { Evidence, HistoryRow, MoveEvidence, SnapshotEvidence, UnnamedMoveEvidence } from '../src/shared/stages/evidence.js';
import { reconstructHistory } from '../src/shared/stages/reconstruct-history.js';

// The pure rebuild, on hand-made reports: what each kind of report proves, and what it cannot.
const T0 = Date.parse('2026-11-02T09:00:00Z');
const at = (s: number): Date => new Date(T0 + s * 1000);
let n = 0;

const ids: Record<string, number> = { Lead: 1, Q: 2, OM: 3, ONA: 4, A: 5, B: 6, C: 7, D: 8 };
const stage = (name: string) => ({ id: ids[name] ?? null, name });
function move(name: string, s: number, receivedMs = n++): MoveEvidence {
  return { kind: 'move', at: at(s), stage: stage(name), source: 'webhook_peopleStageUpdated', eventId: `m${n++}`, receivedAt: new Date(T0 + receivedMs) };
}
function read(name: string, updated: number, extra: Partial<SnapshotEvidence> = {}): SnapshotEvidence {
  return { kind: 'snapshot', at: at(updated), stage: stage(name), readAt: at(updated + 2), personCreatedAt: null, source: 'polling', eventId: null, receivedAt: new Date(T0 + n++), ...extra };
}
function unnamed(s: number): UnnamedMoveEvidence {
  return { kind: 'unnamed_move', at: at(s), source: 'webhook_peopleStageUpdated', eventId: `u${n++}`, receivedAt: new Date(T0 + n++) };
}
const rebuild = (evidence: Evidence[], watchingSince: Date | null = at(-1_000_000)) => reconstructHistory(evidence, { watchingSince });
const brief = (rows: HistoryRow[]) => rows.map((r) => `${r.kind === 'move' ? '' : r.kind + ' '}${r.from?.name ?? '?'}>${r.to.name}@${(r.at.getTime() - T0) / 1000}`);

function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('rebuilding a history from reports', () => {
  it('orders two moves made in one second so the read after them finds the last one', () => {
    // Q at 0; OM then ONA at second 10; ONA arrived first; FUB showed ONA afterwards.
    const evidence = [move('Q', 0), move('ONA', 10, 1), move('OM', 10, 2), read('ONA', 10)];
    expect(brief(rebuild(evidence))).to.deep.equal(['?>Q@0', 'Q>OM@10', 'OM>ONA@10']);
  });

  it('gives the same history for every order the reports arrive in', () => {
    const evidence = [move('Q', 0), move('OM', 10), move('ONA', 10), move('Q', 20), read('Q', 25), unnamed(30), read('OM', 30)];
    const expected = brief(rebuild(evidence));
    for (let seed = 1; seed <= 50; seed++) expect(brief(rebuild(shuffle(evidence, seed)))).to.deep.equal(expected);
  });

  it('keeps every move of A→B→A→B inside one second, in the only order FUB could have made them', () => {
    const evidence = [move('A', 0), move('B', 5), move('A', 5), move('B', 5)];
    expect(brief(rebuild(evidence))).to.deep.equal(['?>A@0', 'A>B@5', 'B>A@5', 'A>B@5']);
  });

  it('infers a move a read proves but no webhook reported, dated by FUB\'s updated', () => {
    const evidence = [move('A', 0), move('B', 10), move('C', 20), read('B', 30)];
    expect(brief(rebuild(evidence))).to.deep.equal(['?>A@0', 'A>B@10', 'B>C@20', 'C>B@30']);
  });

  it('dates that move exactly when a peopleStageUpdated without the stage said when it happened', () => {
    const evidence = [move('A', 0), unnamed(12), read('C', 40)];
    expect(brief(rebuild(evidence))).to.deep.equal(['?>A@0', 'A>C@12']);
    // Two unnamed moves before the read: one stage in between was never seen, so "from" is unknown.
    expect(brief(rebuild([move('A', 0), unnamed(12), unnamed(15), read('C', 40)]))).to.deep.equal(['?>A@0', '?>C@15']);
  });

  it('adds nothing for a read that the moves already explain, even a stale one', () => {
    expect(brief(rebuild([move('OM', 0), move('ONA', 240), read('OM', 120)]))).to.deep.equal(['?>OM@0', 'OM>ONA@240']);
  });

  it('records a first read as a first sighting, not an arrival, unless FUB created the person while we watched', () => {
    const before = read('UC', 100, { personCreatedAt: at(-60 * 86400) });
    expect(brief(rebuild([before], at(0)))).to.deep.equal(['first_seen ?>UC@100']);
    const created = read('Lead', 100, { personCreatedAt: at(50) });
    expect(brief(rebuild([created], at(0)))).to.deep.equal(['created ?>Lead@50']);
    // Created while watching but moved since (an unnamed move): that move is the arrival, the
    // stage they were created in is unknown.
    expect(brief(rebuild([created, unnamed(80)], at(0)))).to.deep.equal(['?>Lead@80']);
  });

  it('reads a first stage seen in the same second as later moves as where the person started, not a move back', () => {
    // Created in Lead and read there, then Q and OM, all in second 10 (FUB's clock stood still).
    const evidence = [read('Lead', 10, { personCreatedAt: at(10) }), move('Q', 10), move('OM', 10), read('OM', 10, { personCreatedAt: at(10) })];
    expect(brief(rebuild(evidence, at(0)))).to.deep.equal(['created ?>Lead@10', 'Lead>Q@10', 'Q>OM@10']);
    // A first read no move of its second leaves room for: the moves alone, no first sighting added.
    expect(brief(rebuild([move('Q', 10), move('OM', 10), read('OM', 10)], at(0)))).to.deep.equal(['?>Q@10', 'Q>OM@10']);
  });

  it('does not see a first stage twice when moves without a stage and reads share one second', () => {
    // Created in Lead, moved twice without data.stage (to OM, then Q), all in second 10; read in Lead
    // by a poll before the moves, in Q by the fetches after.
    const lead = read('Lead', 10, { personCreatedAt: at(10), readAt: at(10.2) });
    const q = read('Q', 10, { personCreatedAt: at(10), readAt: at(10.8) });
    for (const evidence of [[lead, unnamed(10), unnamed(10), q], [q, unnamed(10), unnamed(10), lead]]) {
      // Stored in either order (received first, searched first).
      const received = evidence.filter((e) => e.kind === 'snapshot').map((e, i) => ({ ...e, receivedAt: new Date(T0 + i) }));
      const arrivals = rebuild([...received, ...evidence.filter((e) => e.kind !== 'snapshot')], at(0)).map((r) => r.to.name);
      expect(arrivals.filter((name) => name === 'Q'), arrivals.join(',')).to.have.length(1);
      expect(arrivals.at(-1)).to.equal('Q');
    }
  });

  it('does not hold a deleted person to their latest read: it was only a read, FUB shows them nowhere now', () => {
    // Created in Lead and read there, then moved to Q in the same second, then deleted: no later read.
    const evidence = [read('Lead', 10, { personCreatedAt: at(10) }), move('Q', 10)];
    expect(brief(reconstructHistory(evidence, { watchingSince: at(0), deleted: true }))).to.deep.equal(['created ?>Lead@10', 'Lead>Q@10']);
    // Alive, that read may be FUB's stage now (a move back whose webhook was lost): the history ends there.
    expect(brief(rebuild(evidence, at(0)))).to.deep.equal(['?>Q@10', 'Q>Lead@10']);
  });

  it('keeps a move to the stage the person is in as a move from an unknown stage (a lost move came between)', () => {
    expect(brief(rebuild([move('A', 0), move('B', 10), move('B', 20)]))).to.deep.equal(['?>A@0', 'A>B@10', '?>B@20']);
  });

  it('treats a renamed stage (same id) as the same stage', () => {
    const renamed = { ...read('X', 50), stage: { id: 3, name: 'Offer Out' } };
    expect(brief(rebuild([move('Q', 0), move('OM', 10), renamed]))).to.deep.equal(['?>Q@0', 'Q>OM@10']);
  });

  it('numbers rows inside one second in history order', () => {
    const rows = rebuild([move('A', 0), move('B', 5), move('C', 5), read('C', 5)]);
    expect(rows.map((r) => [r.to.name, r.seq])).to.deep.equal([['A', 0], ['B', 0], ['C', 1]]);
  });

  it('gives a stage no list knew (renamed before its webhook arrived) the id the next read shows: one arrival', () => {
    const hotLead = { id: 9, name: 'Hot Lead' };
    const evidence = [read('Lead', 0, { personCreatedAt: at(-86_400) }), move('Hot', 60), read('Hot Lead', 60, { stage: hotLead, readAt: at(600) })];
    const rows = rebuild(evidence, at(0));
    expect(brief(rows)).to.deep.equal(['first_seen ?>Lead@0', 'Lead>Hot@60']);
    expect(rows[1]!.to).to.deep.equal({ id: 9, name: 'Hot' });
    // Not when the read shows the stage the person was in before: that is a move back we did not see.
    const back = [read('Lead', 0, { personCreatedAt: at(-86_400) }), move('Hot', 60), read('Lead', 60, { readAt: at(600) })];
    expect(brief(rebuild(back, at(0)))).to.deep.equal(['first_seen ?>Lead@0', 'Lead>Hot@60', 'Hot>Lead@60']);
  });

  it('reads a move stamped one second after the updated FUB gave it as that move, not a second one', () => {
    // Saved at x.998 (updated x = 60), event stamped x+1; the read came after both.
    const evidence = [read('A', 0), move('B', 61), read('B', 60, { readAt: at(61.5) })];
    expect(brief(rebuild(evidence))).to.deep.equal(['first_seen ?>A@0', 'A>B@61']);
    // A read made before the stamped second began shows the state of second x: left alone.
    expect(brief(rebuild([read('A', 0), move('B', 61), read('C', 60, { readAt: at(60.5) })]))).to.deep.equal(['first_seen ?>A@0', 'A>C@60', 'C>B@61']);
  });

  it('orders seven moves to seven stages in one second by the reads that saw each, past the search budget', () => {
    const names = ['S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7'];
    const reads = names.map((name, i) => read(name, 10, { readAt: new Date(T0 + 10_000 + 100 * i + 50) }));
    // Named webhooks arrive last and in reverse.
    const moves = [...names].reverse().map((name, i) => move(name, 10, 10_000 + i));
    const rows = rebuild([read('Lead', 0), ...reads, ...moves]);
    expect(brief(rows)).to.deep.equal(['first_seen ?>Lead@0', ...names.map((name, i) => `${i === 0 ? 'Lead' : names[i - 1]}>${name}@10`)]);
  });

  it('keeps every move once and ends in the last read when many seconds each hold ten moves to ten stages', () => {
    const evidence: Evidence[] = [read('Lead', 0)];
    for (let second = 1; second <= 8; second++) {
      for (let k = 0; k < 10; k++) evidence.push(move(`S${second}-${k}`, second * 10));
      evidence.push(read(`S${second}-9`, second * 10, { readAt: at(second * 10 + 0.9) }));
    }
    const rows = rebuild(evidence);
    expect(rows).to.have.length(81);
    expect(new Set(rows.map((r) => r.to.name)).size).to.equal(81);
    expect(rows.at(-1)!.to.name).to.equal('S8-9');
  });

  it('orders a large burst in one second without searching forever', () => {
    const evidence = [move('A', 0), ...Array.from({ length: 40 }, (_, i) => move(i % 2 === 0 ? 'B' : 'C', 5)), read('C', 5)];
    const rows = rebuild(evidence);
    expect(rows).to.have.length(41);
    expect(rows[rows.length - 1]!.to.name).to.equal('C');
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.to.name).to.not.equal(rows[i - 1]!.to.name);
  });
});
