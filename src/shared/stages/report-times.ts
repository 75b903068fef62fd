import type { FubPerson } from '../fub/fub-client.js';
import type { MoveEvidence, SnapshotEvidence, UnnamedMoveEvidence } from './evidence.js';

// The one place that decides when FUB had a person in a stage. Every time here is FUB's own (its
// `eventCreated`, `updated`, `created` and `Date` header), never our clock: FUB's clock and ours (or an
// operator's PC running the poller) can be minutes apart, and FUB prints whole seconds.

/** FUB's second for a moment: FUB prints whole seconds, so this is what a move made then is dated. */
export function fubSecond(at: Date): Date {
  return new Date(Math.floor(at.getTime() / 1000) * 1000);
}

/**
 * How far an `eventCreated` may lie past FUB's clock at receipt and still be FUB's own stamp: our
 * estimate of FUB's clock is good to about a second once an answer told it, so a minute is generous.
 */
export const EVENT_TIME_TOLERANCE_MS = 60_000;

/** FUB retries a delivery for hours at most: an event older than this says nothing about when we began watching. */
export const MAX_DELIVERY_DELAY_MS = 86_400_000;

/**
 * An event's `eventCreated`, when it can be FUB's: null when it is later than FUB's clock at receipt
 * allows (a FUB bug, a test event, a hand-made payload). Such a time cannot place a move, so the event
 * is taken as one without a time (the person is read instead); trusted, it would date a row in the
 * future and hold the person's current stage behind it.
 */
export function trustedEventTime(eventCreated: Date | null, fubReceivedAt: Date): Date | null {
  if (eventCreated === null) return null;
  return eventCreated.getTime() <= fubReceivedAt.getTime() + EVENT_TIME_TOLERANCE_MS ? eventCreated : null;
}

/**
 * Since when an event shows webhooks were watching: its (trusted) time, unless it is older than any
 * delivery can be (a replayed or made-up event). Too early a "watching since" would make every lead
 * that existed before installation look created after it.
 */
export function watchingSinceOf(eventTime: Date | null, fubReceivedAt: Date): Date | null {
  if (eventTime === null) return null;
  return eventTime.getTime() >= fubReceivedAt.getTime() - MAX_DELIVERY_DELAY_MS ? eventTime : null;
}

/**
 * A webhook that names the stage (`data.stage`): one move into it, in the second FUB stamped it. The
 * id is the one the name stood for when the webhook was taken in (null when no stage list had it):
 * stored with the move, so a name later given to another stage never changes what it meant.
 */
export function moveFromWebhook(
  event: { eventId: string; event: string; eventCreated: Date; receivedAt: Date },
  stage: string,
  stageId: number | null = null,
): MoveEvidence {
  return {
    kind: 'move',
    at: fubSecond(event.eventCreated),
    stage: { id: stageId, name: stage },
    source: `webhook_${event.event}`,
    eventId: event.eventId,
    receivedAt: event.receivedAt,
  };
}

/** A `peopleStageUpdated` without `data.stage`: a move happened in that second; a fetch tells to where. */
export function unnamedMoveFromWebhook(event: { eventId: string; event: string; eventCreated: Date; receivedAt: Date }): UnnamedMoveEvidence {
  return { kind: 'unnamed_move', at: fubSecond(event.eventCreated), source: `webhook_${event.event}`, eventId: event.eventId, receivedAt: event.receivedAt };
}

/**
 * A read of the person (a fetch or a poll page). FUB's `updated` moves on any edit, so it says "in this
 * stage by then, and no move since", not "entered then"; without it, the read's own time says as much.
 * Null when FUB gave no stage.
 */
export function snapshotFromRead(
  person: FubPerson,
  report: { source: string; eventId: string | null; receivedAt: Date },
): SnapshotEvidence | null {
  if (person.stage === null) return null;
  // An `updated` after the read itself is not possible on one clock; trust the read then.
  const updated = person.updated !== null && person.updated <= person.readAt ? person.updated : person.readAt;
  return {
    kind: 'snapshot',
    at: fubSecond(updated),
    stage: { id: person.stageId, name: person.stage },
    // Not rounded: it orders two reads made in one second.
    readAt: person.readAt,
    personCreatedAt: person.created !== null ? fubSecond(person.created) : null,
    source: report.source,
    eventId: report.eventId,
    receivedAt: report.receivedAt,
  };
}
