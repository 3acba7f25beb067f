import { Agent, type Dispatcher } from 'undici';
import type { Exchange } from './result.js';

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Set when the body was longer than the client keeps (MAX_RESPONSE_BODY): the bytes kept. */
  cutAt?: number;
}

/** The only way destinations reach the network: injected, so timeouts, capture and tests live in one place. */
export type RequestFn = (req: HttpRequest) => Promise<HttpResponse>;

/** A request that got no HTTP response. Network errors and timeouts are retryable. */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly code: 'timeout' | 'network',
  ) {
    super(message);
    this.name = 'RequestError';
  }
  readonly retryable = true;
}

export interface RequestClientOptions {
  timeoutMs: number;
  /** Connections kept per origin. */
  connectionsPerOrigin: number;
  /**
   * Origin → origin rewrites (`SWITCHYARD_OUTBOUND_OVERRIDES`): a request to
   * `https://api2.amplitude.com/2/httpapi` is sent to `<override>/2/httpapi`
   * (egress through a private endpoint or proxy; local fakes in tests). The
   * rewrite happens here, below `capturing()`, so captured exchanges (Event
   * Delivery samples, failure logs) keep the ORIGINAL URL: what the destination
   * would have received.
   */
  overrides?: ReadonlyMap<string, string>;
  /** The most of a response body kept (MAX_RESPONSE_BODY unless set); the rest is cut off. */
  maxResponseBytes?: number;
}

/** Applies origin overrides to a URL; unchanged when its origin has none (or it does not parse). */
export function overrideUrl(url: string, overrides: ReadonlyMap<string, string> | undefined): string {
  if (!overrides || overrides.size === 0) return url;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  const target = overrides.get(u.origin);
  return target === undefined ? url : `${target}${u.pathname}${u.search}`;
}

/**
 * Parses `https://a.example.com=http://127.0.0.1:4567,...` into an origin map.
 * Each side must be a bare origin (scheme, host, optional port; no path).
 */
export function parseOutboundOverrides(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    const eq = entry.indexOf('=');
    const from = eq < 0 ? undefined : originOf(entry.slice(0, eq).trim());
    const to = eq < 0 ? undefined : originOf(entry.slice(eq + 1).trim());
    if (!from || !to) throw new Error(`bad entry "${entry}": expected <origin>=<origin>, e.g. https://api2.amplitude.com=http://127.0.0.1:4567`);
    out.set(from, to);
  }
  return out;
}

function originOf(s: string): string | undefined {
  try {
    const u = new URL(s);
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash || u.username) return undefined;
    return u.origin;
  } catch {
    return undefined;
  }
}

/**
 * A keep-alive HTTP client on undici's Agent. Requests go through `agent.dispatch`
 * with a handler that gathers the answer into a buffer: undici's `request()` would
 * also build an AbortSignal timer, a body stream and a promise chain per call, which
 * cost ~112 µs of client CPU per webhook POST against 68–80 µs now (38 for the bare
 * dispatch; docs/benchmarks.md, session 9), most of the difference garbage collection.
 * The timeout bounds the wait for the answer's headers, and again each gap in its
 * body (undici's own timers: no timer of ours per request).
 */
export function createRequestClient(options: RequestClientOptions): { request: RequestFn; close: () => Promise<void> } {
  const agent = new Agent({ connections: options.connectionsPerOrigin, keepAliveTimeout: 10_000, pipelining: 1 });
  /** URL → where undici sends it: a lane sends every event to the same few URLs. */
  const targets = new Map<string, { origin: string; path: string }>();
  const target = (raw: string): { origin: string; path: string } => {
    let t = targets.get(raw);
    if (!t) {
      const url = new URL(overrideUrl(raw, options.overrides));
      t = { origin: url.origin, path: url.pathname + url.search };
      if (targets.size >= 1024) targets.clear(); // URLs made per event (Actions): bounded
      targets.set(raw, t);
    }
    return t;
  };
  const request: RequestFn = (req) =>
    new Promise<HttpResponse>((resolve, reject) => {
      const timeout = req.timeoutMs ?? options.timeoutMs;
      let t: { origin: string; path: string };
      try {
        t = target(req.url);
      } catch (err) {
        reject(new RequestError(`invalid URL ${JSON.stringify(req.url)}: ${describe(err)}`, 'network'));
        return;
      }
      agent.dispatch(
        { origin: t.origin, path: t.path, method: req.method, headers: req.headers, body: req.body, headersTimeout: timeout, bodyTimeout: timeout },
        new Gather(resolve, reject, timeout, options.maxResponseBytes ?? MAX_RESPONSE_BODY),
      );
    });
  return { request, close: () => agent.close() };
}

