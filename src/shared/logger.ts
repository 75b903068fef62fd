import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

// A busy server logs about three lines per webhook. Written as they come, each line was a write of
// its own, and at the default level the server acknowledged a fifth fewer webhooks; gathered into
// writes of about 8 KB they cost next to nothing. A quiet server's lines still appear within a second.
const LOG_BUFFER_BYTES = 8192;
const LOG_FLUSH_MS = 1000;

/**
 * JSON lines on stdout; scope it with `log.child({ ... })` rather than creating more. Lines are
 * gathered and written every 8 KB or every second, and flushed when the process exits (pino does so
 * on exit, after an uncaught error too); a process killed outright (SIGKILL, out of memory) loses at
 * most that last second of lines, never data.
 */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'fub-collector' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? (level === 'silent' ? undefined : bufferedStdout()),
  );
}

function bufferedStdout(): pino.DestinationStream {
  const stream = pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES });
  const timer = setInterval(() => {
    try {
      stream.flush();
    } catch {
      clearInterval(timer); // the stream was closed
    }
  }, LOG_FLUSH_MS);
  timer.unref();
  return stream;
}
