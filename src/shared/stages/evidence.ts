import type { StageChangeKind } from '../db/schema.js';

/** A stage as a report names it: FUB's id when known, and the name the report used. */
export interface StageRef {
  id: number | null;
  name: string;
}

/** Two reports name the same stage when their ids agree (a rename keeps the id), else their names. */
export function stageKey(stage: StageRef): string {
  return stage.id !== null ? `id:${stage.id}` : `name:${stage.name}`;
}

interface Reported {
  /** `webhook_<event>` or `polling`. */
  source: string;
  /** When we received the report (our clock; never compared with FUB's). */
  receivedAt: Date;
}

/** A webhook naming the stage (`data.stage`): one move into it, made in FUB's second `at`. */
export interface MoveEvidence extends Reported {
  kind: 'move';
  at: Date;
  stage: StageRef;
  eventId: string;
}

/** A `peopleStageUpdated` without `data.stage`: a move made in second `at`, to a stage it does not name. */
export interface UnnamedMoveEvidence extends Reported {
  kind: 'unnamed_move';
  at: Date;
  eventId: string;
}

/**
 * A read of the person (a fetch or a poll): in `stage` when read, with FUB's `updated` = `at`. No move
 * happened after `at` before the read; the moves of second `at` itself may fall either side of it.
 */
export interface SnapshotEvidence extends Reported {
  kind: 'snapshot';
  at: Date;
  stage: StageRef;
  /** FUB's clock when read (the answer's `Date` header). */
  readAt: Date | null;
  /** The person's `created`. */
  personCreatedAt: Date | null;
  eventId: string | null;
}

export type Evidence = MoveEvidence | UnnamedMoveEvidence | SnapshotEvidence;

/** Reads in the order FUB answered them (its clock), then the order we took them in. */
export function compareReads(a: SnapshotEvidence, b: SnapshotEvidence): number {
  return (a.readAt ?? a.at).getTime() - (b.readAt ?? b.at).getTime() || a.at.getTime() - b.at.getTime() || a.receivedAt.getTime() - b.receivedAt.getTime();
}

/** One row of a person's history, as rebuilt from the evidence. */
export interface HistoryRow {
  kind: StageChangeKind;
  /** Null for a first row, and where moves we could not see came between (the stage left is unknown). */
  from: StageRef | null;
  to: StageRef;
  /** FUB's second of the change. */
  at: Date;
  /** Order among rows with the same `at`. */
  seq: number;
  source: string;
  eventId: string | null;
  receivedAt: Date;
}
