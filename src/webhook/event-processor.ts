import { randomUUID } from 'node:crypto';
import type { ProcessingConfig } from '../shared/config.js';
import type { Db } from '../shared/db/database.js';
import type { WebhookEventRow } from '../shared/db/schema.js';
import { backoff, PEOPLE_PER_REQUEST, type FubClient, type FubPerson } from '../shared/fub/fub-client.js';
import { idsForLog, idsInWords } from '../shared/ids-for-log.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { Evidence } from '../shared/stages/evidence.js';
import type { PersonReports } from '../shared/stages/record-person-reports.js';
import { recordReports } from '../shared/stages/record-reports.js';
import { fubSecond, moveFromWebhook, snapshotFromRead, trustedEventTime, unnamedMoveFromWebhook, watchingSinceOf } from '../shared/stages/report-times.js';
import { createStageDirectory } from '../shared/stages/stage-directory.js';
import { noteWatchingSince } from '../shared/stages/stage-evidence.repository.js';
import { findPeople, findReadSince } from '../shared/stages/people.repository.js';
import { fetchPeopleInChunks, type PeopleFetch, type PersonRead } from './fetch-people.js';
import { planEvent, type EventPlan } from './plan-event.js';
import { claimDueEvents, expireLeases, extendLease, finishEvent, releaseEvents } from './webhook-events.repository.js';

export interface EventProcessorOptions extends ProcessingConfig {
  /** Events claimed per round; their people are fetched together (100 per FUB call). */
  batchSize?: number;
  /** Claim loops running side by side in this process. */
  concurrency?: number;
  /** Events of one claimed batch recorded side by side (each in its own transaction). */
  eventConcurrency?: number;
  workerId?: string;
}

export interface EventProcessor {
  start(): void;
  /** Something was stored: look now instead of at the next sweep. */
  wake(): void;
  /** Processes due events until none are left (tests, CLI). Returns how many were handled. */
  drain(): Promise<number>;
  /** Stops claiming, finishes the event in hand, hands the rest back. */
  stop(): Promise<void>;
}

/** A claimed event, what it takes, and the time it can be trusted with (FUB's clock). */
interface PlannedEvent {
  row: WebhookEventRow;
  plan: EventPlan;
  /** `eventCreated` when it can be FUB's own (see trustedEventTime). */
  eventTime: Date | null;
  /** FUB's clock when we received the event. */
  fubReceivedAt: Date;
}

class PersonNotFoundError extends Error {}

/** Shutdown came while the event waited on FUB: hand it back untouched rather than count an attempt. */
class HandBack extends Error {}

