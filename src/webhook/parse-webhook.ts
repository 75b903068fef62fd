import { createHash } from 'node:crypto';
import { cleanFubText, parseFubTime } from '../shared/fub/fub-text.js';

/** One event of a delivery, as the inbox stores it. Nothing here rejects: odd shapes are kept. */
export interface InboxEvent {
  eventId: string;
  event: string;
  resourceIds: number[];
  eventCreated: Date | null;
  /** The element exactly as FUB sent it, re-serialized (JSON.stringify keeps NUL escapes). */
  payload: string;
}

const MAX_EVENT_ID_LENGTH = 200;

/** A JSON array is a batch of events; anything else is one event. */
export function toInboxEvents(body: unknown): InboxEvent[] {
  const elements = Array.isArray(body) ? body : [body];
  const seen = new Set<string>();
  const events: InboxEvent[] = [];
  for (const element of elements) {
    const event = toInboxEvent(element);
    if (seen.has(event.eventId)) continue; // the same event twice in one batch is one event
    seen.add(event.eventId);
    events.push(event);
  }
  return events;
}

function toInboxEvent(element: unknown): InboxEvent {
  const payload = JSON.stringify(element) ?? 'null';
  const fields = element !== null && typeof element === 'object' && !Array.isArray(element) ? (element as Record<string, unknown>) : {};
  const givenId = cleanText(fields.eventId);
  return {
    // Without an eventId, the content itself identifies the event, so a redelivery still dedups.
    eventId: givenId !== null && givenId.length <= MAX_EVENT_ID_LENGTH ? givenId : `sha256:${createHash('sha256').update(payload).digest('hex')}`,
    event: cleanText(fields.event) ?? '',
    resourceIds: toResourceIds(fields.resourceIds),
    eventCreated: toDate(fields.eventCreated),
    payload,
  };
}

// PostgreSQL text cannot hold NUL; such strings are kept as sent only inside the raw payload.
function cleanText(value: unknown): string | null {
  if (typeof value !== 'string' && typeof value !== 'number') return null;
  return cleanFubText(String(value));
}

function toResourceIds(value: unknown): number[] {
  if (!Array.isArray(value)) return [];
  const ids = new Set<number>();
  for (const item of value) {
    const id = typeof item === 'string' && /^\d+$/.test(item) ? Number(item) : item;
    if (typeof id === 'number' && Number.isSafeInteger(id) && id > 0) ids.add(id);
  }
  return [...ids];
}

function toDate(value: unknown): Date | null {
  if (typeof value !== 'string') return null;
  const date = parseFubTime(value);
  if (date === null) return null;
  const year = date.getUTCFullYear();
  return year < 2000 || year > 9999 ? null : date;
}
