// FUB's clock and ours differ by seconds, an operator's PC by minutes or hours: never by a day.
const MAX_PLAUSIBLE_OFFSET_MS = 86_400_000;

/**
 * FUB's clock as seen from this machine. FUB dates everything on its own clock, to the whole second,
 * and every answer carries a `Date` header; the difference between that and our clock (which on an
 * operator's PC can be minutes off) is learned here, so no FUB time is ever compared with a local one
 * uncorrected. One per process, shared by every FUB client.
 */
export class FubClock {
  private offset: number | undefined;
  private lastHeardAt: number | undefined;
  /** The latest FUB time an answer was given (FUB's clock, ms). */
  private lastAnswerAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly localNow: () => number = Date.now) {}

  /**
   * Notes an answer's `Date` header, sent at local `sentAt` and received at `receivedAt`. Returns
   * FUB's time of the answer: inside the header's second, placed by our own clock so that two
   * answers in one second keep their order (or our estimate, without a usable header).
   */
  observe(dateHeader: unknown, sentAt: number, receivedAt: number): Date {
    const header = typeof dateHeader === 'string' ? Date.parse(dateHeader) : Number.NaN;
    // A Date a day or more away from ours is a broken header (a proxy's, a test's), not FUB's clock:
    // believed, one answer would date a poll's watermark years away and every later poll read nothing.
    if (Number.isNaN(header) || Math.abs(header - receivedAt) >= MAX_PLAUSIBLE_OFFSET_MS) return this.toFub(receivedAt);
    const estimate = this.toFub(receivedAt).getTime();
    // The header is FUB's clock truncated to the second, somewhere between sending and receiving.
    this.offset = header + 500 - (sentAt + receivedAt) / 2;
    this.lastHeardAt = receivedAt;
    let at = Math.min(header + 999, Math.max(header, estimate));
    // Re-centring the offset on each answer can place a later answer of the same second before an
    // earlier one (a read showing S6 dated after the read showing S7 that followed it invents a
    // return to S7): answers received one after another keep their order on FUB's clock.
    if (at <= this.lastAnswerAt) at = Math.min(header + 999, this.lastAnswerAt + 1);
    this.lastAnswerAt = Math.max(this.lastAnswerAt, at);
    return new Date(at);
  }

  /** FUB's clock now (our clock until an answer told the difference). */
  now(): Date {
    return this.toFub(this.localNow());
  }

  /** A moment of our clock on FUB's clock. */
  toFub(localMs: number): Date {
    return new Date(localMs + (this.offset ?? 0));
  }

  /** When (our clock, ms) an answer last told FUB's clock; undefined until one did. */
  get heardAtMs(): number | undefined {
    return this.lastHeardAt;
  }

  /** FUB's clock minus ours in ms; undefined until an answer carried a `Date` header. */
  get offsetMs(): number | undefined {
    return this.offset;
  }
}
