import {
  compareReads,
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
 * - A read no known move explains shows a move we did not see (its webhook was lost, or it named no
 *   stage): inferred, dated by FUB's `updated` (or by a `peopleStageUpdated` without a stage, which
 *   dates the move exactly). The latest read of all is FUB's current stage: the history ends there
 *   unless moves came after it.
 * - The first stage we learn from a read is a first sighting, not an arrival, unless FUB created the
 *   person while we were watching (`watchingSince`): then they arrived in it at `created`.
 * - Unless FUB deleted the person, the latest read of all is where they are now.
 */
export function reconstructHistory(evidence: readonly Evidence[], context: { watchingSince: Date | null; deleted?: boolean }): HistoryRow[] {
  const marks = evidence.filter((e): e is UnnamedMoveEvidence => e.kind === 'unnamed_move').sort(compareReports);
  const snapshots0 = evidence.filter((e): e is SnapshotEvidence => e.kind === 'snapshot').sort(compareReports);
  const moves = nameUnknownStages(evidence.filter((e): e is MoveEvidence => e.kind === 'move').sort(compareReports), snapshots0, marks);
  const late = readsAfterLateStamps(snapshots0, moves, marks);
  const snapshots = snapshots0.filter((s) => !late.has(s));
  const latest = snapshots.reduce<SnapshotEvidence | undefined>((l, s) => (l === undefined || compareReads(s, l) > 0 ? s : l), undefined);
  // The reports of each second, in one pass (a long-lived lead has thousands).
  const groups = new Map<number, { moves: MoveEvidence[]; snapshots: SnapshotEvidence[]; leading: SnapshotEvidence[] }>();
  const groupOf = (at: number) => groups.get(at) ?? groups.set(at, { moves: [], snapshots: [], leading: [] }).get(at)!;
  for (const move of moves) groupOf(move.at.getTime()).moves.push(move);
  for (const snapshot of snapshots) groupOf(snapshot.at.getTime()).snapshots.push(snapshot);
  for (const shifted of late.values()) groupOf(shifted.at.getTime()).leading.push(shifted);
  const seconds = [...groups.keys()].sort((a, b) => a - b);

  // Best way to reach each possible current stage after every second so far (dynamic programming
  // over seconds: a second's order only depends on the stage the person was in before it).
  let paths = new Map<string | null, Path>([[null, { cost: ZERO, chain: null, end: null }]]);
  const budget = { states: SEARCH_BUDGET };
  let mark = 0;
  for (const second of seconds) {
    const { moves: groupMoves, snapshots: groupReads, leading } = groups.get(second)!;
    // Unnamed moves since the previous second: that many moves a read reveals are not invented.
    let unnamedMoves = 0;
    for (; mark < marks.length && marks[mark]!.at.getTime() <= second; mark++) unnamedMoves += 1;
    const group: Group = {
      moves: groupMoves,
      snapshots: groupReads,
      leading,
      unnamedMoves,
      // FUB shows a deleted person nowhere: their latest read is only a read, not where they are now.
      holdsLatestRead: !context.deleted && second === seconds[seconds.length - 1] && latest !== undefined && groupReads.includes(latest),
    };
    const next = new Map<string | null, Path>();
    const arrange = arrangeSecond(group, budget);
    for (const path of paths.values()) {
      for (const option of arrange(path.end)) {
        const candidate: Path = { cost: addCost(path.cost, option.cost), chain: { steps: option.steps, before: path.chain }, end: option.end };
        const held = next.get(candidate.end);
        if (held === undefined || compareCost(candidate.cost, held.cost) < 0) next.set(candidate.end, candidate);
      }
    }
    paths = next;
  }
  let best: Path | undefined;
  for (const path of paths.values()) if (best === undefined || compareCost(path.cost, best.cost) < 0) best = path;
  const steps: Step[][] = [];
  for (let link = best?.chain ?? null; link !== null; link = link.before) steps.push(link.steps);
  return toRows(steps.reverse().flat(), marks, context.watchingSince);
}

/**
 * Names no stage list knew (a stage created and renamed before we saw its webhook): the read that
 * followed such a move, with no other move between, shows the stage's id. Without this the move
 * (by name) and the read (by id) would look like two stages and count two arrivals.
 */
