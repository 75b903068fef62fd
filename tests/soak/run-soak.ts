// The soak: FUB streams webhooks for 60 people to two webhook server processes and a poller, all on
// one database behind a proxy, while servers are killed, the database refuses and stalls, and FUB
// answers 500s. Then every fault ends, the collector catches up, and its rows are checked against
// every move FUB made. Used by tests/soak.test.ts and by `npm run soak`.
import { sql } from 'kysely';
import type { Db } from '../../src/shared/db/database.js';
import { pendingEvents } from '../support/history.js';
import { sleep, waitFor } from '../support/wait.js';
import { createBackgroundPoller } from './background-poller.js';
import { DEFAULT_FAULTS, startFaults, type FaultInjector } from './fault-injector.js';
import type { SoakFigures } from './figures.js';
import { startLeadActivity, type LeadActivity } from './lead-activity.js';
import { randomSeed, seededRandom } from './random.js';
import { checkSoak, type CheckResults } from './soak-checks.js';
import { openSoakEnvironment } from './soak-environment.js';
import { startWebhookServers, type Crash, type WebhookServers } from './webhook-servers.js';
import { WebhookSender } from './webhook-sender.js';

export { formatFigures, type SoakFigures } from './figures.js';

export interface SoakOptions {
  /** How long FUB streams moves while faults strike. */
  streamMs: number;
  /** Replays the same choices (moves, faults, targets); timing still varies run to run. */
  seed?: number;
  people?: number;
  movesPerSecond?: number;
  /** Told what the soak is doing (the CLI prints it). */
  progress?: (message: string) => void;
}

export interface SoakReport {
  figures: SoakFigures;
  checks: CheckResults;
  crashes: readonly Crash[];
  /** True when the three checks held and no server crashed. */
  passed: boolean;
}

const SERVER_ENV = {
  // Short leases and sweeps, so a killed server's events go to the other one within seconds.
  PROCESSING_LEASE_SECONDS: '2',
  PROCESSING_SWEEP_MS: '200',
  // Failed events come back after 1 s, 2 s, 4 s...: a soak has minutes, not hours.
  PROCESSING_RETRY_BASE_SECONDS: '1',
};

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const started = Date.now();
  const say = options.progress ?? (() => undefined);
  const seed = options.seed ?? randomSeed();
  // One source per concern, so the moves FUB makes do not depend on how faults interleave.
  const random = { moves: seededRandom(seed), faults: seededRandom(seed + 1), sender: seededRandom(seed + 2) };
  const personIds = Array.from({ length: options.people ?? 60 }, (_, i) => 70_001 + i);

  const env = await openSoakEnvironment(random.moves, personIds);
  const { sim, tdb, proxy } = env;
  const poller = createBackgroundPoller(env.pollerDb, sim);
  let servers: WebhookServers | undefined;
  let activity: LeadActivity | undefined;
  let faults: FaultInjector | undefined;
  let sender: WebhookSender | undefined;
  try {
    // A backfill first, as a deployment does: every person is then a first sighting in Lead.
    say(`seed ${seed}: first full poll, starting two webhook servers`);
    const backfill = await poller.poller.runOnce({ full: true });
    if (backfill.status !== 'succeeded') throw new Error(`the first full poll ${backfill.status}`);
    servers = await startWebhookServers(sim, env.proxiedUrl, 2, SERVER_ENV);

    sender = new WebhookSender(sim, random.sender, { ports: servers.ports });
    activity = startLeadActivity(sim, sender, random.moves, {
      personIds,
      movesPerSecond: options.movesPerSecond ?? 4,
      burstShare: 0.15,
      lostShare: 0.03,
      redeliveryShare: 0.1,
      maxQueueDelayMs: 1500,
    });
    faults = startFaults({ sim, proxy, servers, random: random.faults }, DEFAULT_FAULTS);
    poller.start(3000);
    const streamStart = Date.now();
    say(`streaming for ${Math.round(options.streamMs / 1000)} s with faults`);
    while (Date.now() - streamStart < options.streamMs) {
      await sleep(Math.min(60_000, options.streamMs - (Date.now() - streamStart)));
      say(`${Math.round((Date.now() - streamStart) / 1000)} s: ${activity.moves.length} moves, faults so far ${JSON.stringify(faults.counts)}`);
    }
    await activity.stop();
    const streamedSeconds = (Date.now() - streamStart) / 1000;

    say('faults off; waiting for FUB to finish delivering and the inbox to empty');
    const catchUp = Date.now();
    await faults.stop();
    await sender.settle();
    await poller.stop();
    await waitFor('the inbox to have no pending events', async () => (await pendingEvents(tdb.db)) === 0, 300_000);
    await poller.pollUntilSucceeded();
    const catchUpSeconds = (Date.now() - catchUp) / 1000;

    const checks = await checkSoak(tdb.db, sim, activity.moves, sender.acknowledgedIds());
    const figures: SoakFigures = {
      seed,
      fubClockOffsetSeconds: Math.round(sim.clockOffsetMs / 1000),
      people: personIds.length,
      moves: activity.moves.length,
      lostOnPurpose: activity.moves.filter((m) => m.lost).length,
      webhooks: { ...sender.counts, acknowledgedEvents: sender.acknowledgedIds().size },
      faults: faults.counts,
      crashes: servers.crashes.length,
      polls: poller.counts,
      inbox: await inboxByStatus(tdb.db),
      rows: checks.rows,
      reportedMoves: checks.reportedMoves,
      missingReportedMoves: checks.missing.length,
      overCountedStages: checks.overCounted.length,
      wrongLastStages: checks.wrongLast.length,
      streamedSeconds: Math.round(streamedSeconds),
      catchUpSeconds: Math.round(catchUpSeconds),
      durationSeconds: Math.round((Date.now() - started) / 1000),
    };
    const passed = checks.missing.length === 0 && checks.overCounted.length === 0 && checks.wrongLast.length === 0 && servers.crashes.length === 0;
    return { figures, checks, crashes: [...servers.crashes], passed };
  } finally {
    // Also after a failure half-way: nothing may outlive the soak (processes, timers, databases).
    await activity?.stop();
    await faults?.stop().catch(() => undefined);
    await sender?.settle();
    await poller.stop();
    await servers?.stopAll();
    await env.close();
  }
}

async function inboxByStatus(db: Db): Promise<Record<string, number>> {
  const { rows } = await sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM webhook_events GROUP BY status ORDER BY status`.execute(db);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