export function createEventProcessor(deps: {
  db: Db;
  log: Logger;
  fub: FubClient;
  options: EventProcessorOptions;
  metrics?: Metrics;
}): EventProcessor {
  const { db, fub, options } = deps;
  const workerId = options.workerId ?? `worker-${randomUUID()}`;
  const log = deps.log.child({ component: 'event-processor', workerId });
  const batchSize = options.batchSize ?? 200;
  const concurrency = options.concurrency ?? 2;
  const eventConcurrency = options.eventConcurrency ?? 4;
  let stopping = false;
  let loops: Promise<void>[] = [];
  let wakeRequested = false;
  let wakeSleepers: (() => void)[] = [];
  let lastLeaseSweep = 0;
  const stages = createStageDirectory({ db, fub, log });
  // The earliest eventCreated this process has noted as "watching since" (skips the write after that).
  let watchingFloor = Number.POSITIVE_INFINITY;

  async function processBatch(): Promise<number> {
    if (Date.now() - lastLeaseSweep >= options.sweepIntervalMs) {
      lastLeaseSweep = Date.now();
      const expired = await expireLeases(db, options.maxAttempts);
      if (expired > 0) log.warn({ expired }, 'took back events whose worker stopped mid-way');
    }
    // While FUB's rate budget is spent, let events gather instead of claiming them a few at a time:
    // one people call serves up to 100 of them once the budget allows it.
    const budgetWait = fub.readyInMs();
    if (budgetWait > 0) await waitForWork(budgetWait, false);
    if (stopping) return 0;
    const claim = `${workerId}/${randomUUID()}`;
    const rows = await claimDueEvents(db, { claimToken: claim, limit: batchSize, leaseSeconds: options.leaseSeconds });
    if (rows.length === 0) return 0;
    // Renew the lease while the batch runs (FUB may keep us waiting past it), three times per lease
    // however short: renewed only once per lease, it ran out just before each renewal.
    const heartbeat = setInterval(() => {
      extendLease(db, claim, options.leaseSeconds).catch((error: unknown) => log.warn({ err: error }, 'could not renew lease'));
    }, Math.max(100, (options.leaseSeconds * 1000) / 3));
    let shared: PeopleFetch | undefined;
    try {
      const plans = await planEvents(rows);
      shared = fetchShared(plans);
      // A few events at once: the person lock serializes any two about the same person, and the
      // core fits reports in whatever order they come.
      let next = 0;
      const unstarted: number[] = [];
      await Promise.all(
        Array.from({ length: Math.min(eventConcurrency, plans.length) }, async () => {
          while (next < plans.length) {
            const planned = plans[next++]!;
            if (stopping) unstarted.push(planned.row.id);
            else await processEvent(planned, shared!, claim);
          }
        }),
      );
      if (unstarted.length > 0) {
        await releaseEvents(db, unstarted, claim);
        log.info({ released: unstarted.length }, 'released unstarted events for shutdown');
      }
    } finally {
      await shared?.settled();
      clearInterval(heartbeat);
    }
    return rows.length;
  }

  /**
   * Plans each event with the time it can be trusted with. An `eventCreated` past FUB's clock at
   * receipt is checked against a fresh reading of FUB's clock first (one call per batch at most).
   */
  async function planEvents(rows: WebhookEventRow[]): Promise<PlannedEvent[]> {
    const fubReceived = (row: WebhookEventRow): Date => fub.clock.toFub(row.received_at.getTime());
    const suspicious = rows.filter((row) => row.event_created !== null && trustedEventTime(row.event_created, fubReceived(row)) === null);
    const heardAt = fub.clock.heardAtMs;
    if (suspicious.length > 0 && (heardAt === undefined || suspicious.some((row) => heardAt < row.received_at.getTime()))) {
      // Any answer tells FUB's clock; the stage list is one we have a use for. Never throws.
      await stages.refresh();
    }
    return rows.map((row) => {
      const fubReceivedAt = fubReceived(row);
      const eventTime = trustedEventTime(row.event_created, fubReceivedAt);
      if (row.event_created !== null && eventTime === null) {
        log.warn({ eventId: row.event_id, eventCreated: row.event_created, fubReceivedAt }, "eventCreated is later than FUB's clock allows; the event is taken without a time");
      }
      return { row, plan: planEvent({ ...row, event_created: eventTime }), eventTime, fubReceivedAt };
    });
  }

  /**
   * First attempts of small events share FUB calls (100 people each, every call on its own). A big
   * event, or a retried one, reads its own people as it goes, so it holds up no one else.
   */
  function fetchShared(plans: PlannedEvent[]): PeopleFetch {
    const ids = plans.flatMap(({ row, plan }) => (plan.kind === 'fetch' && sharesFetch(row, plan) ? plan.personIds : []));
    return fetchPeopleInChunks(fub, ids, { ahead: 2, stopped: () => stopping });
  }

  async function processEvent(planned: PlannedEvent, shared: PeopleFetch, claim: string): Promise<void> {
    const { row, plan } = planned;
    const eventLog = log.child({ eventId: row.event_id, event: row.event, ...idsForLog(row.resource_ids), attempt: row.attempts });
    try {
      if (plan.kind === 'ignore') {
        await finish(row, claim, { status: 'ignored', reason: plan.reason }, eventLog);
        eventLog.info({ outcome: 'ignored', reason: plan.reason }, 'webhook event ignored');
        return;
      }
      const watching = watchingSinceOf(planned.eventTime, planned.fubReceivedAt);
      if (watching !== null) await noteWatching(watching);
      const recorded = plan.kind === 'fetch' ? await recordFetched(planned, plan, shared, eventLog) : await recordGiven(row, plan, eventLog);
      await finish(row, claim, { status: 'completed' }, eventLog);
      deps.metrics?.processingLagSeconds.observe((Date.now() - row.received_at.getTime()) / 1000);
      eventLog.info({ outcome: 'completed', people: recorded }, 'webhook event processed');
    } catch (error) {
      if (error instanceof HandBack) {
        await releaseEvents(db, [row.id], claim);
        eventLog.info('released for shutdown while waiting on FUB');
      } else await failEvent(row, claim, error as Error, eventLog);
    }
  }

  /** An event that says it all (a named stage, a deletion): one report per person. Returns how many. */
  async function recordGiven(row: WebhookEventRow, plan: Extract<EventPlan, { kind: 'stage-given' | 'delete' }>, eventLog: Logger): Promise<number> {
    const event = { eventId: row.event_id, event: row.event, receivedAt: row.received_at };
    if (plan.kind === 'delete') {
      for (const personId of plan.personIds) await recordReports(db, eventLog, { personId, evidence: [], deletedAt: plan.at ?? row.received_at });
      return plan.personIds.length;
    }
    await stages.resolve([plan.stage]);
    const move = moveFromWebhook({ ...event, eventCreated: plan.at }, plan.stage, stages.idOf(plan.stage));
    for (const personId of plan.personIds) await recordReports(db, eventLog, { personId, evidence: [move] });
    return plan.personIds.length;
  }

  /**
   * Reads the event's people a chunk at a time and records each chunk as it comes; an event reading
   * its own (big or retried) reads only the people not yet read since it happened. Throws when anyone
   * could not be read (the event is retried for them), else when FUB did not show someone nobody
   * deleted (not visible yet). Returns how many were recorded.
   */
  async function recordFetched(planned: PlannedEvent, plan: Extract<EventPlan, { kind: 'fetch' }>, shared: PeopleFetch, eventLog: Logger): Promise<number> {
    const { row } = planned;
    const event = { eventId: row.event_id, event: row.event, receivedAt: row.received_at };
    const moved = plan.movedAt !== null ? unnamedMoveFromWebhook({ ...event, eventCreated: plan.movedAt }) : null;
    const own = !sharesFetch(row, plan);
    const toRead = own ? await stillToRead(planned, plan) : plan.personIds;
    const ownFetch = own ? fetchPeopleInChunks(fub, toRead, { ahead: 1, stopped: () => stopping }) : undefined;
    const source = ownFetch ?? shared;
    let recorded = 0;
    const failed: { personId: number; error: Error }[] = [];
    const absent: number[] = [];
    try {
      for (let i = 0; i < toRead.length; i += PEOPLE_PER_REQUEST) {
        const chunk = toRead.slice(i, i + PEOPLE_PER_REQUEST);
        const reads = await Promise.all(chunk.map(async (personId): Promise<[number, PersonRead]> => [personId, await source.read(personId)]));
        // What is recorded stays recorded (and is not read again), so a chunk boundary is a safe place to stop.
        if (stopping) throw new HandBack();
        const people = reads.flatMap(([, read]) => ('person' in read ? [read.person] : []));
        await stages.learn(people.flatMap((p) => (p.stageId !== null && p.stage !== null ? [{ id: p.stageId, name: p.stage }] : [])));
        for (const [personId, read] of reads) {
          if ('error' in read) {
            failed.push({ personId, error: read.error });
            continue;
          }
          const person = 'person' in read ? read.person : undefined;
          if (!person) absent.push(personId);
          const report = reportOfRead(row, personId, person, moved);
          if (report === null) continue;
          await recordReports(db, eventLog, report);
          recorded += 1;
        }
      }
    } finally {
      await ownFetch?.settled();
    }
    if (failed.length > 0) {
      const first = failed[0]!;
      const who = failed.length === 1 ? `person ${first.personId}` : `${failed.length} people (first ${first.personId})`;
      throw new Error(`${who} could not be read from FUB: ${first.error.message}`);
    }
    // FUB answers nothing for a person it deleted; only the others are worth waiting for.
    const deleted = new Set((await findPeople(db, absent)).filter((p) => p.deleted_at !== null).map((p) => p.person_id));
    const missing = absent.filter((id) => !deleted.has(id));
    if (missing.length > 0) throw new PersonNotFoundError(`person ${idsInWords(missing)} not found in FUB yet`);
    return recorded;
  }

  /**
   * The event's people not read since it happened: the others were read (and their move from this
   * event stored) by an earlier attempt, or by anyone else, and reading them again adds nothing. An
   * event without a time it can be trusted with reads everyone.
   */
  async function stillToRead(planned: PlannedEvent, plan: Extract<EventPlan, { kind: 'fetch' }>): Promise<number[]> {
    if (planned.eventTime === null) return plan.personIds;
    const done = new Set(await findReadSince(db, plan.personIds, fubSecond(planned.eventTime), plan.movedAt !== null ? planned.row.event_id : null));
    return plan.personIds.filter((id) => !done.has(id));
  }

  /** The earliest event seen tells since when webhooks have been watching (FUB's clock). */
  async function noteWatching(since: Date): Promise<void> {
    if (since.getTime() >= watchingFloor) return;
    await noteWatchingSince(db, since);
    watchingFloor = since.getTime();
  }

  async function finish(row: WebhookEventRow, claim: string, result: Parameters<typeof finishEvent>[3], eventLog: Logger): Promise<void> {
    if (!(await finishEvent(db, row.id, claim, result))) {
      eventLog.warn({ intended: result.status }, 'lease lost: another worker re-claimed this event; leaving it to them');
    }
  }

  async function failEvent(row: WebhookEventRow, claim: string, error: Error, eventLog: Logger): Promise<void> {
    const message = error.message || String(error);
    if (row.attempts >= options.maxAttempts) {
      // A person FUB never shows (deleted) is not an error to replay: keep it visible as ignored.
      const result =
        error instanceof PersonNotFoundError
          ? ({ status: 'ignored', reason: `${message} after ${row.attempts} attempts` } as const)
          : ({ status: 'dead', error: message } as const);
      await finish(row, claim, result, eventLog).catch((e: unknown) => eventLog.error({ err: e }, 'could not record failure'));
      eventLog.error({ outcome: result.status, error: message }, 'webhook event gave up');
      return;
    }
    const retryAt = new Date(Date.now() + backoff(row.attempts, options.retryBaseSeconds * 1000, 3_600_000));
    await finish(row, claim, { status: 'failed', error: message, retryAt }, eventLog).catch((e: unknown) =>
      eventLog.error({ err: e }, 'could not record failure'),
    );
    eventLog.warn({ outcome: 'failed', error: message, retryAt }, 'webhook event failed; will retry');
  }

  /** Sleeps `ms`, ending early on stop, and (unless `wakeable` is false) when work is announced. */
  function waitForWork(ms: number, wakeable = true): Promise<void> {
    if (stopping || (wakeable && wakeRequested)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        wakeSleepers = wakeSleepers.filter((s) => s !== wakeOrStop);
        resolve();
      }
      // wake() ends the wait only when it is wakeable; stop() always does.
      function wakeOrStop(): void {
        if (wakeable || stopping) done();
      }
      wakeSleepers.push(wakeOrStop);
    });
  }

  async function loop(): Promise<void> {
    while (!stopping) {
      wakeRequested = false;
      let handled: number;
      try {
        handled = await processBatch();
      } catch (error) {
        log.error({ err: error }, 'processing round failed (database unavailable?); retrying');
        await waitForWork(1000);
        continue;
      }
      if (handled < batchSize) await waitForWork(options.sweepIntervalMs);
    }
  }

  return {
    start() {
      if (loops.length > 0) return;
      stopping = false;
      loops = Array.from({ length: concurrency }, () => loop());
      void stages.refresh();
      log.info({ concurrency, batchSize }, 'event processor started');
    },
    wake() {
      wakeRequested = true;
      for (const sleeper of wakeSleepers) sleeper();
    },
    async drain() {
      let total = 0;
      for (;;) {
        lastLeaseSweep = 0;
        const handled = await processBatch();
        total += handled;
        if (handled === 0) return total;
      }
    },
    async stop() {
      stopping = true;
      for (const sleeper of wakeSleepers) sleeper();
      await Promise.all(loops);
      loops = [];
      stopping = false;
      log.info('event processor stopped');
    },
  };
}

/** First attempts of events no bigger than one FUB call share the batch's calls. */
function sharesFetch(row: WebhookEventRow, plan: Extract<EventPlan, { kind: 'fetch' }>): boolean {
  return row.attempts <= 1 && plan.personIds.length <= PEOPLE_PER_REQUEST;
}

/** What a fetch tells about one person: the move the event dates (if any) and the read. */
function reportOfRead(row: WebhookEventRow, personId: number, person: FubPerson | undefined, moved: Evidence | null): PersonReports | null {
  const evidence: Evidence[] = moved ? [moved] : [];
  const snapshot = person ? snapshotFromRead(person, { source: `webhook_${row.event}`, eventId: row.event_id, receivedAt: row.received_at }) : null;
  if (snapshot) evidence.push(snapshot);
  if (evidence.length === 0 && !person) return null;
  return {
    personId,
    evidence,
    ...(person
      ? { details: { firstName: person.firstName, lastName: person.lastName, assignedUserId: person.assignedUserId, assignedUserName: person.assignedTo, leadSource: person.source } }
      : {}),
  };
}
