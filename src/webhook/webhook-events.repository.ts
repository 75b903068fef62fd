import { sql } from 'kysely';
import { arrayLiteral } from '../shared/db/array-literal.js';
import { poolOf, PREPARED, type Db, type Trx } from '../shared/db/database.js';
import type { WebhookEventRow, WebhookEventStatus } from '../shared/db/schema.js';
import { cleanFubText } from '../shared/fub/fub-text.js';
import type { InboxEvent } from './parse-webhook.js';

export interface StoredDelivery {
  deliveryId: number;
  /** Event ids that were new; the others were redeliveries. */
  inserted: Set<string>;
}

export interface NewDelivery {
  path: string;
  rawBody: string;
  events: InboxEvent[];
}

// Parallel arrays through unnest ($1-$3 per delivery, $4-$9 per event): json_to_recordset would
// reject payloads holding \u0000. The two big ones travel as JSON, which V8 writes natively, instead
// of array literals the driver escapes character by character (its costliest step per webhook):
// bodies as a JSON array of strings (each decoded exactly: UTF-8 text holds no lone surrogate),
// payloads as a JSON array of the payloads themselves (each is JSON, taken as json, never decoded).
const STORE_DELIVERIES = `${PREPARED}store_deliveries */
  WITH given AS (
    -- The hash of the text as stored: the same text again would store nothing new.
    SELECT d.ord, d.path, d.raw_body, d.event_count, sha256(convert_to(d.raw_body, 'UTF8')) AS body_sha256
    FROM unnest($1::text[], (SELECT array_agg(b ORDER BY n) FROM json_array_elements_text($2::json) WITH ORDINALITY AS j(b, n)), $3::int[])
           WITH ORDINALITY AS d(path, raw_body, event_count, ord)
  ), bodies AS (
    -- Each distinct body once: its first arrival in this batch, and the delivery already holding it
    -- (a lookup per body, by the unique index: planned once, it stays an index lookup however big
    -- the table grows).
    SELECT DISTINCT ON (g.body_sha256) g.body_sha256, g.ord AS first_ord,
           (SELECT w.id FROM webhook_deliveries w WHERE w.body_sha256 = g.body_sha256) AS existing_id
    FROM given g
    ORDER BY g.body_sha256, g.ord
  ), body_ids AS (
    SELECT b.body_sha256, b.first_ord, coalesce(b.existing_id, nextval('webhook_deliveries_id_seq'::regclass)) AS id FROM bodies b
  ), delivery AS (
    SELECT g.ord, g.path, g.raw_body, g.event_count, g.body_sha256, b.id, g.ord = b.first_ord AS first_arrival
    FROM given g JOIN body_ids b ON b.body_sha256 = g.body_sha256
  ), inserted AS (
    INSERT INTO webhook_events (delivery_id, event_id, event, resource_ids, event_created, payload, received_at)
    SELECT delivery.id, e.event_id, e.event, e.resource_ids::bigint[], e.event_created, e.payload, now()
    FROM unnest($4::int[], $5::text[], $6::text[], $7::text[], $8::timestamptz[],
                (SELECT array_agg(p ORDER BY n) FROM json_array_elements($9::json) WITH ORDINALITY AS j(p, n)))
           WITH ORDINALITY AS e(delivery_ord, event_id, event, resource_ids, event_created, payload, ord)
    JOIN delivery ON delivery.ord = e.delivery_ord
    -- One order for every statement (by event id), so two writers never wait on each other in a
    -- circle; within an id the earliest delivery wins.
    ORDER BY e.event_id, e.ord
    ON CONFLICT (event_id) DO NOTHING
    RETURNING delivery_id, event_id
  ), per_delivery AS (
    SELECT delivery_id, array_agg(event_id) AS event_ids FROM inserted GROUP BY delivery_id
  ), per_body AS (
    SELECT id, count(*)::int AS arrivals, sum(event_count)::int AS events FROM delivery GROUP BY id
  ), stored AS (
    -- One row per distinct body. Every arrival counts its events (received) and those already in the
    -- inbox (deduplicated); a body seen before is only counted, its raw text is not written again.
    INSERT INTO webhook_deliveries AS w
      (id, received_at, path, raw_body, body_sha256, event_count, duplicate_count, replay_count, last_replayed_at)
    SELECT delivery.id, now(), delivery.path, delivery.raw_body, delivery.body_sha256, per_body.events,
           per_body.events - coalesce(cardinality(per_delivery.event_ids), 0), per_body.arrivals - 1,
           CASE WHEN per_body.arrivals > 1 THEN now() END
    FROM delivery JOIN per_body ON per_body.id = delivery.id LEFT JOIN per_delivery ON per_delivery.delivery_id = delivery.id
    WHERE delivery.first_arrival
    -- By hash, as events go by id: two batches replaying the same bodies never wait in a circle.
    ORDER BY delivery.body_sha256
    ON CONFLICT (body_sha256) DO UPDATE SET
      event_count = w.event_count + excluded.event_count,
      duplicate_count = w.duplicate_count + excluded.duplicate_count,
      replay_count = w.replay_count + excluded.replay_count + 1,
      last_replayed_at = now()
    RETURNING id, body_sha256
  )
  SELECT stored.id AS delivery_id,
         CASE WHEN delivery.first_arrival THEN coalesce(per_delivery.event_ids, '{}') ELSE '{}' END AS inserted
  FROM delivery JOIN stored ON stored.body_sha256 = delivery.body_sha256 LEFT JOIN per_delivery ON per_delivery.delivery_id = delivery.id
  ORDER BY delivery.ord`;