function nameUnknownStages(moves: MoveEvidence[], snapshots: SnapshotEvidence[], marks: UnnamedMoveEvidence[]): MoveEvidence[] {
  const unknown = moves.filter((m) => m.stage.id === null);
  if (unknown.length === 0) return moves;
  const ids = new Map<string, number>();
  for (const move of unknown) {
    const second = move.at.getTime();
    // The only stage moved into in its second, so the person ended that second in it.
    if (moves.some((m) => m.at.getTime() === second && stageKey(m.stage) !== stageKey(move.stage))) continue;
    // The read FUB answered last before the next move (one of the move's own second may have come
    // before the move: the latest is the best word on where the move led).
    const after = [...moves, ...marks].map((m) => m.at.getTime()).filter((t) => t > second);
    const until = after.length > 0 ? Math.min(...after) : Number.POSITIVE_INFINITY;
    const next = snapshots.filter((r) => r.at.getTime() >= second && r.at.getTime() < until).sort(compareReads).at(-1);
    if (next === undefined || next.stage.id === null) continue;
    // Not if the read shows where the person already was before the move (a return we did not see).
    const before = [...moves.filter((m) => m.at.getTime() < second), ...snapshots.filter((r) => r.at.getTime() < second)]
      .sort((a, b) => a.at.getTime() - b.at.getTime())
      .at(-1);
    if (before !== undefined && before.stage.id === next.stage.id) continue;
    ids.set(move.stage.name, next.stage.id);
  }
  if (ids.size === 0) return moves;
  return moves.map((m) => (m.stage.id === null && ids.has(m.stage.name) ? { ...m, stage: { id: ids.get(m.stage.name)!, name: m.stage.name } } : m));
}

/**
 * FUB stamps a move's event and the person's `updated` separately, each to its whole second: a move
 * saved at x.998 can carry `eventCreated` x+1. A read of stage S at `updated` x, made after second
 * x+1 began, that no move into S in second x explains, while a move into S (named, or an unnamed
 * one) is stamped x+1, shows that move. Such a read leads second x+1: the person is in S after at
 * most its first step. Returns each such read with a copy of it dated to the second it leads.
 */
function readsAfterLateStamps(snapshots: SnapshotEvidence[], moves: MoveEvidence[], marks: UnnamedMoveEvidence[]): Map<SnapshotEvidence, SnapshotEvidence> {
  const leading = new Map<SnapshotEvidence, SnapshotEvidence>();
  const stagesLed = new Map<number, Set<string>>();
  for (const read of snapshots) {
    const second = read.at.getTime();
    const stamped = second + 1000;
    if (read.readAt === null || read.readAt.getTime() < stamped) continue;
    const key = stageKey(read.stage);
    if (moves.some((m) => m.at.getTime() === second && stageKey(m.stage) === key) || marks.some((m) => m.at.getTime() === second)) continue;
    const namedThen = moves.some((m) => m.at.getTime() === stamped && stageKey(m.stage) === key);
    if (!namedThen && !marks.some((m) => m.at.getTime() === stamped)) continue;
    leading.set(read, { ...read, at: new Date(stamped) });
    stagesLed.set(stamped, (stagesLed.get(stamped) ?? new Set()).add(key));
  }
  // Reads of two different stages cannot both lead one second: leave them where FUB put them.
  for (const [read, shifted] of leading) if (stagesLed.get(shifted.at.getTime())!.size > 1) leading.delete(read);
  return leading;
}

/**
 * Lexicographic:
 * 1. the latest read of all not where the history ends (nothing came after it: FUB's current stage);
 * 2. moves invented to explain a read (beyond the unnamed moves FUB reported in that time);
 * 3. moves to the stage already held (a move out of it was lost);
 * 4. a second's last read placed before the end of the second (moves after a read inside its
 *    second are possible, but the last read is the best word on which move came last);
 * 5. other reads placed before the end of their second;
 * 6. first sightings (the stage a person was in before anything we know of): not invented moves,
 *    but none is added where the moves alone explain the reads.
 */
type Cost = readonly [finalReadEarly: number, inferred: number, gaps: number, lastReadEarly: number, earlyReads: number, firstSightings: number];
const ZERO: Cost = [0, 0, 0, 0, 0, 0];
const FIRST_SIGHTING: Cost = [0, 0, 0, 0, 0, 1];
// Marks, among a second's inferred stages, that the first of them was a first sighting.
const FIRST_SEEN = '\u0000first';

interface Step {
  type: 'move' | 'inferred';
  key: string;
  evidence: MoveEvidence | SnapshotEvidence;
}

/** A path's steps, second by second, shared between the paths that grew from it. */
interface Chain {
  steps: Step[];
  before: Chain | null;
}

interface Path {
  cost: Cost;
  chain: Chain | null;
  /** The stage key the person is in at the end; null before anything is known. */
  end: string | null;
}

/** One second's choice: its steps and where it ends. */
interface Option {
  cost: Cost;
  steps: Step[];
  end: string | null;
}

