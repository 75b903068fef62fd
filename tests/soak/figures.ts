// The figures a soak reports, and the one line they are printed as.
import type { PollCounts } from './background-poller.js';
import type { FaultCounts } from './fault-injector.js';
import type { SenderCounts } from './webhook-sender.js';

export interface SoakFigures {
  seed: number;
  fubClockOffsetSeconds: number;
  people: number;
  moves: number;
  lostOnPurpose: number;
  webhooks: SenderCounts & { acknowledgedEvents: number };
  faults: FaultCounts;
  /** Webhook servers that exited without being killed (each was started again). */
  crashes: number;
  polls: PollCounts;
  /** Inbox rows by status at the end. */
  inbox: Record<string, number>;
  rows: number;
  reportedMoves: number;
  missingReportedMoves: number;
  overCountedStages: number;
  wrongLastStages: number;
  streamedSeconds: number;
  /** From the end of streaming to the final poll: FUB's last retries, the inbox emptying. */
  catchUpSeconds: number;
  durationSeconds: number;
}

export function formatFigures(f: SoakFigures): string {
  const w = f.webhooks;
  const inbox = Object.entries(f.inbox)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
  return (
    `soak seed ${f.seed}: ${f.streamedSeconds} s streamed (FUB clock ${f.fubClockOffsetSeconds >= 0 ? '+' : ''}${f.fubClockOffsetSeconds} s), ` +
    `${f.moves} moves of ${f.people} people (${f.lostOnPurpose} lost on purpose), ` +
    `${w.deliveries} webhook deliveries in ${w.requests} requests, ${w.acknowledged} acknowledged (${w.acknowledgedEvents} events), ${w.gaveUp} given up; ` +
    `faults: ${f.faults.kills} kills, ${f.faults.refusals} refusals, ${f.faults.stalls} stalls, ${f.faults.fub500s} FUB 500 episodes, ${f.crashes} crashes; ` +
    `polls ${f.polls.succeeded} ok / ${f.polls.failed} failed; inbox ${inbox}; ` +
    `${f.rows} rows; ${f.missingReportedMoves} of ${f.reportedMoves} reported moves missing, ${f.overCountedStages} over-counted stages, ` +
    `${f.wrongLastStages} wrong last stages; catch-up ${f.catchUpSeconds} s, ${f.durationSeconds} s in all`
  );
}
