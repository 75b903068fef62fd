import type { Db } from '../shared/db/database.js';
import { withDeadline } from '../shared/deadline.js';
import type { Logger } from '../shared/logger.js';
import { readHealthCounters, type HealthCounters } from './health.repository.js';

/** A backlog older than this means processing is stuck (FUB down for long, or no worker running). */
export const MAX_HEALTHY_PENDING_SECONDS = 600;
/** A database that does not answer /health in this time counts as unreachable (a stall, not a slow scan). */
export const HEALTH_DEADLINE_MS = 3000;

export type HealthReport =
  | ({ healthy: boolean; database: 'ok'; success_rate: number; signature_verification: boolean; problems: string[] } & HealthCounters)
  | { healthy: false; database: 'unreachable'; error: string };

export async function checkHealth(db: Db, opts: { signatureVerification: boolean; log: Logger }): Promise<HealthReport> {
  let counters: HealthCounters;
  try {
    counters = await withDeadline(readHealthCounters(db), HEALTH_DEADLINE_MS, 'the health read');
  } catch (error) {
    // The details (host names, users) go to the log, not to whoever asks /health.
    opts.log.warn({ err: error }, 'health: database unreachable');
    return { healthy: false, database: 'unreachable', error: 'the database did not answer' };
  }
  const finished = counters.webhooks_processed + counters.webhooks_ignored + counters.dead_letter + counters.webhooks_failed;
  const successRate = finished === 0 ? 100 : ((counters.webhooks_processed + counters.webhooks_ignored) / finished) * 100;
  const problems: string[] = [];
  if (counters.oldest_pending_seconds > MAX_HEALTHY_PENDING_SECONDS) {
    problems.push(`oldest unprocessed webhook is ${Math.round(counters.oldest_pending_seconds)} s old`);
  }
  return {
    healthy: problems.length === 0,
    database: 'ok',
    success_rate: Math.round(successRate * 100) / 100,
    signature_verification: opts.signatureVerification,
    problems,
    ...counters,
    oldest_pending_seconds: Math.round(counters.oldest_pending_seconds),
  };
}