interface Group {
  moves: MoveEvidence[];
  snapshots: SnapshotEvidence[];
  /** Reads of the second before, of a move stamped late: the person is in their stage after the first step. */
  leading: SnapshotEvidence[];
  /** Unnamed moves reported since the previous second. */
  unnamedMoves: number;
  /** This is the last second, and it holds the person's latest read. */
  holdsLatestRead: boolean;
}

// Search states: every second may spend SECOND_STATES (ordinary seconds need a few dozen), and
// beyond that draw on SEARCH_BUDGET, shared by the whole rebuild (a few hundred ms at most); a
// second that needs more is ordered greedily. Only bursts of many moves to many stages inside one
// second need that many (5 moves to 5 stages in one second, each read, take about 5,000).
const SECOND_STATES = 1_000;
const SEARCH_BUDGET = 5_000;

/**
 * The cheapest order of one second's moves (and inferred ones) for each stage it can end in, from
 * each stage the person may start the second in. The search states are shared by all starts.
 */
function arrangeSecond(group: Group, budget: { states: number }): (start: string | null) => Option[] {
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
  const readKeys = [...reads.keys()];
  const lastRead = group.snapshots.reduce<SnapshotEvidence | undefined>((l, s) => (l === undefined || compareReads(s, l) > 0 ? s : l), undefined);
  const lastKey = lastRead ? stageKey(lastRead.stage) : null;
  const lastEarly = (end: string | null): number => (lastKey !== null && lastKey !== end ? 1 : 0);
  const early = (end: string | null): number => readKeys.filter((k) => k !== end).length;
  const endCost = (end: string | null, inferred: number): Cost => [
    group.holdsLatestRead ? lastEarly(end) : 0,
    Math.max(0, inferred - group.unnamedMoves),
    0,
    lastEarly(end),
    early(end),
    0,
  ];

  // The best way to finish the second from a state, for each stage it can end in. States repeat
  // (the same moves left, in the same stage), so each is solved once.
  type Finish = Map<string | null, { cost: Cost; steps: Step[] }>;
  const solved = new Map<string, Finish>();
  const remaining = keys.map((k) => byKey.get(k)!.length);
  let tooMany = false;
  let local = SECOND_STATES;
  const lead = group.leading[0];
  const leadKey = lead ? stageKey(lead.stage) : null;
  // `leadOpen`: the second's first step is still to come and must take the person to the leading read's stage.
  const finish = (current: string | null, matched: ReadonlySet<string>, inferred: ReadonlySet<string>, leadOpen = false): Finish => {
    const id = `${current}|${remaining.join(',')}|${[...matched].sort().join(',')}|${[...inferred].sort().join(',')}|${leadOpen}`;
    const known = solved.get(id);
    if (known) return known;
    const result: Finish = new Map();
    if (tooMany || (local <= 0 && budget.states <= 0)) {
      tooMany = true;
      return result;
    }
    if (local > 0) local -= 1;
    else budget.states -= 1;
    const consider = (stepCost: Cost, step: Step, next: Finish): void => {
      for (const [end, rest] of next) {
        const cost = addCost(stepCost, rest.cost);
        const held = result.get(end);
        if (held === undefined || compareCost(cost, held.cost) < 0) result.set(end, { cost, steps: [step, ...rest.steps] });
      }
    };
    if (!leadOpen && remaining.every((n) => n === 0) && readKeys.every((k) => matched.has(k))) {
      // A first sighting sits in the set with its marker; neither is an invented move.
      result.set(current, { cost: endCost(current, inferred.has(FIRST_SEEN) ? inferred.size - 2 : inferred.size), steps: [] });
    }
    keys.forEach((key, i) => {
      if (remaining[i] === 0 || (leadOpen && key !== leadKey)) return;
      const evidence = byKey.get(key)![byKey.get(key)!.length - remaining[i]!]!;
      remaining[i]! -= 1;
      const next = finish(key, reads.has(key) && !matched.has(key) ? new Set([...matched, key]) : matched, inferred);
      remaining[i]! += 1;
      consider([0, 0, key === current ? 1 : 0, 0, 0, 0], { type: 'move', key, evidence }, next);
    });
    // A read no order of the known moves explains, or the last read not at the end: a move we did not see.
    // From nothing known, that stage is where the person was first: a first sighting, not a move
    // (placing it after a move of the same second instead would invent a return).
    const candidates = leadOpen ? [[leadKey!, lead!] as const] : reads;
    for (const [key, snapshot] of candidates) {
      if (inferred.has(key) || key === current) continue;
      const seenFirst = current === null;
      // Either way the stage is not inferred again in this second (that would be a return).
      const next = finish(key, matched.has(key) ? matched : new Set([...matched, key]), new Set([...inferred, key, ...(seenFirst ? [FIRST_SEEN] : [])]));
      consider(seenFirst ? FIRST_SIGHTING : ZERO, { type: 'inferred', key, evidence: snapshot }, next);
    }
    solved.set(id, result);
    return result;
  };
  return (start) => {
    if (!tooMany) {
      const best = finish(start, new Set(start !== null && reads.has(start) ? [start] : []), new Set(), leadKey !== null && start !== leadKey);
      if (!tooMany) return [...best].map(([end, { cost, steps }]) => ({ cost, steps, end }));
    }
    return [arrangeGreedily(group, reads, lastKey, start, endCost)];
  };
}

