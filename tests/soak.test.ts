import { expect } from 'chai';
import { reportFault } from './support/fault-figures.js';
import { formatFigures, runSoak, type SoakReport } from './soak/run-soak.js';

// Two minutes of FUB streaming webhooks for 60 people to two webhook server processes and a poller
// while faults strike, then every move FUB reported must be a row, no stage may be entered more
// often than FUB moved anyone into it, and every history must end where FUB shows the person now.
// SOAK_SECONDS shortens or lengthens it; SOAK_SEED replays a run's choices.
describe('soak: two replicas and a poller under random faults', function () {
  const streamMs = Number(process.env.SOAK_SECONDS ?? 120) * 1000;
  // Streaming, then FUB's last retries (about a minute) and the catch-up.
  this.timeout(streamMs + 8 * 60_000);
  let report: SoakReport;

  before(async () => {
    report = await runSoak({ streamMs, ...(process.env.SOAK_SEED ? { seed: Number(process.env.SOAK_SEED) } : {}) });
    console.log(`      ${formatFigures(report.figures)}`);
    const f = report.figures;
    reportFault({
      fault: `two webhook servers and a poller for ${f.streamedSeconds} s under random faults (${f.faults.kills} kill -9, ${f.faults.refusals} database refusals, ${f.faults.stalls} stalls, ${f.faults.fub500s} FUB 500 episodes; FUB's clock ${f.fubClockOffsetSeconds >= 0 ? '+' : ''}${f.fubClockOffsetSeconds} s)`,
      sent: f.webhooks.deliveries,
      acknowledged: `${f.webhooks.acknowledged} (${f.webhooks.acknowledgedEvents} events)`,
      processed: `${f.inbox.completed ?? 0} events; ${f.reportedMoves} moves reported, ${f.lostOnPurpose} more never delivered`,
      lost: f.missingReportedMoves,
      duplicated: f.overCountedStages,
      test: 'tests/soak.test.ts',
    });
  });

  it('records every move FUB reported in an acknowledged webhook (event id, stage id, second)', () => {
    const missing = report.checks.missing.map((m) => JSON.stringify(m));
    expect(missing, `${missing.length} reported moves missing (seed ${report.figures.seed}):\n${missing.slice(0, 30).join('\n')}`).to.deep.equal([]);
  });

  it('never counts more arrivals in a stage than FUB made', () => {
    const over = report.checks.overCounted.map((o) => `person ${o.personId}, ${o.stage} (id ${o.stageId}): ${o.rows} rows, ${o.moves} moves`);
    expect(over, `${over.length} over-counted stages (seed ${report.figures.seed}):\n${over.slice(0, 30).join('\n')}`).to.deep.equal([]);
  });

  it("ends every person's history in the stage FUB shows now", () => {
    const wrong = report.checks.wrongLast.map((w) => `person ${w.personId}: FUB ${w.fubStage} (id ${w.fubStageId}), last row ${JSON.stringify(w.last)}`);
    expect(wrong, `${wrong.length} wrong last stages (seed ${report.figures.seed}):\n${wrong.slice(0, 30).join('\n')}`).to.deep.equal([]);
  });

  it('keeps every webhook server running unless the soak killed it', () => {
    const crashes = report.crashes.map((c) => `server ${c.server} exited (code ${c.code}, signal ${c.signal}) at ${c.at.toISOString()}`);
    expect(crashes, `webhook servers exited by themselves (seed ${report.figures.seed}; their stderr is above):\n${crashes.join('\n')}`).to.deep.equal([]);
  });
});
