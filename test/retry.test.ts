import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backoffDelay,
  classifyStatus,
  DEFAULT_RETRY_POLICY,
  nextAttempt,
  parseRetryAfter,
  type RetryPolicy,
} from '../src/core/retry.js';

const HOUR = 60 * 60 * 1000;
const NOW = Date.parse('2024-05-01T12:00:00.000Z');
const low = (): number => 0;
const high = (): number => 0.999999;

test('status classification', () => {
  const table: Array<[number, string]> = [
    [200, 'success'], [204, 'success'],
    [301, 'discard'], [400, 'discard'], [401, 'discard'], [404, 'discard'], [413, 'discard'],
    [408, 'retry'], [423, 'retry'], [429, 'retry'],
    [500, 'retry'], [501, 'discard'], [502, 'retry'], [503, 'retry'], [505, 'discard'],
  ];
  for (const [status, expected] of table) assert.equal(classifyStatus(status), expected, `status ${status}`);
});

test('Retry-After in seconds', () => {
  assert.equal(parseRetryAfter('120', NOW), 120_000);
  assert.equal(parseRetryAfter(' 0 ', NOW), 0);
  assert.equal(parseRetryAfter(['30', '60'], NOW), 30_000);
  assert.equal(parseRetryAfter('-5', NOW), 0);
  assert.equal(parseRetryAfter('86400', NOW), 4 * HOUR, 'capped at 4 hours');
});

test('Retry-After as an HTTP date', () => {
  assert.equal(parseRetryAfter('Wed, 01 May 2024 12:01:30 GMT', NOW), 90_000);
  assert.equal(parseRetryAfter('Wed, 01 May 2024 11:00:00 GMT', NOW), 0, 'a past date means now');
  assert.equal(parseRetryAfter('Thu, 02 May 2024 12:00:00 GMT', NOW), 4 * HOUR);
});

test('Retry-After absent or unreadable gives null', () => {
  assert.equal(parseRetryAfter(undefined, NOW), null);
  assert.equal(parseRetryAfter('', NOW), null);
  assert.equal(parseRetryAfter([], NOW), null);
  assert.equal(parseRetryAfter('soon', NOW), null);
  assert.equal(parseRetryAfter('Mon, not a date', NOW), null);
});

test('default policy: 9 retries within 4 hours, 1 s base, 10 min cap', () => {
  assert.deepEqual({ ...DEFAULT_RETRY_POLICY }, { maxRetries: 9, windowMs: 4 * HOUR, baseDelayMs: 1000, maxDelayMs: 600_000 });
});

test('backoff doubles per retry, jittered between 50% and 100%, capped at maxDelay', () => {
  const p = DEFAULT_RETRY_POLICY;
  assert.equal(backoffDelay(1, p, low), 500);
  assert.equal(backoffDelay(1, p, high), 1000);
  assert.equal(backoffDelay(2, p, low), 1000);
  assert.equal(backoffDelay(4, p, high), 8000);
  assert.equal(backoffDelay(20, p, low), 300_000);
  assert.equal(backoffDelay(20, p, high), 600_000);
  for (let n = 1; n <= 12; n++) {
    const cap = Math.min(600_000, 1000 * 2 ** (n - 1));
    const d = backoffDelay(n, p, Math.random);
    assert.ok(d >= cap / 2 && d <= cap, `retry ${n}: ${d} within [${cap / 2}, ${cap}]`);
  }
});

test('retries are exhausted after 9 retries (10 attempts)', () => {
  const policy: RetryPolicy = DEFAULT_RETRY_POLICY; // 9 full backoffs (~8.5 min) fit in the window
  let now = NOW;
  for (let attempt = 1; attempt <= 9; attempt++) {
    const next = nextAttempt({ attempt, firstAttemptAt: NOW, now }, policy, high);
    assert.equal(next.kind, 'retry', `after attempt ${attempt}`);
    if (next.kind === 'retry') now = next.at;
  }
  assert.deepEqual(nextAttempt({ attempt: 10, firstAttemptAt: NOW, now }, policy, high), {
    kind: 'fail',
    reason: 'retries_exhausted',
  });
});

test('the first retry is scheduled after the backoff delay', () => {
  assert.deepEqual(nextAttempt({ attempt: 1, firstAttemptAt: NOW, now: NOW + 200 }, DEFAULT_RETRY_POLICY, low), {
    kind: 'retry',
    at: NOW + 200 + 500,
  });
});

test('a retry past the 4 hour window fails instead', () => {
  const first = NOW;
  const now = first + 4 * HOUR - 60_000; // a minute left; retry 8 waits 64-128 s
  assert.deepEqual(nextAttempt({ attempt: 8, firstAttemptAt: first, now }, DEFAULT_RETRY_POLICY, low), {
    kind: 'fail',
    reason: 'retry_window_exceeded',
  });
  assert.equal(nextAttempt({ attempt: 2, firstAttemptAt: first, now }, DEFAULT_RETRY_POLICY, low).kind, 'retry');
});

test('Retry-After wins when longer than the backoff, never when shorter', () => {
  const base = { attempt: 1, firstAttemptAt: NOW, now: NOW };
  assert.deepEqual(nextAttempt({ ...base, retryAfterMs: 30_000 }, DEFAULT_RETRY_POLICY, high), { kind: 'retry', at: NOW + 30_000 });
  assert.deepEqual(nextAttempt({ ...base, retryAfterMs: 10 }, DEFAULT_RETRY_POLICY, high), { kind: 'retry', at: NOW + 1000 });
  assert.deepEqual(nextAttempt({ ...base, retryAfterMs: null }, DEFAULT_RETRY_POLICY, high), { kind: 'retry', at: NOW + 1000 });
  assert.deepEqual(nextAttempt({ ...base, now: NOW + 3 * HOUR, retryAfterMs: 2 * HOUR }, DEFAULT_RETRY_POLICY, high), {
    kind: 'fail',
    reason: 'retry_window_exceeded',
  });
});
