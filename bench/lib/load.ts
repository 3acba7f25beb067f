/** The load generator: autocannon in this process, one fresh body per request. */
import autocannon, { type Result } from 'autocannon';
import { AUTH_HEADER, type BodyFactory } from './events.js';

export interface LoadOptions {
  url: string;
  bodies: BodyFactory;
  connections: number;
  /** Seconds; ignored when `amount` is set. */
  duration?: number;
  /** Total requests to send. */
  amount?: number;
  /** Requests per second across all connections (0 = as fast as possible). */
  overallRate?: number;
  timeoutS?: number;
}

export interface LoadResult {
  raw: Result;
  seconds: number;
  ok: number;
  failed: number;
  reqPerSec: number;
  eventsPerSec: number;
  p50: number;
  p99: number;
  bodyBytes: number;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const started = Date.now();
  const instance = autocannon({
    url: o.url,
    connections: o.connections,
    pipelining: 1,
    timeout: o.timeoutS ?? 30,
    ...(o.amount ? { amount: o.amount } : { duration: o.duration ?? 10 }),
    ...(o.overallRate ? { overallRate: o.overallRate } : {}),
    requests: [
      {
        method: 'POST',
        path: o.bodies.path,
        headers: { 'content-type': 'application/json', authorization: AUTH_HEADER },
        setupRequest: (req) => ({ ...req, body: o.bodies.next() }),
      },
    ],
  });
  const raw = await instance;
  // autocannon's `duration` is wall time of the run in seconds; fall back to our own clock.
  const seconds = raw.duration > 0 ? raw.duration : (Date.now() - started) / 1000;
  const ok = raw['2xx'];
  return {
    raw,
    seconds,
    ok,
    failed: raw.non2xx + raw.errors + raw.timeouts,
    reqPerSec: ok / seconds,
    eventsPerSec: (ok * o.bodies.events) / seconds,
    p50: raw.latency.p50,
    p99: raw.latency.p99,
    bodyBytes: o.bodies.bytes,
  };
}
