/**
 * The schedule both loaders share (warehouses, data lakes): a timer that starts a
 * run unless one is in progress (a tick is skipped, not queued), on-demand runs that
 * follow the current one (so they see what was sent before the call), and a stop
 * that waits for the run in progress.
 *
 * A loader runs either on an interval or at the hours of a schedule (Segment's
 * advanced sync schedule: hours of the day in an IANA time zone), placed with
 * `nextRunAt`.
 */

/** Syncs at these hours (HH:00, wall clock) in `timezone`; no hours: only on demand. */
export interface SyncSchedule {
  /** An IANA time zone (e.g. America/New_York, UTC). */
  timezone: string;
  /** Hours of the day, 0-23. */
  hours: number[];
}

/** What a loader's timer reads and sets; tests pass their own. */
export interface SyncClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: SyncClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Segment's advanced schedules sync at most hourly; an explicit interval shorter than this wins over a schedule. */
export const SCHEDULE_MIN_SECONDS = 3600;

/**
 * How a loader is timed: its schedule, unless `syncIntervalSeconds` explicitly asks
 * for more than a schedule gives (faster than hourly); otherwise the interval (or the
 * default) in milliseconds.
 */
export function syncTiming(settings: { syncIntervalSeconds?: number; schedule?: SyncSchedule }, defaultSeconds: number): number | SyncSchedule {
  const every = settings.syncIntervalSeconds;
  if (settings.schedule && !(every !== undefined && every < SCHEDULE_MIN_SECONDS)) return settings.schedule;
  return (every ?? defaultSeconds) * 1000;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    // Throws a RangeError for an unknown time zone.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone, hourCycle: 'h23',
      year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatters.set(timezone, f);
  }
  return f;
}

/** The wall clock at instant `t` in `timezone`, as if it were UTC (ms, whole seconds). */
function wallClock(timezone: string, t: number): number {
  const p: Record<string, number> = {};
  for (const part of formatter(timezone).formatToParts(new Date(t))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour! % 24, p.minute!, p.second!);
}

/** The zone's offset from UTC at instant `t`, in ms. */
function offsetAt(timezone: string, t: number): number {
  return wallClock(timezone, t) - Math.floor(t / 1000) * 1000;
}

/**
 * The instant a wall-clock time (given as if UTC) happens in `timezone`. A time that
 * happens twice (clocks go back) is its first occurrence; a time that does not happen
 * (clocks go forward) is the instant the clocks jump, as cron does.
 */
function instantOf(timezone: string, wall: number): number {
  const DAY = 86_400_000;
  const before = offsetAt(timezone, wall - DAY);
  const after = offsetAt(timezone, wall + DAY);
  const valid = [wall - before, wall - after].filter((t) => wallClock(timezone, t) === wall);
  return valid.length > 0 ? Math.min(...valid) : wall - before;
}

/**
 * The first instant after `now` (ms) at which `schedule` syncs, or Infinity when it
 * names no hours. Pure: the same arguments give the same answer.
 */
export function nextRunAt(schedule: SyncSchedule, now: number): number {
  const hours = [...new Set(schedule.hours)].sort((a, b) => a - b);
  for (const h of hours) {
    if (!Number.isInteger(h) || h < 0 || h > 23) throw new RangeError(`hour ${h} is not an hour of the day (0-23)`);
  }
  const today = new Date(wallClock(schedule.timezone, now));
  if (hours.length === 0) return Infinity;
  // Every hour of a day names an instant within the next two local days; look a little further for safety.
  for (let d = 0; d <= 3; d++) {
    for (const h of hours) {
      const t = instantOf(schedule.timezone, Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() + d, h));
      if (t > now) return t;
    }
  }
  /* c8 ignore next */
  throw new Error('no next run found'); // unreachable: some hour of tomorrow is after now
}

/** Longest single wait: timers are re-armed at least this often, so a changed system clock is noticed. */
const MAX_WAIT_MS = 3_600_000;

export abstract class ScheduledSync {
  private running: Promise<void> | null = null;
  private timer: { clock: SyncClock; handle: unknown } | null = null;
  private stopped = false;

  protected abstract run(): Promise<void>;

  /**
   * Starts the timer: every `timing` ms, or at the hours of a schedule (computed with
   * `clock`, the system's unless given). A schedule without hours syncs only on demand.
   */
  start(timing: number | SyncSchedule, clock: SyncClock = systemClock): void {
    this.stopped = false;
    if (typeof timing === 'number') {
      const tick = () => {
        this.timer = { clock, handle: clock.setTimeout(tick, timing) };
        if (!this.running) void this.syncNow();
      };
      this.timer = { clock, handle: clock.setTimeout(tick, timing) };
      return;
    }
    nextRunAt(timing, clock.now()); // an unknown time zone or a bad hour throws here, not in a timer
    const arm = (from: number) => {
      if (this.stopped) return;
      const at = nextRunAt(timing, from);
      if (at === Infinity) return;
      const wait = () => {
        const left = at - clock.now();
        if (left > 0) {
          this.timer = { clock, handle: clock.setTimeout(wait, Math.min(left, MAX_WAIT_MS)) };
          return;
        }
        // The next run is counted from this one, so a timer that fires late does not skip it nor run it twice.
        arm(Math.max(at, clock.now()));
        if (!this.running) void this.syncNow();
      };
      wait();
    };
    arm(clock.now());
  }

  /** Runs a sync now; if one is in progress, runs another right after it. */
  syncNow(): Promise<void> {
    if (this.running) return this.running.then(() => this.syncNow());
    this.running = this.run().finally(() => (this.running = null));
    return this.running;
  }

  /** True once stop was asked for: a long run should end after the step it is in. */
  protected get stopping(): boolean {
    return this.stopped;
  }

  /** Stops the timer and waits for the run in progress. */
  protected async stopSchedule(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.timer.clock.clearTimeout(this.timer.handle);
    this.timer = null;
    await this.running;
  }
}
