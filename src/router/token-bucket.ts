/** Events per second with a one-second burst; time injected for tests. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly ratePerSecond: number,
    now: number,
  ) {
    this.tokens = ratePerSecond;
    this.at = now;
  }

  /** Whole tokens available now (refilled for the time passed). */
  available(now: number): number {
    this.tokens = Math.min(this.ratePerSecond, this.tokens + ((now - this.at) / 1000) * this.ratePerSecond);
    this.at = now;
    return Math.floor(this.tokens);
  }

  /** Spends what was actually used (a fetch may return fewer events than allowed). */
  consume(n: number): void {
    this.tokens -= n;
  }

  /** Milliseconds until at least one token is available. */
  waitMs(): number {
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000);
  }
}
