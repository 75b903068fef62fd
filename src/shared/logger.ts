import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

// Lines waiting for stdout, at most: a log reader that stalls (a platform's collector restarting)
// costs lines past this, not the server's memory (the webhook server runs in a 128 MB heap).
const LOG_BACKLOG_CHARS = 8 * 1024 * 1024;

/** How long a process about to exit waits for its log reader to take its last lines. */
export const LAST_LINES_WAIT_MS = 3000;

/** JSON lines on stdout; scope it with `log.child({ ... })` rather than creating more. */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'fub-collector' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? (level === 'silent' ? undefined : stdoutStream()),
  );
}

/**
 * Resolves once every line logged so far on stdout is written, or after `timeoutMs` (a reader that
 * has gone). Before process.exit: a line still being written when the process exits is lost, and its
 * neighbours spliced, when the log reader is behind.
 */
export function flushLogs(timeoutMs: number): Promise<void> {
  const stream = stdout;
  if (!stream) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    try {
      stream.flush((): void => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      clearTimeout(timer);
      resolve(); // the stream was closed
    }
  });
}

let stdout: ReturnType<typeof pino.destination> | undefined;

/**
 * As pino's own stdout (asynchronous, flushed on exit), with a bound, one per process. minLength 1
 * writes each line at once as pino's 0 does, and makes flush(cb) wait for the writes in hand
 * (sonic-boom answers it at once when minLength is 0).
 */
function stdoutStream(): ReturnType<typeof pino.destination> {
  stdout ??= pino.destination({ dest: 1, sync: false, minLength: 1, maxLength: LOG_BACKLOG_CHARS });
  return stdout;
}
