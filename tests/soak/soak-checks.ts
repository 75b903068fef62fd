// What the soak holds the collector to, judged against FUB's own record of every move it made.
import type { Db } from '../../src/shared/db/database.js';
import { fubSecond, type FubSimulator } from '../../fub-simulator/fub-simulator.js';
import type { MadeMove } from './lead-activity.js';

interface Row {
  person_id: number;
  kind: string;
  stage_to: string;
  stage_to_id: number | null;
  changed_at: Date;
  seq: number;
  event_id: string | null;
}

export interface MissingMove {
  eventId: string;
  personId: number;
  stage: string;
  stageId: number;
  second: string;
  /** The row carrying the event id, when there is one but its stage or second is wrong. */
  found?: { stageId: number | null; changedAt: string };
}

export interface OverCount {
  personId: number;
  stageId: number | null;
  stage: string;
  rows: number;
  moves: number;
}

export interface WrongLast {
  personId: number;
  fubStage: string;
  fubStageId: number;
  last: { stage: string; stageId: number | null; changedAt: string } | null;
}

export interface CheckResults {
  rows: number;
  /** Moves FUB reported with data.stage in a webhook the collector acknowledged. */
  reportedMoves: number;
  missing: MissingMove[];
  overCounted: OverCount[];
  wrongLast: WrongLast[];
}

export async function checkSoak(db: Db, sim: FubSimulator, moves: readonly MadeMove[], acknowledged: ReadonlySet<string>): Promise<CheckResults> {
  const rows: Row[] = await db
    .selectFrom('stage_changes')
    .select(['person_id', 'kind', 'stage_to', 'stage_to_id', 'changed_at', 'seq', 'event_id'])
    .orderBy('person_id')
    .orderBy('changed_at')
    .orderBy('seq')
    .execute();
  const reported = moves.filter((m) => acknowledged.has(m.eventId));
  return {
    rows: rows.length,
    reportedMoves: reported.length,
    missing: missingMoves(rows, reported),
    overCounted: overCounts(rows, moves),
    wrongLast: wrongLastStages(rows, sim),
  };
}

/** Every acknowledged move naming its stage is a row: its event id, its stage id, its second. */
function missingMoves(rows: readonly Row[], reported: readonly MadeMove[]): MissingMove[] {
  const byEvent = new Map(rows.filter((r) => r.event_id !== null).map((r) => [r.event_id!, r]));
  const missing: MissingMove[] = [];
  for (const move of reported) {
    const row = byEvent.get(move.eventId);
    const second = fubSecond(move.at);
    if (row && row.person_id === move.personId && row.stage_to_id === move.stageId && row.changed_at.getTime() === second.getTime()) continue;
    missing.push({
      eventId: move.eventId,
      personId: move.personId,
      stage: move.stage,
      stageId: move.stageId,
      second: second.toISOString(),
      ...(row ? { found: { stageId: row.stage_to_id, changedAt: row.changed_at.toISOString() } } : {}),
    });
  }
  return missing;
}

/** No person enters a stage (any row but a first sighting) more often than FUB moved them into it. */
function overCounts(rows: readonly Row[], moves: readonly MadeMove[]): OverCount[] {
  const key = (personId: number, stageId: number | null): string => `${personId}/${stageId}`;
  const made = new Map<string, number>();
  for (const m of moves) made.set(key(m.personId, m.stageId), (made.get(key(m.personId, m.stageId)) ?? 0) + 1);
  const entered = new Map<string, OverCount>();
  for (const r of rows) {
    if (r.kind === 'first_seen') continue;
    const k = key(r.person_id, r.stage_to_id);
    const count = entered.get(k) ?? { personId: r.person_id, stageId: r.stage_to_id, stage: r.stage_to, rows: 0, moves: made.get(k) ?? 0 };
    count.rows += 1;
    entered.set(k, count);
  }
  return [...entered.values()].filter((c) => c.rows > c.moves);
}

/** Each person's history ends in the stage FUB shows them in now. */
function wrongLastStages(rows: readonly Row[], sim: FubSimulator): WrongLast[] {
  // Rows come ordered by person, then (changed_at, seq): the last one seen per person is their last.
  const last = new Map<number, Row>();
  for (const r of rows) last.set(r.person_id, r);
  const wrong: WrongLast[] = [];
  for (const person of sim.people.values()) {
    const row = last.get(person.id);
    if (row?.stage_to_id === person.stageId) continue;
    wrong.push({
      personId: person.id,
      fubStage: sim.stageName(person),
      fubStageId: person.stageId,
      last: row ? { stage: row.stage_to, stageId: row.stage_to_id, changedAt: row.changed_at.toISOString() } : null,
    });
  }
  return wrong;
}