/**
 * The most of a response body the client keeps: a destination answering with a huge (or
 * endless) body must not grow the router's memory. Past it the answer is settled with the
 * body cut there and the connection is dropped (the status and headers are kept, so a 200
 * with a large body is still a delivery, not a retry that would send the event twice).
 */
export const MAX_RESPONSE_BODY = 1 << 20;

/** undici's dispatch handler for one request: gathers the answer, then settles the caller's promise. */
class Gather implements Dispatcher.DispatchHandlers {
  private status = 0;
  private raw: Buffer[] = [];
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private cut = false;
  private settled = false;
  private abort: ((err?: Error) => void) | null = null;

  constructor(
    private readonly resolve: (res: HttpResponse) => void,
    private readonly reject: (err: RequestError) => void,
    private readonly timeout: number,
    private readonly limit: number,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
  }

  onHeaders(statusCode: number, headers: Buffer[] | string[] | null): boolean {
    this.status = statusCode;
    this.raw = (headers ?? []) as Buffer[];
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.settled) return true;
    if (this.size + chunk.length > this.limit) {
      this.chunks.push(chunk.subarray(0, this.limit - this.size));
      this.cut = true;
      this.onComplete();
      this.abort?.(new Error(`response body over ${this.limit} bytes: cut there`));
      return false;
    }
    this.size += chunk.length;
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.settled) return;
    this.settled = true;
    const { chunks } = this;
    const body = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
    const res: HttpResponse = { status: this.status, headers: headerObject(this.raw), body };
    if (this.cut) res.cutAt = this.limit;
    this.resolve(res);
  }

  onError(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(isTimeout(err) ? new RequestError(`timed out after ${this.timeout} ms`, 'timeout') : new RequestError(describe(err), 'network'));
  }
}

/** undici's raw header list (name, value, name, value...) as lower-case names; repeated names joined with ", ". */
function headerObject(raw: readonly Buffer[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1').toLowerCase();
    const value = raw[i + 1]!.toString('utf8');
    const prev = out[name];
    out[name] = prev === undefined ? value : `${prev}, ${value}`;
  }
  return out;
}

function isTimeout(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.cause?.code ?? e.code;
  const message = e.cause?.message ?? e.message ?? String(err);
  return code ? `${code}: ${message}` : message;
}

const MAX_CAPTURED_BODY = 4096;

/** Header names whose values `capturing` redacts, lower-cased once (a destination can keep one per settings). */
export class RedactSet extends Set<string> {
  constructor(names: Iterable<string>) {
    super([...names].map((h) => h.toLowerCase()));
  }
}

/**
 * Wraps a RequestFn so every exchange is recorded (truncated, with the given
 * header names redacted) for Event Delivery samples and failure logs.
 */
export function capturing(base: RequestFn, redactHeaders: readonly string[] | RedactSet): { request: RequestFn; exchanges: Exchange[] } {
  const exchanges: Exchange[] = [];
  const redact = redactHeaders instanceof RedactSet ? redactHeaders : new RedactSet(redactHeaders);
  const request: RequestFn = async (req) => {
    const started = Date.now();
    const exchange: Exchange = {
      request: { method: req.method, url: req.url, headers: redacted(req.headers, redact), body: truncate(req.body ?? '') },
      durationMs: 0,
    };
    exchanges.push(exchange);
    try {
      const res = await base(req);
      // A cut body says so in failure logs and samples: a destination's parse error on it is then explained.
      const body = res.cutAt === undefined ? truncate(res.body) : `${res.body.slice(0, MAX_CAPTURED_BODY)}…[the response was over ${res.cutAt} bytes; Switchyard kept the first ${res.cutAt}]`;
      exchange.response = { status: res.status, headers: res.headers, body };
      return res;
    } catch (err) {
      exchange.error = err instanceof Error ? err.message : String(err);
      throw err;
    } finally {
      exchange.durationMs = Date.now() - started;
    }
  };
  return { request, exchanges };
}

function redacted(headers: Record<string, string>, names: Set<string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k] = names.has(k.toLowerCase()) || k.toLowerCase() === 'authorization' ? '[redacted]' : v;
  return out;
}

function truncate(s: string): string {
  return s.length > MAX_CAPTURED_BODY ? `${s.slice(0, MAX_CAPTURED_BODY)}…[truncated ${s.length - MAX_CAPTURED_BODY} chars]` : s;
}