/**
 * Stores deliveries and their events in one statement (one round trip and one commit for a whole
 * batch, atomic without a transaction). Events already in the inbox, or earlier in the same batch,
 * are left alone and counted as duplicates; a body already stored (the same text) is counted on its
 * first copy, not stored again. Results come back in the order given.
 * A named prepared statement: every webhook goes through it, and planning it each time cost about
 * as much as running it.
 */
export async function storeDeliveries(db: Db, deliveries: NewDelivery[]): Promise<StoredDelivery[]> {
  if (deliveries.length === 0) return [];
  const paths: string[] = [];
  const bodies: string[] = [];
  const counts: number[] = [];
  const ords: number[] = [];
  const ids: string[] = [];
  const names: string[] = [];
  const resources: string[] = [];
  const created: (string | null)[] = [];
  const payloads: string[] = [];
  deliveries.forEach((d, i) => {
    paths.push(d.path);
    bodies.push(d.rawBody);
    counts.push(d.events.length);
    for (const e of d.events) {
      ords.push(i + 1);
      ids.push(e.eventId);
      names.push(e.event);
      resources.push(`{${e.resourceIds.join(',')}}`);
      created.push(e.eventCreated?.toISOString() ?? null);
      payloads.push(e.payload);
    }
  });
  const { rows } = await poolOf(db).query<{ delivery_id: number; inserted: string[] }>(STORE_DELIVERIES, [
    arrayLiteral(paths),
    JSON.stringify(bodies),
    arrayLiteral(counts),
    arrayLiteral(ords),
    arrayLiteral(ids),
    arrayLiteral(names),
    arrayLiteral(resources),
    arrayLiteral(created),
    `[${payloads.join(',')}]`,
  ]);
  return rows.map((row) => ({ deliveryId: row.delivery_id, inserted: new Set(row.inserted) }));
}

/**
 * A claimed event as processing needs it: the columns it reads, and the payload only where planning
 * reads it (peopleStageUpdated's data.stage). Every column parsed for every event of a bulk move,
 * payloads included, was a third of the claim's cost in the server.
 */
export type ClaimedEvent = Pick<WebhookEventRow, 'id' | 'event_id' | 'event' | 'resource_ids' | 'event_created' | 'received_at' | 'attempts'> & {
  /** The stored payload of a peopleStageUpdated event; null for any other. */
  payload: unknown;
};

/**
 * Claims up to `limit` due events under `claimToken` (attempts + 1, leased for `leaseSeconds`).
 * SKIP LOCKED lets several workers and replicas claim side by side without taking the same row.
 * The token is unique per claim, so a worker whose lease ran out cannot finish a row someone re-claimed.
 */
export async function claimDueEvents(
  db: Db,
  claim: { claimToken: string; limit: number; leaseSeconds: number },
): Promise<ClaimedEvent[]> {
  const { rows } = await claimStatement(claim).execute(db);
  return rows.sort((a, b) => a.id - b.id);
}

/** The claim as a statement (its plan is tested: it must walk the due index, never sort the backlog). */
export function claimStatement(claim: { claimToken: string; limit: number; leaseSeconds: number }) {
  return sql<ClaimedEvent>`
    UPDATE webhook_events AS e
    SET status = 'processing', attempts = e.attempts + 1, locked_by = ${claim.claimToken},
        locked_until = now() + make_interval(secs => ${claim.leaseSeconds})
    -- The due ids as an array first: the rows are then reached by primary key, never by joining
    -- the whole inbox to them.
    WHERE e.id = ANY(ARRAY(
      SELECT id FROM webhook_events
      WHERE status IN ('received', 'failed') AND next_attempt_at <= now()
      ORDER BY next_attempt_at, id
      LIMIT ${claim.limit}
      FOR UPDATE SKIP LOCKED
    ))
    -- The payload whole, parsed in JavaScript: PostgreSQL's own json operators refuse an escaped NUL in the
    -- value they reach, and one such event would fail every claim that took it.
    RETURNING e.id, e.event_id, e.event, e.resource_ids, e.event_created, e.received_at, e.attempts,
              CASE WHEN e.event = 'peopleStageUpdated' THEN e.payload END AS payload
  `;
}

/** Keeps a claim's lease alive while its work (FUB fetches, rate-limit waits) goes on. */
export async function extendLease(db: Db, claimToken: string, leaseSeconds: number): Promise<void> {
  await sql`
    UPDATE webhook_events SET locked_until = now() + make_interval(secs => ${leaseSeconds})
    WHERE locked_by = ${claimToken} AND status = 'processing'`.execute(db);
}

