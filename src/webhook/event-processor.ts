import { randomUUID } from 'node:crypto';
import type { ProcessingConfig } from '../shared/config.js';
import type { Db } from '../shared/db/database.js';
import { PEOPLE_PER_REQUEST, type FubClient, type FubPerson } from '../shared/fub/fub-client.js';
import { idsForLog, idsInWords } from '../shared/ids-for-log.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { Evidence } from '../shared/stages/evidence.js';
import type { PersonReports } from '../shared/stages/record-person-reports.js';
import { recordReports, recordReportsWith } from '../shared/stages/record-reports.js';
import { fubSecond, moveFromWebhook, snapshotFromRead, trustedEventTime, unnamedMoveFromWebhook, watchingSinceOf } from '../shared/stages/report-times.js';
import { createStageDirectory } from '../shared/stages/stage-directory.js';
import { noteWatchingSince } from '../shared/stages/stage-evidence.repository.js';
import { findPeople, findReadSince } from '../shared/stages/people.repository.js';
import { keepLeaseAlive } from './claim-leases.js';
import { PersonNotFoundError, refusedForItsData, resultOfFailure } from './event-outcome.js';
import { fetchPeopleInChunks, type PeopleFetch, type PersonRead } from './fetch-people.js';
import { planEvent, type EventPlan } from './plan-event.js';
import type { ReceivingLoad } from './receiving-load.js';
import { claimDueEvents, expireLeases, finishEvents, releaseEvents, type ClaimedEvent, type EventResult } from './webhook-events.repository.js';

export interface EventProcessorOptions extends ProcessingConfig {
  /** Events claimed per round; their people are fetched together (100 per FUB call) and recorded together. */
  batchSize?: number;
  /** Claim loops running side by side in this process (one records while another waits on FUB). */
  concurrency?: number;
  /** Events that read their own people (big or retried ones) handled side by side. */
  eventConcurrency?: number;
  workerId?: string;
}

export interface EventProcessor {
  start(): void;
  /** Something was stored: look now instead of at the next sweep. */
  wake(): void;
  /** Processes due events until none are left (tests, CLI). Returns how many were handled. */
  drain(): Promise<number>;
  /** Stops claiming, finishes the work in hand, hands the rest back. */
  stop(): Promise<void>;
}

/** A claimed event, what it takes, and the time it can be trusted with (FUB's clock). */
interface PlannedEvent {
  row: ClaimedEvent;
  plan: EventPlan;
  /** `eventCreated` when it can be FUB's own (see trustedEventTime). */
  eventTime: Date | null;
  /** FUB's clock when we received the event. */
  fubReceivedAt: Date;
}

/** What one attempt at an event came to: the reports to record, and how the event ends. */
interface EventWork {
  planned: PlannedEvent;
  reports: PersonReports[];
  /** Part of the event could not be done: it is retried, and what it did learn is recorded all the same. */
  failure?: Error;
  /** Nothing to record, and why. */
  ignored?: string;
}

/** Shutdown came while the event waited on FUB: hand it back untouched rather than count an attempt. */
class HandBack extends Error {}

// Shared people reads of one batch in flight at once (100 people each; the rate limiter paces them).
const SHARED_READS_AHEAD = 4;
// While a burst is being received, processing waits up to this long between batches, and claims
// this many times its batch size when it goes on.
const GIVE_WAY_MS = 500;
const BURST_BATCH_FACTOR = 5;

