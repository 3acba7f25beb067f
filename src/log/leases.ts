/**
 * Leases: work that must run once per deployment (alert checks, each warehouse's
 * and data lake's syncs) runs only in the process holding its lease.
 *
 * With the NATS log the leases live in a NATS KV bucket whose TTL expires a lease
 * its holder stopped renewing (./nats/leases.ts). The embedded log is used by one
 * process, which takes every role, so it holds every lease (LocalLeases).
 *
 * Safety: a holder renews every TTL/3 and stops considering itself the holder as
 * soon as a renewal fails or when 2/3 of the TTL passed since the last successful
 * one, so it has stopped before another process can take the expired lease.
 */
export interface LeaseStore {
  /** Takes the lease when it is free, renews it when `owner` holds it; false when another owner does. */
  tryAcquire(name: string, owner: string): Promise<boolean>;
  /** Frees the lease if `owner` holds it (graceful stop: another process takes over at once). */
  release(name: string, owner: string): Promise<void>;
  /** How long a lease lives without renewal. */
  readonly ttlMs: number;
}

/** One process, every role: every lease is granted. */
export class LocalLeases implements LeaseStore {
  readonly ttlMs = Number.POSITIVE_INFINITY;
  async tryAcquire(): Promise<boolean> {
    return true;
  }
  async release(): Promise<void> {}
}

export interface LeaseOptions {
  /** Called when this process gains (true) or loses (false) the lease. */
  onChange?: (held: boolean) => void;
  onError?: (err: unknown) => void;
  now?: () => number;
}

/**
 * Keeps trying to hold one lease: acquires it when free, renews it while held.
 * `held` is what the work checks before each run.
 */
export class Lease {
  private heldSince: number | null = null;
  private renewedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly now: () => number;

  constructor(
    private readonly store: LeaseStore,
    readonly name: string,
    readonly owner: string,
    private readonly options: LeaseOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** True while the last renewal is recent enough that no other process can hold the lease. */
  get held(): boolean {
    if (this.heldSince === null) return false;
    if (this.now() - this.renewedAt > (this.store.ttlMs * 2) / 3) this.set(false);
    return this.heldSince !== null;
  }

  /** Tries once now, then every TTL/3; resolves after the first try. */
  async start(): Promise<boolean> {
    await this.tick();
    const every = Number.isFinite(this.store.ttlMs) ? Math.max(50, Math.floor(this.store.ttlMs / 3)) : 0;
    if (every > 0 && !this.stopped) {
      this.timer = setInterval(() => void (this.ticking = this.ticking.then(() => this.tick())), every);
      this.timer.unref();
    }
    return this.held;
  }

  /** Stops renewing and frees the lease, so another process takes over without waiting for the TTL. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.ticking;
    const wasHeld = this.heldSince !== null;
    this.set(false);
    if (wasHeld) await this.store.release(this.name, this.owner).catch((err: unknown) => this.options.onError?.(err));
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const at = this.now();
    let ok = false;
    try {
      ok = await this.store.tryAcquire(this.name, this.owner);
    } catch (err) {
      this.options.onError?.(err);
    }
    if (this.stopped) return;
    if (ok) {
      this.renewedAt = at;
      this.set(true);
    } else {
      this.set(false);
    }
  }

  private set(held: boolean): void {
    if (held === (this.heldSince !== null)) return;
    this.heldSince = held ? this.now() : null;
    this.options.onChange?.(held);
  }
}
