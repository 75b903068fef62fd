// Shared builders for the rebuild edge-case tests (same shapes as tests/reconstruct-history.test.ts).
import type { Evidence, HistoryRow, MoveEvidence, SnapshotEvidence, UnnamedMoveEvidence } from '../../src/shared/stages/evidence.js';
import { reconstructHistory } from '../../src/shared/stages/reconstruct-history.js';

export const T0 = Date.parse('2026-11-02T09:00:00Z');
export const at = (s: number): Date => new Date(T0 + Math.round(s * 1000));
let n = 0;
const ids: Record<string, number> = { Lead: 1, Q: 2, OM: 3, ONA: 4, A: 5, B: 6, C: 7, D: 8 };
const stage = (name: string) => ({ id: ids[name] ?? null, name });
export function move(name: string, s: number, receivedMs = n++): MoveEvidence {
  return { kind: 'move', at: at(s), stage: stage(name), source: 'webhook_peopleStageUpdated', eventId: `m${n++}`, receivedAt: new Date(T0 + receivedMs) };
}
export function read(name: string, updated: number, extra: Partial<SnapshotEvidence> = {}): SnapshotEvidence {
  return { kind: 'snapshot', at: at(updated), stage: stage(name), readAt: at(updated + 2), personCreatedAt: null, source: 'polling', eventId: null, receivedAt: new Date(T0 + n++), ...extra };
}
export function unnamed(s: number): UnnamedMoveEvidence {
  return { kind: 'unnamed_move', at: at(s), source: 'webhook_peopleStageUpdated', eventId: `u${n++}`, receivedAt: new Date(T0 + n++) };
}
export const rebuild = (evidence: Evidence[], watchingSince: Date | null = at(-1_000_000)) => reconstructHistory(evidence, { watchingSince });
export const brief = (rows: HistoryRow[]) => rows.map((r) => `${r.kind === 'move' ? '' : r.kind + ' '}${r.from?.name ?? '?'}>${r.to.name}@${(r.at.getTime() - T0) / 1000}`);
/** Arrivals per stage id (or name when no id): what a dashboard counts (first sightings left out). */
export function arrivals(rows: HistoryRow[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) if (r.kind !== 'first_seen') out[r.to.id ?? r.to.name] = (out[r.to.id ?? r.to.name] ?? 0) + 1;
  return out;
}
/** One busy second: k moves to k distinct stages, each read live (the README's "7 moves to 7 stages"). */
export function burst(second: number, prefix: string, k: number): Evidence[] {
  const out: Evidence[] = [];
  for (let i = 0; i < k; i++) {
    const s = { id: 1000 + second * 10 + i, name: `${prefix}${i}` };
    out.push({ ...move('x', second), stage: s });
    out.push({ ...read('x', second, { readAt: at(second + 0.05 + 0.1 * i) }), stage: s });
  }
  return out;
}
