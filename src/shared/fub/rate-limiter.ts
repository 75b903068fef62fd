const WINDOW_MARGIN_MS = 150;
// FUB's window is 10 s; a header asking for more than a minute is broken, and must not stop every
// FUB call of the process for hours.
export const MAX_FUB_WAIT_MS = 60_000;

/**
 * One per process, shared by every FUB caller (webhook processing and the poller), so together
 * they stay inside FUB's sliding-window budget. Learns the budget from X-RateLimit-* headers and
 * stops everyone while a 429's Retry-After runs.
 */
export class FubRateLimiter {
  private blockedUntil = 0;
  // FUB's budget without a system key, until its headers tell the real one: a restart with a backlog
  // must not fire everything before the first answer arrives.
  private limit: number | undefined = 125;
  private windowMs = 10_000;
  private readonly sentAt: number[] = [];
  /** Times a caller had to wait (metrics get each wait through `onWait`). */
  waits = 0;

  constructor(
    private readonly options: { onWait?: (ms: number) => void; now?: () => number } = {},
  ) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Resolves when one more request may be sent, and counts it as sent. */
  async acquire(): Promise<void> {
    for (;;) {
      const delay = this.delayBeforeNext();
      if (delay <= 0) break;
      this.waits += 1;
      this.options.onWait?.(delay);
      await sleep(delay);
    }
    this.sentAt.push(this.now());
  }

  /** How long until one more request may be sent (0: now). */
  readyInMs(): number {
    return Math.max(0, this.delayBeforeNext());
  }

  /** Feeds the headers of any FUB response back in. */
  observe(headers: Record<string, unknown>): void {
    const limit = numberHeader(headers['x-ratelimit-limit']);
    const remaining = numberHeader(headers['x-ratelimit-remaining']);
    const windowSeconds = numberHeader(headers['x-ratelimit-window']);
    if (windowSeconds !== undefined && windowSeconds > 0) this.windowMs = Math.min(windowSeconds * 1000, MAX_FUB_WAIT_MS);
    if (limit !== undefined && limit > 0) this.limit = limit;
    // FUB counts requests we cannot see (other systems on the key): trust its remaining count.
    if (remaining !== undefined && remaining <= 0) this.blockFor(this.windowMs);
  }

  /** After a 429: nobody sends until `ms` has passed. */
  blockFor(ms: number): void {
    this.blockedUntil = Math.max(this.blockedUntil, this.now() + Math.min(ms, MAX_FUB_WAIT_MS));
  }

  private delayBeforeNext(): number {
    const now = this.now();
    while (this.sentAt.length > 0 && this.sentAt[0]! <= now - this.windowMs - WINDOW_MARGIN_MS) this.sentAt.shift();
    let delay = this.blockedUntil - now;
    // One request of head-room below the limit, and a margin on the window, because FUB counts a
    // request when it arrives, a little after we count it here.
    if (this.limit !== undefined && this.sentAt.length >= Math.max(1, this.limit - 1)) {
      delay = Math.max(delay, this.sentAt[0]! + this.windowMs + WINDOW_MARGIN_MS - now);
    }
    return delay;
  }
}

function numberHeader(value: unknown): number | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
