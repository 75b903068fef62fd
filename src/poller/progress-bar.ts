import type { PollProgress } from './poller.js';

/** A one-line progress bar for a terminal; a few lines, so no library. */
export function drawProgress(stream: NodeJS.WriteStream, progress: PollProgress): void {
  const width = 30;
  const total = progress.total ?? 0;
  const ratio = total > 0 ? Math.min(1, progress.peopleSeen / total) : 0;
  const filled = Math.round(ratio * width);
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
  const of = total > 0 ? `/${total}` : '';
  stream.write(`\r[${bar}] ${progress.peopleSeen}${of} people, page ${progress.page} (${progress.mode})`);
}
