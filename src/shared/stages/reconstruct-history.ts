import {
  stageKey,
  type Evidence,
  type HistoryRow,
  type MoveEvidence,
  type SnapshotEvidence,
  type StageRef,
  type UnnamedMoveEvidence,
} from './evidence.js';

/**
 * Rebuilds one person's stage history from every report about them: a pure function of the set of
 * reports, so the order they arrive in, redeliveries and retries never change the result.
 *
 * - Each webhook naming a stage is one move, dated to its second on FUB's clock.
 * - FUB prints whole seconds, so moves inside one second come without an order: they are ordered so
 *   that no move goes to the stage the person is already in, and so that every read of the person
 *   (a fetch or a poll: "in stage S, last updated in second U") finds them in S after some of the
 *   moves of second U (preferring after all of them: the read came later).
 * - A read no known move explains shows a move we did not see (its webhook was lost): inferred, dated
 *   by FUB's `updated` (or by a `peopleStageUpdated` without a stage, which dates the move exactly).
 * - The first stage we learn from a read is a first sighting, not an arrival, unless FUB created the
 *   person while we were watching (`watchingSince`): then they arrived in it at `created`.
 */
export function reconstructHistory(evidence: readonly Evidence[], context: { watchingSince: Date | null }): HistoryRow[] {
  const moves = evidence.filter((e): e is MoveEvidence => e.kind === 'move').sort(compareReports);
  const snapshots = evidence.filter((e): e is SnapshotEvidence => e.kind === 'snapshot').sort(compareReports);
  const marks = evidence.filter((e): e is UnnamedMoveEvidence => e.kind === 'unnamed_move').sort(compareReports);
  const seconds = [...new Set([...moves, ...snapshots].map((e) => e.at.getTime()))].sort((a, b) => a - b);

  // Best way to reach each possible current stage after every second so far (dynamic programming
  // over seconds: a second's order only depends on the stage the person was in before it).
  let paths = new Map<string | null, Path>([[null, { cost: ZERO, steps: [], end: null }]]);
  for (const second of seconds) {
    const group: Group = {
      moves: moves.filter((m) => m.at.getTime() === second),
      snapshots: snapshots.filter((s) => s.at.getTime() === second),
    };
    const next = new Map<string | null, Path>();
    for (const path of paths.values()) {
      for (const option of arrangeSecond(group, path.end)) {
        const candidate: Path = { cost: addCost(path.cost, option.cost), steps: [...path.steps, ...option.steps], end: option.end };
        const held = next.get(candidate.end);
        if (held === undefined || compareCost(candidate.cost, held.cost) < 0) next.set(candidate.end, candidate);
      }
    }
    paths = next;
  }
  let best: Path | undefined;
  for (const path of paths.values()) if (best === undefined || compareCost(path.cost, best.cost) < 0) best = path;
  return toRows(best?.steps ?? [], marks, context.watchingSince);
}

/** Lexicographic: moves we had to invent, moves to the stage already held (a lost move between), reads placed before the end of their second. */
type Cost = readonly [inferred: number, gaps: number, earlyReads: number];
const ZERO: Cost = [0, 0, 0];

interface Step {
  type: 'move' | 'inferred';
  key: string;
  evidence: MoveEvidence | SnapshotEvidence;
}

interface Path {
  cost: Cost;
  steps: Step[];
  /** The stage key the person is in at the end; null before anything is known. */
  end: string | null;
}

interface Group {
  moves: MoveEvidence[];
  snapshots: SnapshotEvidence[];
}

// Beyond this many search steps for one second (only absurd inputs: dozens of moves of one person in
// one second), the second is ordered greedily instead.
const SEARCH_LIMIT = 20_000;

/** The cheapest order of one second's moves (and inferred ones) for each stage it can end in. */
function arrangeSecond(group: Group, start: string | null): Path[] {
  const keys: string[] = [];
  const byKey = new Map<string, MoveEvidence[]>();
  for (const move of group.moves) {
    const key = stageKey(move.stage);
    if (!byKey.has(key)) {
      byKey.set(key, []);
      keys.push(key);
    }
    byKey.get(key)!.push(move);
  }
  const reads = new Map<string, SnapshotEvidence>();
  for (const snapshot of group.snapshots) if (!reads.has(stageKey(snapshot.stage))) reads.set(stageKey(snapshot.stage), snapshot);

  const best = new Map<string | null, Path>();
  const remaining = new Map(keys.map((k) => [k, byKey.get(k)!.length]));
  const used = new Map(keys.map((k) => [k, 0]));
  let left = group.moves.length;
  let visited = 0;
  const steps: Step[] = [];

  const offer = (end: string | null, cost: Cost, matched: ReadonlySet<string>): void => {
    if ([...reads.keys()].some((k) => !matched.has(k))) return;
    const early = [...reads.keys()].filter((k) => k !== end).length;
    const total: Cost = [cost[0], cost[1], early];
    const held = best.get(end);
    if (held === undefined || compareCost(total, held.cost) < 0) best.set(end, { cost: total, steps: [...steps], end });
  };

  const search = (current: string | null, matched: Set<string>, cost: Cost): void => {
    if (++visited > SEARCH_LIMIT) return;
    if (left === 0) offer(current, cost, matched);
    for (const key of keys) {
      if (remaining.get(key) === 0) continue;
      const evidence = byKey.get(key)![used.get(key)!]!;
      remaining.set(key, remaining.get(key)! - 1);
      used.set(key, used.get(key)! + 1);
      left -= 1;
      steps.push({ type: 'move', key, evidence });
      search(key, reads.has(key) && !matched.has(key) ? new Set([...matched, key]) : matched, [cost[0], cost[1] + (key === current ? 1 : 0), 0]);
      steps.pop();
      left += 1;
      used.set(key, used.get(key)! - 1);
      remaining.set(key, remaining.get(key)! + 1);
    }
    for (const [key, snapshot] of reads) {
      if (matched.has(key) || key === current) continue;
      steps.push({ type: 'inferred', key, evidence: snapshot });
      search(key, new Set([...matched, key]), [cost[0] + 1, cost[1], 0]);
      steps.pop();
    }
  };
  const initiallyMatched = new Set(start !== null && reads.has(start) ? [start] : []);
  search(start, initiallyMatched, ZERO);
  if (visited > SEARCH_LIMIT) return [arrangeGreedily(group.moves, reads, start)];
  return [...best.values()];
}

