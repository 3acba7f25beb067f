/**
 * The schedule both loaders share (warehouses, data lakes): a timer that starts a
 * run unless one is in progress (a tick is skipped, not queued), on-demand runs that
 * follow the current one (so they see what was sent before the call), and a stop
 * that waits for the run in progress.
 */
export abstract class ScheduledSync {
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  protected abstract run(): Promise<void>;

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      if (!this.running) void this.syncNow();
    }, intervalMs);
  }

  /** Runs a sync now; if one is in progress, runs another right after it. */
  syncNow(): Promise<void> {
    if (this.running) return this.running.then(() => this.syncNow());
    this.running = this.run().finally(() => (this.running = null));
    return this.running;
  }

  /** Stops the timer and waits for the run in progress. */
  protected async stopSchedule(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
