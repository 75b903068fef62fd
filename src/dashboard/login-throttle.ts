/**
 * Slows password guessing: after a failed login, the same address may try again only after a delay
 * that doubles with each failure (to a cap); an attempt sooner is refused without checking it, so
 * guesses sent in parallel gain nothing. Failures are forgotten after a quiet window.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; nextAt: number; lastAt: number }>();

  constructor(
    private readonly options: { baseDelayMs: number; maxDelayMs: number; forgetAfterMs: number; maxTracked: number } = {
      baseDelayMs: 1000,
      maxDelayMs: 60_000,
      forgetAfterMs: 15 * 60_000,
      maxTracked: 10_000,
    },
  ) {}

  /** Milliseconds this address must still wait before its next attempt is checked (0: go ahead). */
  waitFor(address: string, now: number): number {
    const entry = this.failures.get(address);
    if (entry === undefined) return 0;
    if (now - entry.lastAt > this.options.forgetAfterMs) {
      this.failures.delete(address);
      return 0;
    }
    return Math.max(0, entry.nextAt - now);
  }

  failed(address: string, now: number): void {
    if (!this.failures.has(address) && this.failures.size >= this.options.maxTracked) this.forgetOld(now);
    const count = (this.failures.get(address)?.count ?? 0) + 1;
    const delay = Math.min(this.options.baseDelayMs * 2 ** (count - 1), this.options.maxDelayMs);
    this.failures.set(address, { count, nextAt: now + delay, lastAt: now });
  }

  succeeded(address: string): void {
    this.failures.delete(address);
  }

  private forgetOld(now: number): void {
    for (const [address, entry] of this.failures) if (now - entry.lastAt > this.options.forgetAfterMs) this.failures.delete(address);
    // Still full (an attack from many addresses): the oldest entries go first.
    for (const address of this.failures.keys()) {
      if (this.failures.size < this.options.maxTracked) break;
      this.failures.delete(address);
    }
  }
}