/** Arrival order, avoiding a move to the stage already held where another move can go first; unexplained reads at the end. */
function arrangeGreedily(moves: MoveEvidence[], reads: Map<string, SnapshotEvidence>, start: string | null): Path {
  const pending = [...moves];
  const steps: Step[] = [];
  const seen = new Set<string | null>([start]);
  let current = start;
  let gaps = 0;
  while (pending.length > 0) {
    let index = pending.findIndex((m) => stageKey(m.stage) !== current);
    if (index < 0) {
      index = 0;
      gaps += 1;
    }
    const [move] = pending.splice(index, 1);
    current = stageKey(move!.stage);
    seen.add(current);
    steps.push({ type: 'move', key: current, evidence: move! });
  }
  let inferred = 0;
  for (const [key, snapshot] of reads) {
    if (seen.has(key) || key === current) continue;
    steps.push({ type: 'inferred', key, evidence: snapshot });
    current = key;
    inferred += 1;
  }
  const early = [...reads.keys()].filter((k) => k !== current).length;
  return { cost: [inferred, gaps, early], steps, end: current };
}

/** Turns the chosen steps into rows: kinds, dates of inferred moves, `stage_from`, order inside a second. */
function toRows(steps: Step[], marks: UnnamedMoveEvidence[], watchingSince: Date | null): HistoryRow[] {
  const rows: HistoryRow[] = [];
  let current: StageRef | null = null;
  let currentKey: string | null = null;
  let lastAt = Number.NEGATIVE_INFINITY;
  let mark = 0;
  for (const step of steps) {
    const evidence = step.evidence;
    let row: Omit<HistoryRow, 'seq'>;
    if (step.type === 'move') {
      // A move to the stage already held means a move out of it was lost: where from is unknown.
      const from = step.key === currentKey ? null : current;
      row = { kind: 'move', from, to: evidence.stage, at: evidence.at, source: evidence.source, eventId: evidence.eventId, receivedAt: evidence.receivedAt };
    } else {
      const snapshot = evidence as SnapshotEvidence;
      const second = snapshot.at.getTime();
      // Moves FUB reported without naming the stage, since the previous row: the last of them is
      // when the person entered the stage this read found.
      while (mark < marks.length && marks[mark]!.at.getTime() < lastAt) mark += 1;
      const dated: UnnamedMoveEvidence[] = [];
      while (mark < marks.length && marks[mark]!.at.getTime() <= second) dated.push(marks[mark++]!);
      const base = { to: snapshot.stage, source: snapshot.source, eventId: snapshot.eventId, receivedAt: snapshot.receivedAt };
      const created = snapshot.personCreatedAt;
      if (dated.length > 0) {
        row = { ...base, kind: 'move', from: dated.length > 1 ? null : current, at: dated[dated.length - 1]!.at };
      } else if (current !== null) {
        row = { ...base, kind: 'move', from: current, at: snapshot.at };
      } else if (created !== null && watchingSince !== null && created >= watchingSince && created.getTime() <= second) {
        row = { ...base, kind: 'created', from: null, at: created };
      } else {
        row = { ...base, kind: 'first_seen', from: null, at: snapshot.at };
      }
    }
    const at = row.at.getTime();
    const previous = rows[rows.length - 1];
    rows.push({ ...row, seq: previous !== undefined && previous.at.getTime() === at ? previous.seq + 1 : 0 });
    lastAt = at;
    current = row.to;
    currentKey = step.key;
  }
  return rows;
}

function compareReports(a: Evidence, b: Evidence): number {
  return (
    a.at.getTime() - b.at.getTime() ||
    a.receivedAt.getTime() - b.receivedAt.getTime() ||
    String(a.eventId).localeCompare(String(b.eventId)) ||
    ('stage' in a && 'stage' in b ? stageKey(a.stage).localeCompare(stageKey(b.stage)) : 0)
  );
}

function addCost(a: Cost, b: Cost): Cost {
  return [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
}

function compareCost(a: Cost, b: Cost): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}