/** How a claimed event ended. */
export type EventResult =
  | { status: 'completed' }
  | { status: 'ignored'; reason: string }
  | { status: 'failed'; error: string; retryAt: Date }
  | { status: 'dead'; error: string };

/**
 * Finishes claimed events in one statement; returns the ids finished. An id missing from the answer
 * lost its lease (another worker re-claimed it). Runs in the caller's transaction when given one, so
 * events end with the rows they recorded.
 * Each row looks its outcome up by id in one JSON object (a binary search) rather than by a join:
 * planned as a join, the planner (counting on few events in 'processing') walked every outcome for
 * every row, 1,000 x 1,000 comparisons for a bulk move's batch.
 */
export async function finishEvents(db: Db | Trx, claimToken: string, results: readonly { id: number; result: EventResult }[]): Promise<Set<number>> {
  if (results.length === 0) return new Set();
  const outcomes = Object.fromEntries(
    results.map(({ id, result: r }) => [
      id,
      {
        status: r.status,
        // jsonb refuses NUL and lone surrogates, which an error's text may hold: the event must end all the same.
        message: r.status === 'completed' ? null : cleanFubText(r.status === 'ignored' ? r.reason : r.error),
        retryAt: r.status === 'failed' ? r.retryAt : null,
      },
    ]),
  );
  const { rows } = await sql<{ id: number }>`${sql.raw(`${PREPARED}finish_events */`)}
    UPDATE webhook_events e SET
      (status, locked_by, locked_until, processed_at, error_message, next_attempt_at) = (
        SELECT o->>'status', NULL::text, NULL::timestamptz, CASE WHEN o->>'status' = 'failed' THEN NULL ELSE now() END, o->>'message',
               coalesce((o->>'retryAt')::timestamptz, e.next_attempt_at)
        FROM (SELECT ${JSON.stringify(outcomes)}::jsonb -> e.id::text AS o) AS u)
    WHERE e.id = ANY(${arrayLiteral(results.map((r) => r.id))}::bigint[]) AND e.locked_by = ${claimToken} AND e.status = 'processing'
    RETURNING e.id`.execute(db);
  return new Set(rows.map((r) => Number(r.id)));
}

/** Finishes a claimed event; false when the lease was lost (another worker took it back). */
export async function finishEvent(db: Db, id: number, claimToken: string, result: EventResult): Promise<boolean> {
  return (await finishEvents(db, claimToken, [{ id, result }])).has(id);
}

/** Hands claimed but unstarted events back (shutdown); the attempt does not count. */
export async function releaseEvents(db: Db, ids: number[], claimToken: string): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('webhook_events')
    .set((eb) => ({ status: 'received', attempts: eb('attempts', '-', 1), locked_by: null, locked_until: null }))
    .where('id', 'in', ids)
    .where('locked_by', '=', claimToken)
    .where('status', '=', 'processing')
    .execute();
}

/** Events whose worker died (lease ran out) become due again, or dead once out of attempts. */
export async function expireLeases(db: Db, maxAttempts: number): Promise<number> {
  const result = await db
    .updateTable('webhook_events')
    .set((eb) => ({
      status: eb.case().when('attempts', '>=', maxAttempts).then(eb.val<WebhookEventStatus>('dead')).else(eb.val<WebhookEventStatus>('failed')).end(),
      error_message: 'worker stopped before finishing (lease expired)',
      locked_by: null,
      locked_until: null,
      next_attempt_at: new Date(),
    }))
    .where('status', '=', 'processing')
    // The database's clock, which set locked_until: a replica's own clock may run ahead.
    .where('locked_until', '<', sql<Date>`now()`)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Makes failed or dead events due again with fresh attempts; returns their event ids. */
export async function replayEvents(db: Db, selector: { eventIds: string[] } | { status: 'failed' | 'dead' }): Promise<string[]> {
  let query = db
    .updateTable('webhook_events')
    .set({ status: 'received', attempts: 0, next_attempt_at: new Date(), error_message: null, processed_at: null });
  query = 'eventIds' in selector
    ? query.where('event_id', 'in', selector.eventIds.length > 0 ? selector.eventIds : ['']).where('status', '!=', 'processing')
    : query.where('status', '=', selector.status);
  return (await query.returning('event_id').execute()).map((r) => r.event_id);
}

/** Inbox events with a status, newest first (operators' `events list`). */
export function listEventsByStatus(db: Db, status: 'failed' | 'dead', limit: number): Promise<WebhookEventRow[]> {
  return db.selectFrom('webhook_events').selectAll().where('status', '=', status).orderBy('received_at', 'desc').limit(limit).execute();
}

export function listEventsByIds(db: Db, eventIds: string[]): Promise<WebhookEventRow[]> {
  if (eventIds.length === 0) return Promise.resolve([]);
  return db.selectFrom('webhook_events').selectAll().where('event_id', 'in', eventIds).execute();
}