/**
 * A second ordered without searching. From nothing known, the stage of the earliest read no move of
 * the second goes to is where the person was first. Then the moves: those whose stage a read of this
 * second found in the order of those reads (FUB's clock, to the millisecond), the others before them
 * as they arrived, never to the stage already held while another order still avoids it. Reads still
 * unexplained come last; the second's last read is made the end only where it must be (the person's
 * latest read) or no move went to its stage.
 */
function arrangeGreedily(
  group: Group,
  reads: Map<string, SnapshotEvidence>,
  lastKey: string | null,
  start: string | null,
  endCost: (end: string | null, inferred: number) => Cost,
): Option {
  const byTime = [...group.snapshots].sort(compareReads);
  const readTime = new Map<string, number>();
  for (const snapshot of byTime) {
    const key = stageKey(snapshot.stage);
    if (!readTime.has(key)) readTime.set(key, (snapshot.readAt ?? snapshot.at).getTime());
  }
  const rank = (m: MoveEvidence): number => readTime.get(stageKey(m.stage)) ?? Number.NEGATIVE_INFINITY;
  const pending = group.moves.map((m, i) => ({ m, i })).sort((a, b) => rank(a.m) - rank(b.m) || a.i - b.i).map((x) => x.m);
  const steps: Step[] = [];
  const seen = new Set<string | null>([start]);
  let current = start;
  let gaps = 0;
  let inferred = 0;
  let firstSightings = 0;
  const movedTo = new Set(group.moves.map((m) => stageKey(m.stage)));
  const lead = group.leading[0];
  if (lead !== undefined && current !== stageKey(lead.stage) && !movedTo.has(stageKey(lead.stage))) {
    steps.push({ type: 'inferred', key: stageKey(lead.stage), evidence: lead });
    current = stageKey(lead.stage);
    inferred += 1;
  } else if (current === null) {
    const first = byTime.find((r) => !movedTo.has(stageKey(r.stage)));
    if (first !== undefined) {
      current = stageKey(first.stage);
      steps.push({ type: 'inferred', key: current, evidence: first });
      firstSightings += 1;
    }
  }
  seen.add(current);
  // Whether the moves left can still follow `after` with no move to the stage already held.
  const arrangeable = (rest: MoveEvidence[], after: string | null): boolean => {
    const counts = new Map<string, number>();
    for (const m of rest) counts.set(stageKey(m.stage), (counts.get(stageKey(m.stage)) ?? 0) + 1);
    for (const [key, n] of counts) if (n > Math.ceil(rest.length / 2) || (key === after && n > Math.floor(rest.length / 2))) return false;
    return true;
  };
  const leadKey = lead !== undefined ? stageKey(lead.stage) : null;
  while (pending.length > 0) {
    const options = pending.map((m, i) => i).filter((i) => stageKey(pending[i]!.stage) !== current);
    // The leading read's stage comes first when a move goes there.
    const leading = steps.length === 0 && leadKey !== null && current !== leadKey ? options.filter((i) => stageKey(pending[i]!.stage) === leadKey) : [];
    let index = [...leading, ...options].find((i) => arrangeable([...pending.slice(0, i), ...pending.slice(i + 1)], stageKey(pending[i]!.stage)));
    if (index === undefined) index = options[0];
    if (index === undefined) {
      index = 0;
      gaps += 1;
    }
    const [move] = pending.splice(index, 1);
    current = stageKey(move!.stage);
    seen.add(current);
    steps.push({ type: 'move', key: current, evidence: move! });
  }
  const infer = (key: string): void => {
    steps.push({ type: 'inferred', key, evidence: reads.get(key)! });
    current = key;
    inferred += 1;
  };
  for (const key of reads.keys()) if (!seen.has(key) && key !== current && key !== lastKey) infer(key);
  if (lastKey !== null && lastKey !== current && (group.holdsLatestRead || !seen.has(lastKey))) infer(lastKey);
  return { cost: addCost(endCost(current, inferred), [0, 0, gaps, 0, 0, firstSightings]), steps, end: current };
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
  return [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4], a[5] + b[5]];
}

function compareCost(a: Cost, b: Cost): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2] || a[3] - b[3] || a[4] - b[4] || a[5] - b[5];
}
