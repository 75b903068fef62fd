import { sql } from 'kysely';
import cron, { type ScheduledTask } from 'node-cron';
import type { Db } from '../shared/db/database.js';
import type { PollMode } from '../shared/db/schema.js';
import type { PersonRow } from '../shared/db/schema.js';
import { FubMalformedAnswerError, isFubRefusal, type FubClient, type FubPerson, type UnreadablePerson } from '../shared/fub/fub-client.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { SnapshotEvidence } from '../shared/stages/evidence.js';
import { findPeople, markSeenByPoll, type PersonDetails } from '../shared/stages/people.repository.js';
import { recordFirstSightings, type FirstRead } from '../shared/stages/record-first-sightings.js';
import type { PersonReports } from '../shared/stages/record-person-reports.js';
import { recordReports } from '../shared/stages/record-reports.js';
import { snapshotFromRead } from '../shared/stages/report-times.js';
import { createStageDirectory } from '../shared/stages/stage-directory.js';
import { noteWatchingSince } from '../shared/stages/stage-evidence.repository.js';
import {
  closeAbandonedRuns,
  finishPollRun,
  lastCompletePoint,
  readBackfillState,
  readDescendingSort,
  saveBackfillState,
  saveDescendingSort,
  startPollRun,
  type PollCounts,
} from './poll-runs.repository.js';

export interface PollerOptions {
  /** node-cron expression for `start()`. */
  cron: string;
  /** Re-read this much before the last successful poll's start (clock skew, slow commits in FUB). */
  overlapMs: number;
  pageSize?: number;
  /** Told after every page (the CLI draws a progress bar from it). */
  onPage?: (progress: PollProgress) => void;
}

export interface PollProgress {
  mode: PollMode;
  page: number;
  peopleSeen: number;
  /** FUB's `_metadata.total` for the listing, when it gave one. */
  total: number | undefined;
}

export type PollResult =
  | { status: 'succeeded' | 'failed' | 'interrupted'; runId: number; mode: PollMode; counts: PollCounts; error?: string }
  | { status: 'skipped'; reason: string };

export interface Poller {
  /** One poll now: incremental, or a full walk when asked, when no poll ever succeeded, or to resume one. */
  runOnce(options?: { full?: boolean }): Promise<PollResult>;
  /** Polls now, then on the cron schedule. */
  start(): void;
  /** Stops the schedule and interrupts a running poll after its current page. */
  stop(): Promise<void>;
}

// People read each way when checking FUB's sort order: enough to judge an order, not a full page.
const PROBE_SIZE = 25;

// Only one poll at a time across every process sharing the database.
const POLL_LOCK_KEY = 0x0f0b_9011;

