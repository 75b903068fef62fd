import type { StageChangeRow } from '../db/schema.js';
import type { HistoryRow } from './evidence.js';

/** The fields a rebuild may change on a row it keeps. */
export interface ChangeRevision {
  id: number;
  kind: StageChangeRow['kind'];
  stage_from: string | null;
  stage_from_id: number | null;
  stage_to_id: number | null;
  seq: number;
  source: string;
  event_id: string | null;
  received_at: Date;
}

export interface HistoryEdit {
  insert: HistoryRow[];
  remove: number[];
  revise: ChangeRevision[];
}

/**
 * The fewest writes that turn a person's stored rows into the rebuilt history. A stored row is kept
 * when it stands for the same report (same kind, source, event, stage and second), or failing that
 * for the same stage at the same second; kept rows are revised where the rebuild differs.
 */
export function diffHistory(stored: readonly StageChangeRow[], rebuilt: readonly HistoryRow[]): HistoryEdit {
  const unmatched = new Set(stored);
  const pairs: [StageChangeRow, HistoryRow][] = [];
  const left: HistoryRow[] = [];
  const take = (row: HistoryRow, same: (s: StageChangeRow) => boolean): boolean => {
    for (const candidate of unmatched) {
      if (!same(candidate)) continue;
      unmatched.delete(candidate);
      pairs.push([candidate, row]);
      return true;
    }
    return false;
  };
  const sameSlot = (s: StageChangeRow, row: HistoryRow): boolean => s.stage_to === row.to.name && s.changed_at.getTime() === row.at.getTime();
  for (const row of rebuilt) {
    if (!take(row, (s) => sameSlot(s, row) && s.kind === row.kind && s.source === row.source && s.event_id === row.eventId)) left.push(row);
  }
  const insert = left.filter((row) => !take(row, (s) => sameSlot(s, row)));

  const revise: ChangeRevision[] = [];
  for (const [row, target] of pairs) {
    const wanted: ChangeRevision = {
      id: row.id,
      kind: target.kind,
      stage_from: target.from?.name ?? null,
      stage_from_id: target.from?.id ?? null,
      stage_to_id: target.to.id,
      seq: target.seq,
      source: target.source,
      event_id: target.eventId,
      received_at: target.receivedAt,
    };
    const differs =
      row.kind !== wanted.kind ||
      row.stage_from !== wanted.stage_from ||
      row.stage_from_id !== wanted.stage_from_id ||
      row.stage_to_id !== wanted.stage_to_id ||
      row.seq !== wanted.seq ||
      row.source !== wanted.source ||
      row.event_id !== wanted.event_id ||
      row.received_at.getTime() !== wanted.received_at.getTime();
    if (differs) revise.push(wanted);
  }
  return { insert, remove: [...unmatched].map((s) => s.id), revise };
}