export function createEventProcessor(deps: {
  db: Db;
  log: Logger;
  fub: FubClient;
  options: EventProcessorOptions;
  metrics?: Metrics;
  /** The receiving path in this process: while it is busy with a burst, processing gives way. */
  load?: Pick<ReceivingLoad, 'busy'>;
}): EventProcessor {
  const { db, fub, options } = deps;
  const workerId = options.workerId ?? `worker-${randomUUID()}`;
  const log = deps.log.child({ component: 'event-processor', workerId });
  const batchSize = options.batchSize ?? 200;
  const concurrency = options.concurrency ?? 2;
  const eventConcurrency = options.eventConcurrency ?? 2;
  let stopping = false;
  let loops: Promise<void>[] = [];
  let wakeRequested = false;
  let wakeSleepers: (() => void)[] = [];
  let lastLeaseSweep = 0;
  let backlog = false;
  const stages = createStageDirectory({ db, fub, log });
  // The earliest eventCreated this process has noted as "watching since" (skips the write after that).
  let watchingFloor = Number.POSITIVE_INFINITY;

  /**
   * One claimed batch, in three steps: the events that say it all (a named stage, a deletion, nothing
   * to do) are recorded together at once while FUB reads the people of the small events; those are
   * recorded together once read (in a burst or its backlog, with the named moves of the same
   * people); big or retried events then read their own people.
   */
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
    // A burst coming in: leave the cores to acknowledging it for a moment, then take a bigger
    // batch (one transaction costs about the same for 200 people as for 1,000).
    const gaveWay = await giveWay();
    if (stopping) return 0;
    // A burst being received, or the backlog one leaves (the last claim came back full).
    const burst = gaveWay || backlog;
    const claim = `${workerId}/${randomUUID()}`;
    const limit = burst ? batchSize * BURST_BATCH_FACTOR : batchSize;
    const rows = await claimDueEvents(db, { claimToken: claim, limit, leaseSeconds: options.leaseSeconds });
    backlog = rows.length === limit;
    if (rows.length === 0) return 0;
    const stopLease = keepLeaseAlive(db, claim, options.leaseSeconds, log);
    let shared: PeopleFetch | undefined;
    try {
      const plans = await planEvents(rows);
      const fetching = (p: PlannedEvent): p is PlannedEvent & { plan: { kind: 'fetch' } } => p.plan.kind === 'fetch';
      const sharing = plans.filter(fetching).filter((p) => sharesFetch(p.row, p.plan));
      const own = plans.filter(fetching).filter((p) => !sharesFetch(p.row, p.plan));
      shared = fetchPeopleInChunks(fub, sharing.flatMap((p) => p.plan.personIds), { ahead: SHARED_READS_AHEAD, stopped: () => stopping });
      await noteWatching(plans);
      const given = await workOfGiven(plans.filter((p) => !fetching(p)));
      // In a burst, or a batch bigger than one (the backlog a burst left), a named move of someone
      // this batch also reads (FUB sends peopleStageUpdated and peopleUpdated for each move) is
      // recorded with the read, once it is in: one rebuild of that person instead of two. Otherwise
      // it is recorded at once, without waiting for FUB (its lag is what counts then). A full claim
      // alone does not say a backlog is left: it may have taken the last events there were.
      const readPeople = gaveWay || rows.length > batchSize ? new Set(sharing.flatMap((p) => p.plan.personIds)) : new Set<number>();
      const withReads = new Set(given.filter((w) => w.planned.plan.kind === 'stage-given' && w.reports.every((r) => readPeople.has(r.personId))));
      await record(given.filter((w) => !withReads.has(w)), claim);
      // Reads never throw (a failed read is that person's); what does is the database, and then the
      // round fails rather than failing each event in turn: they come back when their leases end.
      let read: EventWork[] | undefined;
      try {
        read = await readShared(sharing, shared);
      } catch (error) {
        if (!(error instanceof HandBack)) {
          // The moves kept for the reads are recorded all the same (the round's error is the one told).
          await record([...withReads], claim).catch(() => undefined);
          throw error;
        }
      }
      if (read === undefined || stopping) {
        await handBack(sharing, claim);
        read = [];
      }
      await record([...withReads, ...read], claim);
      let next = 0;
      const unstarted: PlannedEvent[] = [];
      await Promise.all(
        Array.from({ length: Math.min(eventConcurrency, own.length) }, async () => {
          while (next < own.length) {
            const planned = own[next++]!;
            if (stopping) unstarted.push(planned);
            else await processOwnFetch(planned, claim);
          }
        }),
      );
      await handBack(unstarted, claim);
    } finally {
      await shared?.settled();
      stopLease();
    }
    return rows.length;
  }

  /**
   * Plans each event with the time it can be trusted with. An `eventCreated` past FUB's clock at
   * receipt is checked against a fresh reading of FUB's clock first (one call per batch at most).
   */
  async function planEvents(rows: ClaimedEvent[]): Promise<PlannedEvent[]> {
    const fubReceived = (row: ClaimedEvent): Date => fub.clock.toFub(row.received_at.getTime());
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

  /** Events that say it all: a named stage (one move per person), a deletion, or nothing to do. */
  async function workOfGiven(plans: PlannedEvent[]): Promise<EventWork[]> {
    await stages.resolve(plans.flatMap(({ plan }) => (plan.kind === 'stage-given' ? [plan.stage] : [])));
    return plans.map((planned): EventWork => {
      const { row, plan } = planned;
      const event = { eventId: row.event_id, event: row.event, receivedAt: row.received_at };
      if (plan.kind === 'ignore') return { planned, reports: [], ignored: plan.reason };
      if (plan.kind === 'delete') return { planned, reports: plan.personIds.map((personId) => ({ personId, evidence: [], deletedAt: plan.at ?? row.received_at })) };
      if (plan.kind !== 'stage-given') throw new Error(`event ${row.event_id} needs a fetch`);
      const move = moveFromWebhook({ ...event, eventCreated: plan.at }, plan.stage, stages.idOf(plan.stage));
      return { planned, reports: plan.personIds.map((personId) => ({ personId, evidence: [move] })) };
    });
  }

  /**
   * The small events' people, as the batch's shared reads return them: a call's worth at a time, in
   * the order they are read ahead (asking for every person at once would start every call at once),
   * and no further once told to stop (HandBack).
   */
  async function readShared(plans: (PlannedEvent & { plan: { kind: 'fetch' } })[], shared: PeopleFetch): Promise<EventWork[]> {
    const reads = new Map<number, PersonRead>();
    const ids = [...new Set(plans.flatMap((p) => p.plan.personIds))];
    for (let i = 0; i < ids.length; i += PEOPLE_PER_REQUEST) {
      if (stopping) throw new HandBack();
      await Promise.all(ids.slice(i, i + PEOPLE_PER_REQUEST).map(async (id) => reads.set(id, await shared.read(id))));
    }
    await learnStages([...reads.values()]);
    return workOfReads(plans.map((planned) => ({ planned, reads: planned.plan.personIds.map((id) => [id, reads.get(id)!] as const) })));
  }

  /**
   * What reads tell about each event's people. An event fails (and is retried) for anyone who could
   * not be read, else for anyone FUB did not show whom nobody deleted (not visible yet).
   */
  async function workOfReads(events: { planned: PlannedEvent; reads: readonly (readonly [number, PersonRead])[] }[]): Promise<EventWork[]> {
    const deleted = await deletedAmong(events.flatMap(({ reads }) => reads));
    return events.map(({ planned, reads }): EventWork => {
      const { reports, failed, missing } = learnedFrom(planned, reads, deleted);
      const failure = failureOf(failed, missing);
      return { planned, reports, ...(failure ? { failure } : {}) };
    });
  }

  /** Of the people FUB did not show, those it deleted (FUB answers nothing for them). */
  async function deletedAmong(reads: readonly (readonly [number, PersonRead])[]): Promise<Set<number>> {
    const absent = [...new Set(reads.flatMap(([id, read]) => ('absent' in read ? [id] : [])))];
    return new Set((await findPeople(db, absent)).filter((p) => p.deleted_at !== null).map((p) => p.person_id));
  }

  /**
   * A big or retried event reads its own people a chunk at a time and records each chunk as it comes
   * (what is recorded stays recorded, so a chunk boundary is a safe place to stop), reading only the
   * people not yet read since it happened. Holds up no one else's events.
   */
  async function processOwnFetch(planned: PlannedEvent & { plan: { kind: 'fetch' } }, claim: string): Promise<void> {
    const { row, plan } = planned;
    const eventLog = eventLogOf(row);
    const toRead = await stillToRead(planned, plan).catch(async (error: unknown) => {
      await fail(planned, claim, error as Error);
      return undefined;
    });
    if (toRead === undefined) return;
    const fetch = fetchPeopleInChunks(fub, toRead, { ahead: 1, stopped: () => stopping });
    let recorded = 0;
    const failed: FailedRead[] = [];
    const missing: number[] = [];
    try {
      for (let i = 0; i < toRead.length; i += PEOPLE_PER_REQUEST) {
        const chunk = toRead.slice(i, i + PEOPLE_PER_REQUEST);
        const reads = await Promise.all(chunk.map(async (personId) => [personId, await fetch.read(personId)] as const));
        if (stopping) throw new HandBack();
        await learnStages(reads.map(([, read]) => read));
        const learned = learnedFrom(planned, reads, await deletedAmong(reads));
        await recordReports(db, eventLog, learned.reports);
        recorded += learned.reports.length;
        failed.push(...learned.failed);
        missing.push(...learned.missing);
      }
    } catch (error) {
      if (error instanceof HandBack) await handBack([planned], claim);
      else await fail(planned, claim, error as Error);
      return;
    } finally {
      await fetch.settled();
    }
    // Recorded chunk by chunk above: only the event's end is left.
    const failure = failureOf(failed, missing);
    await record([{ planned, reports: [], ...(failure ? { failure } : {}) }], claim, recorded);
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

  /**
   * Records what several events learned in one transaction, and ends them in it, so an event is never
   * completed without its rows. If that fails, each event is tried on its own: one event the database
   * refuses fails alone.
   */
  async function record(works: EventWork[], claim: string, recordedBefore = 0): Promise<void> {
    if (works.length === 0) return;
    // Decided once: the retry time stored is the one logged.
    const results = works.map((w) => ({ id: w.planned.row.id, result: resultOf(w) }));
    let finished: Set<number>;
    try {
      finished = (await recordReportsWith(db, log, works.flatMap((w) => w.reports), (trx) => finishEvents(trx, claim, results))).alongside;
    } catch (error) {
      if (works.length === 1) return fail(works[0]!.planned, claim, error as Error);
      // The database itself unavailable: the round fails, and the events come back when their leases end.
      if (!refusedForItsData(error)) throw error;
      log.warn({ err: error, events: works.length }, 'could not record the batch together; recording its events one at a time');
      for (const work of works) await record([work], claim);
      return;
    }
    works.forEach((work, i) => {
      const { row } = work.planned;
      const { result } = results[i]!;
      const eventLog = eventLogOf(row);
      if (!finished.has(row.id)) eventLog.warn({ intended: result.status }, 'lease lost: another worker re-claimed this event; leaving it to them');
      else if (work.failure) logFailure(eventLog, result, work.failure);
      else if (work.ignored !== undefined) eventLog.info({ outcome: 'ignored', reason: work.ignored }, 'webhook event ignored');
      else {
        deps.metrics?.processingLagSeconds.observe((Date.now() - row.received_at.getTime()) / 1000);
        eventLog.info({ outcome: 'completed', people: recordedBefore + work.reports.length }, 'webhook event processed');
      }
    });
  }

  function resultOf(work: EventWork): EventResult {
    if (work.failure) return resultOfFailure(work.planned.row.attempts, work.failure, options);
    return work.ignored !== undefined ? { status: 'ignored', reason: work.ignored } : { status: 'completed' };
  }

  /** Ends an event whose attempt failed as a whole (nothing of it recorded). */
  async function fail(planned: PlannedEvent, claim: string, error: Error): Promise<void> {
    const { row } = planned;
    const result = resultOfFailure(row.attempts, error, options);
    const eventLog = eventLogOf(row);
    try {
      if (!(await finishEvents(db, claim, [{ id: row.id, result }])).has(row.id)) {
        eventLog.warn({ intended: result.status }, 'lease lost: another worker re-claimed this event; leaving it to them');
        return;
      }
    } catch (e) {
      eventLog.error({ err: e }, 'could not record failure');
    }
    logFailure(eventLog, result, error);
  }

  function logFailure(eventLog: Logger, result: EventResult, error: Error): void {
    const message = error.message || String(error);
    if (result.status === 'failed') eventLog.warn({ outcome: 'failed', error: message, retryAt: result.retryAt }, 'webhook event failed; will retry');
    else eventLog.error({ outcome: result.status, error: message }, 'webhook event gave up');
  }

  async function handBack(plans: PlannedEvent[], claim: string): Promise<void> {
    if (plans.length === 0) return;
    await releaseEvents(db, plans.map((p) => p.row.id), claim);
    log.info({ released: plans.length }, 'released events for shutdown');
  }

  function eventLogOf(row: ClaimedEvent): Logger {
    return log.child({ eventId: row.event_id, event: row.event, ...idsForLog(row.resource_ids), attempt: row.attempts });
  }

  async function learnStages(reads: readonly PersonRead[]): Promise<void> {
    const people = reads.flatMap((read) => ('person' in read ? [read.person] : []));
    await stages.learn(people.flatMap((p) => (p.stageId !== null && p.stage !== null ? [{ id: p.stageId, name: p.stage }] : [])));
  }

  /** The earliest event seen tells since when webhooks have been watching (FUB's clock). */
  async function noteWatching(plans: PlannedEvent[]): Promise<void> {
    let earliest: Date | null = null;
    for (const p of plans) {
      if (p.plan.kind === 'ignore') continue;
      const since = watchingSinceOf(p.eventTime, p.fubReceivedAt);
      if (since !== null && (earliest === null || since < earliest)) earliest = since;
    }
    if (earliest === null || earliest.getTime() >= watchingFloor) return;
    await noteWatchingSince(db, earliest);
    watchingFloor = earliest.getTime();
  }

  /** Waits (up to GIVE_WAY_MS) while the receiving path is busy; true if it was. */
  async function giveWay(): Promise<boolean> {
    if (!deps.load?.busy()) return false;
    const until = Date.now() + GIVE_WAY_MS;
    while (!stopping && deps.load.busy() && Date.now() < until) await waitForWork(25, false);
    return true;
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

interface FailedRead {
  personId: number;
  error: Error;
}

/** What an event's reads tell: a report per person read, who could not be read, and who FUB did not show (not deleted). */
function learnedFrom(
  planned: PlannedEvent,
  reads: readonly (readonly [number, PersonRead])[],
  deleted: ReadonlySet<number>,
): { reports: PersonReports[]; failed: FailedRead[]; missing: number[] } {
  const { row, plan } = planned;
  const movedAt = plan.kind === 'fetch' ? plan.movedAt : null;
  const moved = movedAt !== null ? unnamedMoveFromWebhook({ eventId: row.event_id, event: row.event, receivedAt: row.received_at, eventCreated: movedAt }) : null;
  const reports: PersonReports[] = [];
  const failed: FailedRead[] = [];
  const missing: number[] = [];
  for (const [personId, read] of reads) {
    if ('error' in read) {
      failed.push({ personId, error: read.error });
      continue;
    }
    const person = 'person' in read ? read.person : undefined;
    if (!person && !deleted.has(personId)) missing.push(personId);
    const report = reportOfRead(row, personId, person, moved);
    if (report !== null) reports.push(report);
  }
  return { reports, failed, missing };
}

/** Why an event is retried: anyone FUB could not give us, else anyone it does not show yet. */
function failureOf(failed: readonly FailedRead[], missing: readonly number[]): Error | undefined {
  if (failed.length > 0) {
    const first = failed[0]!;
    const who = failed.length === 1 ? `person ${first.personId}` : `${failed.length} people (first ${first.personId})`;
    return new Error(`${who} could not be read from FUB: ${first.error.message}`);
  }
  return missing.length > 0 ? new PersonNotFoundError(`person ${idsInWords(missing)} not found in FUB yet`) : undefined;
}

/** First attempts of events no bigger than one FUB call share the batch's calls. */
function sharesFetch(row: ClaimedEvent, plan: Extract<EventPlan, { kind: 'fetch' }>): boolean {
  return row.attempts <= 1 && plan.personIds.length <= PEOPLE_PER_REQUEST;
}

/** What a fetch tells about one person: the move the event dates (if any) and the read. */
function reportOfRead(row: ClaimedEvent, personId: number, person: FubPerson | undefined, moved: Evidence | null): PersonReports | null {
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
