// Agents moving leads in FUB: every move changes the simulated person and hands FUB's webhooks for
// it (peopleStageUpdated with data.stage, and peopleUpdated) to the sender; a few are never sent.
import type { FubSimulator, WebhookEnvelope } from '../../fub-simulator/fub-simulator.js';
import { sleep } from '../support/wait.js';
import type { Random } from './random.js';
import type { WebhookSender } from './webhook-sender.js';

export const SOAK_STAGES = ['Lead', 'ACQ - Qualified', 'ACQ - Offers Made', 'ACQ - Offer Not Accepted', 'ACQ - Under Contract'] as const;

/** One move FUB made: the ground truth the collector's rows are checked against. */
export interface MadeMove {
  personId: number;
  stage: string;
  stageId: number;
  /** FUB's clock when the move was made (its webhooks print it to the second). */
  at: Date;
  /** The eventId of the peopleStageUpdated naming the stage. */
  eventId: string;
  /** Never delivered, on purpose (the poller has to find it, if anything can). */
  lost: boolean;
}

export interface ActivityOptions {
  personIds: readonly number[];
  /** Mean moves per second (bursts included). */
  movesPerSecond: number;
  /** Share of actions that are a burst: 2-3 moves of one person in the same second. */
  burstShare: number;
  /** Share of moves whose webhooks are never sent. */
  lostShare: number;
  /** Share of webhooks FUB delivers a second time, later. */
  redeliveryShare: number;
  /** Longest a webhook waits in FUB's queue before its first delivery (so they arrive out of order). */
  maxQueueDelayMs: number;
}

export interface LeadActivity {
  readonly moves: readonly MadeMove[];
  /** Stops making moves (deliveries under way go on in the sender). */
  stop(): Promise<void>;
}

/** Adds the people to FUB (long before anything watched) in the first stage. */
export function addSoakPeople(sim: FubSimulator, personIds: readonly number[]): void {
  // Every stage is defined in FUB's settings before anyone is moved, as in a real account.
  for (const stage of SOAK_STAGES) sim.stageId(stage);
  const longAgo = new Date(sim.now().getTime() - 48 * 3_600_000);
  for (const id of personIds) sim.addPerson(id, SOAK_STAGES[0], longAgo);
}

export function startLeadActivity(sim: FubSimulator, sender: WebhookSender, random: Random, options: ActivityOptions): LeadActivity {
  const moves: MadeMove[] = [];
  let stopping = false;

  const deliver = (hook: WebhookEnvelope): void => {
    const queued = random.int(0, options.maxQueueDelayMs);
    sender.send(hook, queued);
    if (random.chance(options.redeliveryShare)) sender.send(hook, queued + random.int(500, 8000));
  };

  /** Moves one person to a stage other than the one they are in (FUB fires nothing for no change). */
  const move = (personId: number): void => {
    const person = sim.people.get(personId)!;
    const stage = random.pick(SOAK_STAGES.filter((s) => sim.stageId(s) !== person.stageId));
    const at = sim.now();
    const hooks = sim.movePerson(personId, stage, at);
    const lost = random.chance(options.lostShare);
    moves.push({ personId, stage, stageId: sim.stageId(stage), at, eventId: hooks.stageUpdated.eventId, lost });
    if (lost) return;
    deliver(hooks.stageUpdated);
    deliver(hooks.peopleUpdated);
  };

  const run = (async () => {
    // Actions of 1 move, or 2-3 for a burst; paced so moves average `movesPerSecond`.
    const meanActionMoves = 1 + options.burstShare * 1.5;
    const meanGapMs = (1000 * meanActionMoves) / options.movesPerSecond;
    while (!stopping) {
      const personId = random.pick(options.personIds);
      // Back to back, synchronously: the moves of a burst share FUB's second (unless one just ticked over).
      const count = random.chance(options.burstShare) ? random.int(2, 3) : 1;
      for (let i = 0; i < count; i++) move(personId);
      await sleep(random.next() * 2 * meanGapMs);
    }
  })();

  return {
    moves,
    async stop() {
      stopping = true;
      await run;
    },
  };
}
