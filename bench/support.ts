import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { sql } from 'kysely';
import type { Db } from '../src/shared/db/database.js';
import { mochaGlobalSetup, mochaGlobalTeardown } from '../tests/support/global-setup.js';

/** Finds PostgreSQL the way the tests do (local 5432, else an embedded server), runs `work`, cleans up. */
export async function withPostgres(work: () => Promise<void>): Promise<void> {
  await mochaGlobalSetup();
  try {
    await work();
  } finally {
    await mochaGlobalTeardown();
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export async function machineLine(db: Db, script: string): Promise<string> {
  const { rows } = await sql<{ v: string }>`SELECT current_setting('server_version') AS v`.execute(db);
  return `Machine: ${cpus().length} cores, Node ${process.version}, PostgreSQL ${rows[0]!.v}. Run: \`${script}\`, ${new Date().toISOString().slice(0, 10)}.`;
}

export const ratio = (a: number, b: number): string => (b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`);

/** A webhook body as FUB would send it, with a fresh eventId, for a person not seen before. */
export function webhookBody(): string {
  const id = Math.floor(Math.random() * 1e9);
  return JSON.stringify({
    eventId: randomUUID(),
    eventCreated: new Date().toISOString(),
    event: 'peopleStageUpdated',
    resourceIds: [id],
    uri: `https://api.followupboss.com/v1/people?id=${id}`,
    data: { stage: 'ACQ - Offers Made' },
  });
}
