/**
 * Small helpers shared by the end-to-end tests: polling, the Tracking API as a
 * raw HTTP client, and typed reads of the stats endpoints.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import fs from 'node:fs';
import type { SinkRequest } from './sink.js';
import type { SwitchyardProcess } from './switchyard.js';

export { sleep };

export const WRITE_KEY = 'wk_web_prod';
export const SOURCE_ID = 'web-prod';
export const DESTINATION_ID = 'orders-webhook';

/** What `@segment/analytics-node` sends: Basic auth with the write key as the user name. */
export function basicAuth(writeKey: string): string {
  return `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
}

/**
 * Polls `check` until it returns a value other than undefined/false, or fails
 * with the last observed state (so a timeout says what was missing).
 */
export async function waitUntil<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 15_000, intervalMs = 100, describe }: { timeoutMs?: number; intervalMs?: number; describe?: () => unknown } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      const state = describe ? `; last state: ${JSON.stringify(await describe())}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${state}`);
    }
    await sleep(intervalMs);
  }
}

export interface TrackingResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON body, or the raw text when it is not JSON. */
  body: unknown;
}

/** POSTs to a Tracking API path (`/v1/track`, `/v1/batch`, ...). `body` objects are JSON-encoded. */
export async function postTracking(
  baseUrl: string,
  path: string,
  body: string | Buffer | object,
  opts: { writeKey?: string | null; headers?: Record<string, string>; method?: string } = {},
): Promise<TrackingResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
  const writeKey = opts.writeKey === undefined ? WRITE_KEY : opts.writeKey;
  if (writeKey !== null) headers.authorization = basicAuth(writeKey);
  const payload = typeof body === 'string' ? body : Buffer.isBuffer(body) ? new Uint8Array(body) : JSON.stringify(body);
  const method = opts.method ?? 'POST';
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    body: method === 'GET' || method === 'HEAD' ? undefined : payload,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* keep the text */
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

export interface ReasonCount {
  reason: string;
  count: number;
}

export interface Exchange {
  request: { method: string; url: string; headers: Record<string, string>; body: string };
  response?: { status: number; headers: Record<string, string>; body: string };
  error?: string;
  durationMs: number;
}

export interface DeliveryStats {
  destination: { id: string; name: string; type: string; enabled: boolean };
  delivered: number;
  deliveredFirstAttempt: number;
  deliveredAfterRetry: number;
  attemptsFailed: number;
  filtered: ReasonCount[];
  discarded: ReasonCount[];
  failed: ReasonCount[];
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
  retrying: number;
  backlog: number;
  failures: { reason: string; count: number; firstSeen: string; lastSeen: string; sample: { messageId: string; attempt: number; event: string; exchanges: Exchange[] } }[];
}

export interface IngestStats {
  source: { id: string; slug: string };
  received: number;
  duplicates: number;
  propertiesDropped: number;
  failedOnIngest: ReasonCount[];
  unattributedFailures: ReasonCount[];
}

/**
 * Stops a server gracefully, or SIGKILLs it if it has not exited within
 * `graceMs` (a hung shutdown must fail the test, not hang the run), then
 * removes its data dir. Returns the exit code (null when it had to be killed).
 */
export async function shutdown(sy: SwitchyardProcess | undefined, { graceMs = 15_000, removeDataDir = true } = {}): Promise<number | null> {
  if (!sy) return null;
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([sy.stop(), new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), graceMs)))]);
  clearTimeout(timer);
  if (code === 'timeout') await sy.kill();
  if (removeDataDir) fs.rmSync(sy.dataDir, { recursive: true, force: true });
  if (code === 'timeout') throw new Error(`switchyard did not exit within ${graceMs} ms of SIGTERM`);
  return code;
}

async function getData<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${text}`);
  return (JSON.parse(text) as { data: T }).data;
}

export function deliveryStats(baseUrl: string, destinationId = DESTINATION_ID, range = '1h'): Promise<DeliveryStats> {
  return getData(`${baseUrl}/api/v1/destinations/${destinationId}/delivery?range=${range}`);
}

export function ingestStats(baseUrl: string, sourceId = SOURCE_ID, range = '1h'): Promise<IngestStats> {
  return getData(`${baseUrl}/api/v1/sources/${sourceId}/ingest?range=${range}`);
}

/** Count for `reason` in a reason list (0 when absent). */
export function countOf(list: ReasonCount[], reason: string): number {
  return list.filter((r) => r.reason === reason).reduce((s, r) => s + r.count, 0);
}

/** The JSON events a sink received (one webhook call carries one event). */
export function sinkEvents(received: SinkRequest[]): Record<string, unknown>[] {
  return received.map((r) => JSON.parse(r.body) as Record<string, unknown>);
}

/** How many times each messageId reached the sink. */
export function messageIdCounts(received: SinkRequest[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of received) {
    const id = (JSON.parse(r.body) as { messageId?: string }).messageId ?? '';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}
