import type { ProcessingConfig } from '../shared/config.js';
import { backoff } from '../shared/fub/fub-client.js';
import type { EventResult } from './webhook-events.repository.js';

/** FUB did not show a person nobody deleted (a new lead not visible yet): worth waiting for. */
export class PersonNotFoundError extends Error {}

/**
 * How an attempt that failed ends: retried later with backoff, or once out of attempts dead — or
 * ignored, when all that was wrong is a person FUB never shows (deleted), which is not worth replaying.
 */
export function resultOfFailure(attempts: number, error: Error, options: Pick<ProcessingConfig, 'maxAttempts' | 'retryBaseSeconds'>): EventResult {
  const message = error.message || String(error);
  if (attempts >= options.maxAttempts) {
    return error instanceof PersonNotFoundError ? { status: 'ignored', reason: `${message} after ${attempts} attempts` } : { status: 'dead', error: message };
  }
  return { status: 'failed', error: message, retryAt: new Date(Date.now() + backoff(attempts, options.retryBaseSeconds * 1000, 3_600_000)) };
}

/**
 * PostgreSQL refused a statement for what it held (a constraint, a value, a raised exception): worth
 * trying the batch's events one at a time, so that only the event at fault fails. Anything else (the
 * connection lost, a timeout, the server going away) would fail each of them in turn as well.
 */
export function refusedForItsData(error: unknown): boolean {
  const code = (error as { code?: unknown; severity?: unknown } | null)?.code;
  const severity = (error as { severity?: unknown } | null)?.severity;
  return typeof severity === 'string' && typeof code === 'string' && /^(22|23|P0|42|2B|XX)/.test(code);
}
