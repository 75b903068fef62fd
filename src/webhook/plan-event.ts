import { cleanFubText, MAX_STAGE_NAME_LENGTH } from '../shared/fub/fub-text.js';
import type { ClaimedEvent } from './webhook-events.repository.js';

/** What processing one inbox event takes, decided from the stored event alone (no I/O). */
export type EventPlan =
  | { kind: 'ignore'; reason: string }
  /** The webhook names the stage (`data.stage`): one move into it at `eventCreated`, no fetch needed. */
  | { kind: 'stage-given'; stage: string; at: Date; personIds: number[] }
  /**
   * The stage must be read from FUB now: fetch these people. `movedAt` when the event itself says a
   * move happened then (a peopleStageUpdated without data.stage): it dates the move the read reveals.
   */
  | { kind: 'fetch'; personIds: number[]; movedAt: Date | null }
  /** FUB deleted these people: keep their history, mark them deleted. */
  | { kind: 'delete'; personIds: number[]; at: Date | null };

// Events after which a person's stage may differ. peopleUpdated also fires on a stage move.
const PERSON_EVENTS = new Set(['peopleStageUpdated', 'peopleUpdated', 'peopleCreated', 'peopleDeleted']);

export function planEvent(row: Pick<ClaimedEvent, 'event' | 'resource_ids' | 'event_created' | 'payload'>): EventPlan {
  if (row.event === '') return { kind: 'ignore', reason: 'no event name in payload' };
  if (!PERSON_EVENTS.has(row.event)) return { kind: 'ignore', reason: `event "${row.event}" cannot change a stage` };
  if (row.resource_ids.length === 0) return { kind: 'ignore', reason: 'no usable resourceIds in payload' };
  if (row.event === 'peopleDeleted') return { kind: 'delete', personIds: row.resource_ids, at: row.event_created };
  const given = row.event === 'peopleStageUpdated' ? givenStage(row.payload) : null;
  if (given !== null && row.event_created !== null) {
    return { kind: 'stage-given', stage: given, at: row.event_created, personIds: row.resource_ids };
  }
  return { kind: 'fetch', personIds: row.resource_ids, movedAt: row.event === 'peopleStageUpdated' ? row.event_created : null };
}

/**
 * FUB's stage names are free text: cleaned here (NUL, lone surrogates) and trimmed, as every text from
 * FUB is. The stored payload keeps what FUB sent, so an event stored before this rule replays too.
 */
function givenStage(payload: unknown): string | null {
  if (payload === null || typeof payload !== 'object') return null;
  const data = (payload as { data?: unknown }).data;
  if (data === null || typeof data !== 'object') return null;
  const stage = (data as { stage?: unknown }).stage;
  const name = typeof stage === 'string' ? cleanFubText(stage) : null;
  // Too long to be a stage name (and to be indexed): the person is read instead.
  return name !== null && name.length <= MAX_STAGE_NAME_LENGTH ? name : null;
}
