// A fault test's figures, printed under the test and, when FAULT_FIGURES names a file, appended to it
// as one JSON line: `npm run bench:faults` runs the fault tests and builds docs/BENCHMARKS.md's fault
// table from those lines, so no figure there is copied by hand.
import { appendFileSync } from 'node:fs';

export interface FaultFigures {
  fault: string;
  sent: number;
  acknowledged: string;
  processed: string;
  lost: number;
  /** n/a where the test has nothing that could be counted twice. */
  duplicated: number | 'n/a';
  test: string;
}

export function reportFault(figures: FaultFigures): void {
  console.log(
    `      ${figures.fault}: ${figures.sent} sent, ${figures.acknowledged} acknowledged, ${figures.processed} processed, ` +
      `${figures.lost} lost, ${figures.duplicated} duplicated`,
  );
  if (process.env.FAULT_FIGURES) appendFileSync(process.env.FAULT_FIGURES, JSON.stringify(figures) + '\n');
}
