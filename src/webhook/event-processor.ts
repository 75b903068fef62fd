import { randomUUID } from 'node:crypto';
import type { ProcessingConfig } from '../shared/config.js';
import type { Db } from '../shared/db/database.js';
import type { WebhookEventRow } from '../shared/db/schema.js';
import { backoff, type FubClient, type FubPerson } from '../shared/fub/fub-client.js';
import { idsForLog, idsInWords } from '../shared/ids-for-log.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { Evidence } from '../shared/stages/evidence.js';
import type { PersonReports } from '../shared/stages/record-person-reports.js';
import { recordReports } from '../shared/stages/record-reports.js';
import { moveFromWebhook, snapshotFromRead, unnamedMoveFromWebhook } from '../shared/stages/report-times.js';
import { createStageDirectory } from '../shared/stages/stage-directory.js';
import { noteWatchingSince } from '../shared/stages/stage-evidence.repository.js';
import { findPeople } from '../shared/stages/people.repository.js';
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

type FetchResult = { people: Map<number, FubPerson> } | { error: Error };

class PersonNotFoundError extends Error {}

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
    // Renew the lease while the batch runs: FUB may keep us waiting (Retry-After) past it.
    const heartbeat = setInterval(() => {
      extendLease(db, claim, options.leaseSeconds).catch((error: unknown) => log.warn({ err: error }, 'could not renew lease'));
    }, Math.max(1000, (options.leaseSeconds * 1000) / 3));
    try {
      const plans = rows.map((row) => ({ row, plan: planEvent(row) }));
      const fetched = await fetchPeople(plans);
      // A few events at once: the person lock serializes any two about the same person, and the
      // core fits reports in whatever order they come.
      let next = 0;
      const unstarted: number[] = [];
      await Promise.all(
        Array.from({ length: Math.min(eventConcurrency, plans.length) }, async () => {
          while (next < plans.length) {
            const { row, plan } = plans[next++]!;
            if (stopping) unstarted.push(row.id);
            else await processEvent(row, plan, fetched.get(row.id), claim);
          }
        }),
      );
      if (unstarted.length > 0) {
        await releaseEvents(db, unstarted, claim);
        log.info({ released: unstarted.length }, 'released unstarted events for shutdown');
      }
    } finally {
      clearInterval(heartbeat);
    }
    return rows.length;
  }

  /**
   * First attempts share FUB calls (100 people each); a retried event is fetched alone, so one
   * person FUB keeps failing on cannot hold other events back.
   */
  async function fetchPeople(plans: { row: WebhookEventRow; plan: EventPlan }[]): Promise<Map<number, FetchResult>> {
    const results = new Map<number, FetchResult>();
    const needing = plans.filter((p) => p.plan.kind === 'fetch');
    const shared = needing.filter((p) => p.row.attempts <= 1);
    const groups = [shared, ...needing.filter((p) => p.row.attempts > 1).map((p) => [p])].filter((g) => g.length > 0);
    await Promise.all(
      groups.map(async (group) => {
        const ids = group.flatMap((p) => (p.plan.kind === 'fetch' ? p.plan.personIds : []));
        let result: FetchResult;
        try {
          result = { people: await fub.getPeopleByIds(ids) };
        } catch (error) {
          result = { error: error as Error };
        }
        for (const p of group) results.set(p.row.id, result);
      }),
    );
    return results;
  }

  async function processEvent(row: WebhookEventRow, plan: EventPlan, fetched: FetchResult | undefined, claim: string): Promise<void> {
    const eventLog = log.child({ eventId: row.event_id, event: row.event, ...idsForLog(row.resource_ids), attempt: row.attempts });
    try {
      if (plan.kind === 'ignore') {
        await finish(row, claim, { status: 'ignored', reason: plan.reason }, eventLog);
        eventLog.info({ outcome: 'ignored', reason: plan.reason }, 'webhook event ignored');
        return;
      }
      if (row.event_created !== null) await noteWatching(row.event_created);
      const reports = await reportsOf(row, plan, fetched);
      for (const report of reports.recorded) await recordReports(db, eventLog, report);
      if (reports.missing.length > 0) throw new PersonNotFoundError(`person ${idsInWords(reports.missing)} not found in FUB yet`);
      await finish(row, claim, { status: 'completed' }, eventLog);
      deps.metrics?.processingLagSeconds.observe((Date.now() - row.received_at.getTime()) / 1000);
      eventLog.info({ outcome: 'completed', people: reports.recorded.length }, 'webhook event processed');
    } catch (error) {
      await failEvent(row, claim, error as Error, eventLog);
    }
  }

  /** What the event tells about each person it names, and whom FUB could not show us. */
  async function reportsOf(
    row: WebhookEventRow,
    plan: Exclude<EventPlan, { kind: 'ignore' }>,
    fetched: FetchResult | undefined,
  ): Promise<{ recorded: PersonReports[]; missing: number[] }> {
    const event = { eventId: row.event_id, event: row.event, receivedAt: row.received_at };
    if (plan.kind === 'delete') {
      return { recorded: plan.personIds.map((personId) => ({ personId, evidence: [], deletedAt: plan.at ?? row.received_at })), missing: [] };
    }
    if (plan.kind === 'stage-given') {
      await stages.resolve([plan.stage]);
      const move = moveFromWebhook({ ...event, eventCreated: plan.at }, plan.stage);
      return { recorded: plan.personIds.map((personId) => ({ personId, evidence: [move] })), missing: [] };
    }
    if (fetched === undefined) throw new Error('people were not fetched');
    if ('error' in fetched) throw fetched.error;
    const read = [...fetched.people.values()];
    await stages.learn(read.flatMap((p) => (p.stageId !== null && p.stage !== null ? [{ id: p.stageId, name: p.stage }] : [])));
    const moved = plan.movedAt !== null ? unnamedMoveFromWebhook({ ...event, eventCreated: plan.movedAt }) : null;
    const recorded: PersonReports[] = [];
    const absent: number[] = [];
    for (const personId of plan.personIds) {
      const person = fetched.people.get(personId);
      const evidence: Evidence[] = moved ? [moved] : [];
      const snapshot = person ? snapshotFromRead(person, { source: `webhook_${row.event}`, eventId: row.event_id, receivedAt: row.received_at }) : null;
      if (snapshot) evidence.push(snapshot);
      if (!person) absent.push(personId);
      if (evidence.length === 0 && !person) continue;
      recorded.push({
        personId,
        evidence,
        ...(person
          ? { details: { firstName: person.firstName, lastName: person.lastName, assignedUserId: person.assignedUserId, assignedUserName: person.assignedTo } }
          : {}),
      });
    }
    // FUB answers nothing for a person it deleted; only the others are worth waiting for.
    const deleted = new Set((await findPeople(db, absent)).filter((p) => p.deleted_at !== null).map((p) => p.person_id));
    return { recorded, missing: absent.filter((id) => !deleted.has(id)) };
  }

  /** The earliest event seen tells since when webhooks have been watching (FUB's clock). */
  async function noteWatching(eventCreated: Date): Promise<void> {
    if (eventCreated.getTime() >= watchingFloor) return;
    await noteWatchingSince(db, eventCreated);
    watchingFloor = eventCreated.getTime();
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
