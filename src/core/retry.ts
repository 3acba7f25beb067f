/**
 * Retry policy for deliveries to destinations: which responses are worth
 * retrying, and when to try again. Time and randomness are parameters, so the
 * schedule is tested without sleeping and without flaky jitter.
 */

export type StatusClass = 'success' | 'retry' | 'discard';

/** Statuses that mean "try again later" (same set as Segment's Actions catalog). */
const RETRYABLE_4XX: ReadonlySet<number> = new Set([408, 423, 429]);
/** 5xx that no retry can fix: the server says it does not do this at all. */
const PERMANENT_5XX: ReadonlySet<number> = new Set([501, 505]);

/**
 * 2xx succeeds; 408/423/429 and 5xx (but 501, 505) are retried; everything
 * else is discarded. That includes 3xx: we do not follow redirects (a
 * destination URL that redirects is misconfigured, and following it could
 * send the payload somewhere the user never configured), and retrying would
 * get the same redirect. 1xx and out-of-range values are discarded too.
 */
export function classifyStatus(status: number): StatusClass {
  if (status >= 200 && status < 300) return 'success';
  if (RETRYABLE_4XX.has(status)) return 'retry';
  if (status >= 500 && status < 600 && !PERMANENT_5XX.has(status)) return 'retry';
  return 'discard';
}

/** Longest wait we honour from a server; beyond it the retry window ends anyway. */
export const MAX_RETRY_AFTER_MS = 4 * 60 * 60 * 1000;

const DELTA_SECONDS = /^-?\d+(\.\d+)?$/;
/** HTTP-dates (IMF-fixdate, RFC 850, asctime) all start with a day name. */
const HTTP_DATE_START = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)/i;

/**
 * Delay in ms asked for by a Retry-After header: delta-seconds ("120") or an
 * HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT"). Returns null when absent or
 * unreadable, 0 for a past date or negative delay, and caps at 4 hours.
 * Fractional seconds are accepted though the RFC says integer: some servers
 * send them and the intent is clear.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | null {
  const header = Array.isArray(value) ? value[0] : value;
  if (header === undefined) return null;
  const text = header.trim();
  let delay: number;
  if (DELTA_SECONDS.test(text)) {
    delay = Number(text) * 1000;
  } else if (HTTP_DATE_START.test(text)) {
    // Date.parse alone accepts almost any text; the day-name check above keeps
    // junk from being read as a date.
    const at = Date.parse(text);
    if (Number.isNaN(at)) return null;
    delay = at - now;
  } else {
    return null;
  }
  if (!Number.isFinite(delay)) return null;
  return Math.round(Math.min(MAX_RETRY_AFTER_MS, Math.max(0, delay)));
}

export interface RetryPolicy {
  /** Retries after the first attempt; attempts = maxRetries + 1. */
  maxRetries: number;
  /** No retry is scheduled later than firstAttemptAt + windowMs. */
  windowMs: number;
  /** Delay before the first retry, before jitter. */
  baseDelayMs: number;
  /** Upper bound of any single backoff delay, before jitter. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxRetries: 9,
  windowMs: 4 * 60 * 60 * 1000,
  baseDelayMs: 1000,
  maxDelayMs: 10 * 60 * 1000,
});

/**
 * Delay before retry number `retryNumber` (1 for the first retry):
 * cap = min(maxDelayMs, baseDelayMs * 2^(retryNumber-1)), delay drawn
 * uniformly from [cap/2, cap]. Jitter spreads out the retries of many events
 * that failed together (a destination outage) so they do not return as one
 * burst; keeping the lower half off guarantees the wait still grows
 * exponentially, which a 0..cap draw ("full jitter" in the AWS sense) does not.
 * `random` returns a value in [0, 1), like Math.random.
 */
export function backoffDelay(retryNumber: number, policy: RetryPolicy, random: () => number): number {
  const n = Math.max(1, Math.floor(retryNumber));
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(cap * (0.5 + 0.5 * r));
}

export interface AttemptInput {
  /** The attempt that just failed, 1-based (1 = the first delivery). */
  attempt: number;
  firstAttemptAt: number;
  now: number;
  /** From the response's Retry-After header (see parseRetryAfter). */
  retryAfterMs?: number | null;
}

export type NextAttempt =
  | { kind: 'retry'; at: number }
  | { kind: 'fail'; reason: 'retries_exhausted' | 'retry_window_exceeded' };

/**
 * What to do after a retryable failure. Attempt `attempt` failing means retry
 * number `attempt` comes next, so with maxRetries 9 the 10th attempt failing
 * is final. A Retry-After longer than our backoff wins (never call a server
 * back earlier than it asked); a shorter one is ignored so a server cannot
 * make us hammer it. Either way, a retry that would land past the window is
 * not scheduled: the event fails now, with a reason, instead of waiting for
 * an attempt it is not allowed to make.
 */
export function nextAttempt(input: AttemptInput, policy: RetryPolicy, random: () => number): NextAttempt {
  if (input.attempt > policy.maxRetries) return { kind: 'fail', reason: 'retries_exhausted' };
  let delay = backoffDelay(input.attempt, policy, random);
  if (input.retryAfterMs != null && input.retryAfterMs > delay) delay = input.retryAfterMs;
  const at = input.now + delay;
  if (at > input.firstAttemptAt + policy.windowMs) return { kind: 'fail', reason: 'retry_window_exceeded' };
  return { kind: 'retry', at };
}
