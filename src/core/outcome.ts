import { classifyStatus, parseRetryAfter } from './retry.js';
import { RequestError, type HttpResponse } from './request.js';
import type { DeliveryOutcome, Exchange } from './result.js';

/** One call's result: a response, or the error that stood in for one. */
export type CallResult = { ok: true; response: HttpResponse } | { ok: false; error: unknown };

/**
 * Folds the results of the HTTP calls made for one event into one outcome, by
 * status: all succeeded → delivered; any retryable failure → retry (honouring the
 * largest Retry-After); otherwise discard with the first failure's reason.
 */
export function outcomeFromCalls(calls: CallResult[], exchanges: Exchange[], now: number): DeliveryOutcome {
  let retry: { reason: string; status?: number; retryAfterMs?: number } | null = null;
  let discard: { reason: string; status?: number } | null = null;
  for (const call of calls) {
    if (!call.ok) {
      const reason = call.error instanceof RequestError ? call.error.message : `request failed: ${String(call.error)}`;
      retry ??= { reason };
      continue;
    }
    const { status, headers } = call.response;
    const cls = classifyStatus(status);
    if (cls === 'success') continue;
    if (cls === 'retry') {
      const after = parseRetryAfter(headers['retry-after'], now) ?? undefined;
      const prev: number | undefined = retry?.retryAfterMs;
      retry = { reason: `HTTP ${status}`, status, retryAfterMs: prev !== undefined && after !== undefined ? Math.max(prev, after) : (after ?? prev) };
    } else {
      discard ??= { reason: `HTTP ${status}`, status };
    }
  }
  if (retry) return { kind: 'retry', ...retry, exchanges };
  if (discard) return { kind: 'discard', ...discard, exchanges };
  return { kind: 'delivered', status: 200, exchanges };
}