export function createPoller(deps: { db: Db; log: Logger; fub: FubClient; options: PollerOptions; metrics?: Metrics }): Poller {
  const { db, fub, options } = deps;
  const log = deps.log.child({ component: 'poller' });
  const pageSize = options.pageSize ?? 100;
  let running: Promise<PollResult> | undefined;
  let interruptRequested = false;
  let task: ScheduledTask | undefined;
  const stages = createStageDirectory({ db, fub, log });

  async function poll(full: boolean): Promise<PollResult> {
    return db.connection().execute(async (conn) => {
      const { rows } = await sql<{ locked: boolean }>`SELECT pg_try_advisory_lock(${POLL_LOCK_KEY}) AS locked`.execute(conn);
      if (!rows[0]?.locked) {
        log.info('another poll is running elsewhere; this one is skipped');
        return { status: 'skipped', reason: 'another poll holds the lock' } as const;
      }
      try {
        await closeAbandonedRuns(db);
        return await pollLocked(full);
      } finally {
        await sql`SELECT pg_advisory_unlock(${POLL_LOCK_KEY})`.execute(conn);
      }
    });
  }

  async function pollLocked(fullRequested: boolean): Promise<PollResult> {
    const backfill = await readBackfillState(db);
    const lastComplete = await lastCompletePoint(db);
    const mode: PollMode = fullRequested || lastComplete === undefined || backfill.cursor !== null ? 'full' : 'incremental';
    // FUB's clock, like the `updated` it is compared with (complete_as_of is kept on FUB's clock).
    const watermark = mode === 'incremental' ? new Date(lastComplete!.getTime() - options.overlapMs) : null;
    const run = await startPollRun(db, mode, watermark);
    const counts: PollCounts = { pages: 0, people_seen: 0, changes_inserted: 0, changes_skipped_as_duplicate: 0, api_calls: 0 };
    const runLog = log.child({ runId: run.id, mode });
    runLog.info({ watermark, resumingBackfill: mode === 'full' && backfill.cursor !== null }, 'poll started');
    const callsBefore = fub.stats.calls;
    const start = startOnFubClock();
    const unreadable: UnreadablePerson[] = [];
    try {
      const completeAsOf =
        mode === 'full'
          ? await walkAll(start, backfill.cursor !== null && !fullRequested ? backfill : null, counts, unreadable, runLog)
          : await walkChangedSince(watermark!, start, counts, unreadable, runLog).then((done) => (done ? start() : undefined));
      counts.api_calls = fub.stats.calls - callsBefore;
      if (completeAsOf === undefined) {
        await finishPollRun(db, run.id, { status: 'interrupted' }, counts);
        runLog.info(counts, 'poll interrupted');
        return { status: 'interrupted', runId: run.id, mode, counts };
      }
      // Everyone else is recorded; failing keeps the watermark, so the next poll reads them again.
      if (unreadable.length > 0) throw new Error(describeUnreadable(unreadable));
      await finishPollRun(db, run.id, { status: 'succeeded', completeAsOf }, counts);
      runLog.info({ status: 'succeeded', ...counts }, 'poll finished');
      return { status: 'succeeded', runId: run.id, mode, counts };
    } catch (error) {
      counts.api_calls = fub.stats.calls - callsBefore;
      const message = (error as Error).message;
      await finishPollRun(db, run.id, { status: 'failed', error: message }, counts);
      runLog.error({ err: error, ...counts }, 'poll failed; the next poll starts from the same point');
      return { status: 'failed', runId: run.id, mode, counts, error: message };
    }
  }

  /**
   * When this poll began, on FUB's clock: everything FUB changed before it is read once the poll
   * succeeds. Asked after the first answer, which tells FUB's clock; a second early for the `Date`
   * header's whole seconds.
   */
  function startOnFubClock(): () => Date {
    const localStart = Date.now();
    return () => new Date(fub.clock.toFub(localStart).getTime() - 1000);
  }

  /** Newest first, stopping at the watermark. Returns false when interrupted. */
  async function walkChangedSince(watermark: Date, start: () => Date, counts: PollCounts, unreadable: UnreadablePerson[], runLog: Logger): Promise<boolean> {
    let next: string | undefined;
    const followed = new Set<string>();
    let ascending = (await readDescendingSort(db) ?? (await probeDescendingSort(runLog))) === false;
    for (;;) {
      if (interruptRequested) return false;
      const page = await fetchPage({ sort: '-updated' }, next, counts, unreadable);
      if (next === undefined) await noteWatchingSince(db, start());
      const people = page.people;
      // FUB documents `sort=updated`; if a page is not newest first, the '-' was not honoured and
      // the only safe way on is to read every page (nothing can be skipped by date).
      if (!ascending && !isNewestFirst(people)) {
        ascending = true;
        await saveDescendingSort(db, false);
        runLog.warn('FUB did not sort people newest first for sort=-updated; reading every page from now on');
      }
      await observePage(
        people.filter((p) => p.updated === null || p.updated >= watermark),
        counts,
        runLog,
      );
      report('incremental', counts, page.total);
      const oldest = people[people.length - 1]?.updated;
      if (!ascending && oldest != null && oldest < watermark) return true;
      if (!page.next || people.length === 0) return true;
      next = notFollowedYet(page.next, followed);
    }
  }

  /**
   * Every person once, resumable: the cursor is saved after each page. Returns when the walk began
   * (FUB's clock: all changes before it are now read), or undefined when interrupted.
   */
  async function walkAll(
    runStart: () => Date,
    resumeFrom: { cursor: string | null; startedAt: Date | null; peopleSeen: number } | null,
    counts: PollCounts,
    unreadable: UnreadablePerson[],
    runLog: Logger,
  ): Promise<Date | undefined> {
    let resume = resumeFrom;
    let startedAt = resume?.startedAt ?? undefined;
    let next = resume?.cursor ?? undefined;
    let seenBefore = resume?.peopleSeen ?? 0;
    const followed = new Set<string>(next === undefined ? [] : [next]);
    if (resume) runLog.info({ peopleAlreadySeen: seenBefore }, 'resuming the interrupted full walk');
    else await saveBackfillState(db, { cursor: null, startedAt: null, peopleSeen: 0 });
    // Every stage's name now, before any can be renamed: webhooks sent before a rename use the old one.
    await stages.refresh();
    for (;;) {
      if (interruptRequested) return undefined;
      let page: Awaited<ReturnType<typeof fetchPage>>;
      try {
        page = await fetchPage({ sort: 'created' }, next, counts, unreadable);
      } catch (error) {
        // A saved cursor FUB no longer accepts (expired) would fail every run: start the walk over.
        if (!(resume && next === resume.cursor && isFubRefusal(error))) throw error;
        runLog.warn({ err: error }, 'FUB refused the saved cursor; starting the full walk over');
        next = undefined;
        followed.clear();
        seenBefore = 0;
        resume = null;
        startedAt = undefined;
        await saveBackfillState(db, { cursor: null, startedAt: null, peopleSeen: 0 });
        continue;
      }
      if (startedAt === undefined) {
        startedAt = runStart();
        await noteWatchingSince(db, startedAt);
      }
      await observePage(page.people, counts, runLog);
      seenBefore += page.people.length;
      report('full', { ...counts, people_seen: seenBefore }, page.total);
      if (!page.next || page.people.length === 0) {
        await saveBackfillState(db, null);
        if ((await readDescendingSort(db)) === null) {
          // Worth knowing before the first incremental poll, but not worth failing a finished walk.
          await probeDescendingSort(runLog).catch((error: unknown) => runLog.warn({ err: error }, 'could not check FUB sort order yet'));
        }
        return startedAt;
      }
      next = notFollowedYet(page.next, followed);
      // Not past a page with someone we could not read: a walk resumed later must read them again.
      if (unreadable.length === 0) await saveBackfillState(db, { cursor: next, startedAt, peopleSeen: seenBefore });
    }
  }

  /**
   * The docs confirm `sort=updated` but not the '-' for newest first: read a page both ways (two
   * calls, once per database). Honoured when the '-' page is newest first, the other oldest first,
   * and they start with different people. A 4xx for '-updated' means it is not supported.
   */
  async function probeDescendingSort(runLog: Logger): Promise<boolean | null> {
    const page = async (sort: string): Promise<FubPerson[]> => (await fub.getPeoplePage({ sort, limit: PROBE_SIZE })).people;
    let down: FubPerson[];
    try {
      down = await page('-updated');
    } catch (error) {
      if (!isFubRefusal(error)) throw error;
      await saveDescendingSort(db, false);
      runLog.warn({ err: error }, 'FUB refused sort=-updated; incremental polls will read every page');
      return false;
    }
    const up = await page('updated');
    if (down.length < 2 || up.length < 2) return null; // too few people to tell yet
    const honoured = down[0]!.id !== up[0]!.id && isNewestFirst(down) && isNewestFirst([...up].reverse());
    await saveDescendingSort(db, honoured);
    runLog.info({ descendingSort: honoured }, honoured ? 'FUB sorts newest first' : 'FUB ignores sort=-updated; incremental polls will read every page');
    return honoured;
  }

  /** A checked page (a malformed answer throws: it is never "nobody changed"); people it could not read are noted. */
  async function fetchPage(
    order: { sort: string },
    next: string | undefined,
    counts: PollCounts,
    unreadable: UnreadablePerson[],
  ): Promise<{ people: FubPerson[]; next: string | undefined; total: number | undefined }> {
    const page = await fub.getPeoplePage({ ...order, limit: pageSize, next });
    counts.pages += 1;
    unreadable.push(...page.unreadable);
    return page;
  }

  /**
   * One read for the page's known states. People never seen are recorded in one statement; only
   * people whose read differs from the last one kept (stage or `updated`) go through the core. A
   * full walk over an unchanged account costs a query or two per page.
   */
  async function observePage(people: FubPerson[], counts: PollCounts, runLog: Logger): Promise<void> {
    counts.people_seen += people.length;
    await stages.learn(people.flatMap((p) => (p.stageId !== null && p.stage !== null ? [{ id: p.stageId, name: p.stage }] : [])));
    const known = new Map((await findPeople(db, people.map((p) => p.id))).map((row) => [row.person_id, row]));
    const receivedAt = new Date();
    const firstReads: FirstRead[] = [];
    const changed: { reports: PersonReports; stageDiffers: boolean }[] = [];
    for (const person of people) {
      const snapshot = snapshotFromRead(person, { source: 'polling', eventId: null, receivedAt });
      if (snapshot === null) continue;
      const details: PersonDetails = {
        firstName: person.firstName,
        lastName: person.lastName,
        assignedUserId: person.assignedUserId,
        assignedUserName: person.assignedTo,
        leadSource: person.source,
      };
      const row = known.get(person.id);
      if (row === undefined) {
        firstReads.push({ personId: person.id, snapshot, details });
        continue;
      }
      if (isLastRead(row, snapshot) && !detailsDiffer(row, details)) continue;
      changed.push({ reports: { personId: person.id, evidence: [snapshot], details }, stageDiffers: !isStage(row, snapshot) });
    }
    const recorded = await recordFirstSightings(db, firstReads);
    counts.changes_inserted += recorded.size;
    if (recorded.size > 0) runLog.info({ people: recorded.size }, 'first stage recorded for people not seen before');
    for (const read of firstReads) {
      if (!recorded.has(read.personId)) changed.push({ reports: { personId: read.personId, evidence: [read.snapshot], details: read.details }, stageDiffers: true });
    }
    // The page's people in one transaction (each person is still rebuilt on their own).
    const outcomes = await recordReports(db, runLog, changed.map((c) => c.reports));
    const stageDiffers = new Set(changed.flatMap((c) => (c.stageDiffers ? [c.reports.personId] : [])));
    for (const outcome of outcomes) {
      counts.changes_inserted += outcome.inserted.length;
      // FUB disagreed with what we knew, yet the history already explains this read.
      if (outcome.inserted.length === 0 && stageDiffers.has(outcome.personId)) counts.changes_skipped_as_duplicate += 1;
    }
    const readAt = people[0]?.readAt;
    if (readAt) await markSeenByPoll(db, people.map((p) => p.id), readAt);
  }

  function report(mode: PollMode, counts: PollCounts, total: number | undefined): void {
    const progress = { mode, page: counts.pages, peopleSeen: counts.people_seen, total };
    if (options.onPage) options.onPage(progress);
    else log.info(progress, 'poll page read');
  }

  const poller: Poller = {
    async runOnce({ full = false } = {}) {
      if (running) {
        log.info('the previous poll is still running; this tick is skipped');
        return { status: 'skipped', reason: 'previous poll still running' };
      }
      interruptRequested = false;
      const stopTimer = deps.metrics?.pollDurationSeconds.startTimer();
      running = poll(full);
      try {
        const result = await running;
        if (result.status !== 'skipped') stopTimer?.({ status: result.status });
        return result;
      } finally {
        running = undefined;
      }
    },
    start() {
      if (task) return;
      const tick = (): void => {
        poller.runOnce().catch((error: unknown) => log.error({ err: error }, 'poll could not run (database unavailable?)'));
      };
      task = cron.schedule(options.cron, tick);
      log.info({ cron: options.cron }, 'poller scheduled');
      tick();
    },
    async stop() {
      await task?.stop();
      task = undefined;
      interruptRequested = true;
      await running?.catch(() => undefined);
    },
  };
  return poller;
}

