import { writeSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

// Bytes of lines waiting to be written, at most: a log reader that stalls (a platform's collector
// restarting) costs lines past this, not the server's memory (the webhook server runs in a 128 MB
// heap). Dropped lines are counted, and the count logged once the reader has caught up.
const LOG_BACKLOG_BYTES = 8 * 1024 * 1024;

/** How long a process about to exit waits for its log reader to take its last lines. */
const LAST_LINES_WAIT_MS = 3000;

/**
 * JSON lines on stdout, or on stderr when told (the CLI keeps stdout for its tables); scope it with
 * `log.child({ ... })` rather than creating more.
 */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream | 'stderr'): Logger {
  return pino(
    {
      level,
      base: { service: 'fub-collector' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination === 'stderr' ? logStream(2) : (destination ?? (level === 'silent' ? undefined : logStream(1))),
  );
}

/**
 * Exits once every line logged so far is written, or after LAST_LINES_WAIT_MS, when the lines still
 * waiting are given up (a reader that stalls must not hold the exit). Exiting at once would lose a
 * line still being written, and splice its neighbours, when the log reader is behind.
 */
export function exitWhenLogged(code: number): void {
  void Promise.all([...streams.values()].map((stream) => flushStream(stream, LAST_LINES_WAIT_MS))).then(() => process.exit(code));
}

function flushStream(stream: SonicBoom, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      abandon(stream);
      resolve();
    }, timeoutMs);
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

/** Gives up the lines not yet written, so that exiting writes nothing more (an exit that cannot wait). */
export function abandonLogs(): void {
  for (const stream of streams.values()) abandon(stream);
}

function abandon(stream: SonicBoom): void {
  try {
    stream.destroy();
  } catch {
    // already closed
  }
}

type SonicBoom = ReturnType<typeof pino.destination>;
/** One stream per file descriptor and process, however many loggers write to it. */
const streams = new Map<1 | 2, SonicBoom>();
/** What the loggers write each stream's lines through. */
const lineWriters = new Map<1 | 2, pino.DestinationStream>();

/**
 * As pino's own stdout (asynchronous, flushed on exit), one per descriptor, with four changes. minLength
 * 1 writes each line at once as pino's 0 does, and makes flush(cb) wait for the writes in hand
 * (sonic-boom answers it at once when minLength is 0). The backlog is bounded. The flush at exit
 * gives up after LAST_LINES_WAIT_MS and on any error: sonic-boom's own retries a gone reader (EPIPE)
 * or a stalled one for ever, and the process never exits. And lines are kept as bytes, not text:
 * kept as text, each line appended while a write was in flight measured the whole text waiting
 * (flattening it, up to 16 kB copied per line), a sixth of everything a bulk move allocated.
 */
function logStream(fd: 1 | 2): pino.DestinationStream {
  const existing = lineWriters.get(fd);
  if (existing) return existing;
  // Non-blocking (as process.stdout and process.stderr make their descriptors): a write to a full
  // pipe answers EAGAIN instead of holding a thread, which process.exit would wait for.
  void (fd === 1 ? process.stdout.fd : process.stderr.fd);
  const stream = pino.destination({ dest: fd, sync: false, minLength: 1, maxLength: LOG_BACKLOG_BYTES, contentMode: 'buffer' });
  // In buffer mode sonic-boom takes bytes only (its types still say text).
  const lines: pino.DestinationStream = { write: (line: string) => void stream.write(Buffer.from(line) as unknown as string) };
  let dropped = { droppedLines: 0, droppedBytes: 0 };
  stream.on('drop', (data: Buffer) => {
    dropped = { droppedLines: dropped.droppedLines + 1, droppedBytes: dropped.droppedBytes + data.length };
  });
  // 'drain': everything waiting was written; now there is room to say what was not.
  const notices = createLogger('warn', lines);
  stream.on('drain', () => {
    if (dropped.droppedLines === 0) return;
    const said = dropped;
    dropped = { droppedLines: 0, droppedBytes: 0 };
    notices.warn(said, 'log lines dropped: the log was not read fast enough');
  });
  stream.flushSync = () => boundedFlushSync(stream);
  streams.set(fd, stream);
  lineWriters.set(fd, lines);
  return lines;
}

/** sonic-boom 4's buffers in buffer mode, read to write them at exit with bounds its own flushSync lacks. */
interface SonicBoomBuffers {
  fd: number;
  _writing: boolean;
  _writingBuf: Buffer;
  _bufs: Buffer[][];
  _lens: number[];
  _len: number;
}

function boundedFlushSync(stream: SonicBoom): void {
  const s = stream as unknown as SonicBoomBuffers;
  // Another version of sonic-boom: give the lines up rather than risk an exit that never ends.
  if (typeof s.fd !== 'number' || !Buffer.isBuffer(s._writingBuf) || !Array.isArray(s._bufs) || !s._bufs.every(Array.isArray) || !Array.isArray(s._lens)) return;
  const deadline = Date.now() + LAST_LINES_WAIT_MS;
  // A write in flight on the thread pool is the pool's; the rest is ours to write.
  const pending = [s._writing ? Buffer.alloc(0) : s._writingBuf, ...s._bufs.map((b) => Buffer.concat(b))].filter((b) => b.length > 0);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (pending.length > 0 && Date.now() < deadline) {
    try {
      const n = writeSync(s.fd, pending[0]!);
      pending[0] = pending[0]!.subarray(n);
      if (pending[0].length === 0) pending.shift();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') break; // the reader has gone
      Atomics.wait(pause, 0, 0, 10); // a full pipe: let the reader catch up
    }
  }
  s._bufs = [];
  s._lens = [];
  s._len = 0;
}
