import { RequestError } from '../../core/request.js';
import { classifyStatus, parseRetryAfter } from '../../core/retry.js';

/**
 * What an error thrown while running an action means for the event, following
 * the engine's typed errors (matched by name: the engine's classes come from its
 * own module copy) and the core retry policy by status.
 */
export type ErrorVerdict =
  | { kind: 'retry'; reason: string; status?: number; retryAfterMs?: number }
  | { kind: 'discard'; reason: string; status?: number };

interface EngineError {
  name?: string;
  message?: string;
  status?: unknown;
  code?: unknown;
  response?: { status?: number; headers?: { get(name: string): string | null } };
}

const TIMEOUTS = new Set(['TimeoutError', 'RequestTimeoutError', 'RequestClientError', 'SelfTimeoutError', 'AbortError']);
const PAYLOAD_INVALID = new Set(['PayloadValidationError', 'AggregateAjvError', 'ValidationError', 'InvalidAudienceMembershipError']);

export function verdictFromError(err: unknown, now: number): ErrorVerdict {
  if (err instanceof RequestError) return { kind: 'retry', reason: err.message };
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as EngineError;
  const name = e.name ?? '';
  const message = oneLine(e.message ?? String(err));
  if (name === 'HTTPError' && typeof e.response?.status === 'number') {
    const status = e.response.status;
    const cls = classifyStatus(status);
    if (cls === 'retry') {
      const after = parseRetryAfter(e.response.headers?.get('retry-after') ?? undefined, now);
      return { kind: 'retry', reason: `HTTP ${status}`, status, ...(after !== null ? { retryAfterMs: after } : {}) };
    }
    // A 2xx cannot arrive here (the engine only throws on !ok); 3xx and other 4xx are permanent.
    return { kind: 'discard', reason: `HTTP ${status}`, status };
  }
  if (name === 'RetryableError') return { kind: 'retry', reason: `retryable error: ${message}`, ...statusOf(e) };
  if (TIMEOUTS.has(name)) return { kind: 'retry', reason: `timeout: ${message}` };
  if (PAYLOAD_INVALID.has(name)) return { kind: 'discard', reason: `payload validation failed: ${message}`, status: 400 };
  if (name === 'InvalidAuthenticationError') return { kind: 'discard', reason: `invalid authentication: ${message}`, status: 401 };
  const status = typeof e.status === 'number' ? e.status : undefined;
  if (status !== undefined) {
    // IntegrationError(message, code, status), APIError(message, status): retry by status.
    const code = typeof e.code === 'string' ? `${e.code}: ` : '';
    return classifyStatus(status) === 'retry'
      ? { kind: 'retry', reason: `${code}${message}`, status }
      : { kind: 'discard', reason: `${code}${message}`, status };
  }
  // An error the engine did not classify (a bug, a network error inside a library):
  // retry, bounded by the retry policy, rather than lose the event.
  return { kind: 'retry', reason: `unexpected error: ${name ? `${name}: ` : ''}${message}` };
}

function statusOf(e: EngineError): { status?: number } {
  return typeof e.status === 'number' ? { status: e.status } : {};
}

function oneLine(s: string): string {
  const line = s.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