/**
 * The cursor to follow next, noted; one this walk already followed would lead round the same pages
 * for ever (FUB, or a cache that ignores the query, repeating itself): a malformed answer.
 */
function notFollowedYet(cursor: string, followed: Set<string>): string {
  if (followed.has(cursor)) {
    throw new FubMalformedAnswerError(`FUB /people gave a cursor this walk already followed (${followed.size} pages on): the listing would never end`, 200);
  }
  followed.add(cursor);
  return cursor;
}

/** The read is the one we kept last: same `updated`, same stage. */
function isLastRead(row: PersonRow, read: SnapshotEvidence): boolean {
  return row.fub_updated_at !== null && row.fub_updated_at.getTime() === read.at.getTime() && sameStage(row.fub_stage_id, row.fub_stage, read);
}

/** The read finds the person in the stage their history ends in. */
function isStage(row: PersonRow, read: SnapshotEvidence): boolean {
  return sameStage(row.stage_id, row.stage, read);
}

/** By id when both sides know it (a rename keeps the id), else by name. */
function sameStage(id: number | null, name: string | null, read: SnapshotEvidence): boolean {
  if (id !== null && read.stage.id !== null) return id === read.stage.id;
  return name === read.stage.name;
}

function detailsDiffer(row: PersonRow, details: PersonDetails): boolean {
  return (
    row.first_name !== details.firstName ||
    row.last_name !== details.lastName ||
    row.assigned_user_id !== details.assignedUserId ||
    row.assigned_user_name !== details.assignedUserName ||
    row.lead_source !== details.leadSource
  );
}

/** Every person updated no later than the one before (people without a date are not judged). */
function isNewestFirst(people: FubPerson[]): boolean {
  const dates = people.map((p) => p.updated).filter((d): d is Date => d !== null);
  return dates.every((d, i) => i === 0 || d <= dates[i - 1]!);
}

/** Why a poll that read every page still failed: people FUB sent that could not be read. */
function describeUnreadable(unreadable: UnreadablePerson[]): string {
  const ids = unreadable.map((u) => (u.id === null ? 'without an id' : String(u.id)));
  const shown = ids.length > 10 ? `${ids.slice(0, 10).join(', ')} and ${ids.length - 10} more` : ids.join(', ');
  return (
    `FUB sent ${unreadable.length} ${unreadable.length === 1 ? 'person' : 'people'} we could not read (${shown}; first: ${unreadable[0]!.reason}); ` +
    'everyone else was recorded, and the next poll reads them again from the same point'
  );
}
