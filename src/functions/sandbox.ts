/**
 * Runs a function's code (Segment's source, destination and insert functions)
 * in its own V8 isolate with isolated-vm: one isolate and one context per
 * compiled function, so globals persist between invocations as Segment
 * documents, while the code sees only ECMAScript plus the globals of prelude.ts.
 *
 * Invocations of one compiled function run one at a time (Segment's runtime
 * gives each environment one event at a time too): that is what lets logs,
 * fetches and emitted messages be attributed to the invocation that made them.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import ivm from 'isolated-vm';
import { PRELUDE } from './prelude.js';
import {
  EVENT_HANDLERS,
  FunctionCodeError,
  type EmittedMessage,
  type FunctionError,
  type FunctionErrorKind,
  type FunctionFetch,
  type FunctionKind,
  type HandlerName,
  type InvokeResult,
  type SandboxFetchRequest,
  type SandboxFetchResponse,
  type SandboxOptions,
} from './types.js';

export interface CompiledFunction {
  /** The handlers the code defines (top-level `async function onTrack(...)`, `const onBatch = ...`, etc.). */
  readonly handlers: ReadonlySet<HandlerName>;
  /** Runs one handler with JSON-copied args. A handler the code does not define → ok:false, kind 'EventNotSupported'. Never throws. */
  invoke(handler: HandlerName, args: unknown[]): Promise<InvokeResult>;
  /** Frees the isolate; later invokes answer ok:false kind 'Error'. */
  dispose(): void;
}

const DESTINATION_HANDLERS: HandlerName[] = [...Object.values(EVENT_HANDLERS), 'onBatch'];
const ALL_HANDLERS: HandlerName[] = [...DESTINATION_HANDLERS, 'onRequest'];
const REQUIRED: Record<FunctionKind, HandlerName[]> = {
  SOURCE: ['onRequest'],
  DESTINATION: DESTINATION_HANDLERS,
  INSERT_DESTINATION: DESTINATION_HANDLERS,
};
const LOG_LIMIT_BYTES = 4096;
const FILENAME = 'function.js';
const MAX_TIMER_MS = 2 ** 31 - 1;

// Scripts run after the code share its global lexical scope, so these see
// `const onBatch = ...` as well as `function onTrack() {}`, without eval.
const LOOKUP_SOURCE = `(function (n) { switch (n) {${ALL_HANDLERS.map(
  (h) => ` case '${h}': return typeof ${h} === 'function' ? ${h} : undefined;`,
).join('')} default: return undefined; } })`;
const LIST_SOURCE = `[${ALL_HANDLERS.map((h) => `typeof ${h} === 'function' ? '${h}' : ''`).join(', ')}].join(',')`;

/** What one invocation collected; closed once its result is returned, so late arrivals are dropped. */
interface Sink {
  logs: string[];
  logBytes: number;
  cut: boolean;
  /** In the order the code started them; `done` is false while the host still waits for a response. */
  fetches: { entry: FunctionFetch; started: number; done: boolean }[];
  emitted: EmittedMessage[];
  closed: boolean;
}

interface Live {
  isolate: ivm.Isolate;
  /** Resolves to the JSON of `{ ok, value }` or `{ ok: false, error }` (prelude.ts). */
  run: ivm.Reference<(name: string, argsJson: string) => string>;
  handlers: HandlerName[];
}

interface Settings {
  memoryMb: number;
  timeoutMs: number;
  fetch: SandboxOptions['fetch'];
}

const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

function cutToBytes(text: string, bytes: number): string {
  return Buffer.from(text, 'utf8').subarray(0, bytes).toString('utf8').replace(/\uFFFD$/, '');
}

/** Where the code went wrong, from isolated-vm's `[function.js:2:11]` suffix or a stack frame. */
function codePosition(e: unknown): string {
  const text = e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e);
  const m = new RegExp(`${FILENAME.replace('.', '\\.')}:(\\d+):(\\d+)`).exec(text);
  return m ? ` at line ${m[1]}, column ${m[2]}` : '';
}

function describeLoadFailure(e: unknown, isolate: ivm.Isolate, s: Settings): string {
  const message = errorMessage(e).replace(/\s*\[[^\]]*:\d+:\d+\]$/, '');
  if (isolate.isDisposed && /memory limit/i.test(message)) return `the code ran out of memory (${s.memoryMb} MB) while loading`;
  if (/timed out/i.test(message)) return `the code's top level did not finish within ${s.timeoutMs} ms`;
  const name = e instanceof Error ? e.name : 'Error';
  return `${name}: ${message}${codePosition(e)}`;
}

async function build(code: string, s: Settings, sink: () => Sink | null): Promise<Live> {
  const isolate = new ivm.Isolate({ memoryLimit: s.memoryMb });
  try {
    const context = await isolate.createContext();
    const log = new ivm.Callback((line: unknown): boolean => {
      const into = sink();
      if (!into || into.closed) return true;
      if (into.cut) return false;
      const text = String(line);
      const bytes = Buffer.byteLength(text, 'utf8');
      if (into.logBytes + bytes <= LOG_LIMIT_BYTES) {
        into.logs.push(text);
        into.logBytes += bytes;
        return true;
      }
      const room = LOG_LIMIT_BYTES - into.logBytes;
      if (room > 0) into.logs.push(cutToBytes(text, room));
      into.logs.push(`[console output exceeded ${LOG_LIMIT_BYTES / 1024} KB; the rest of this invocation's logs was cut]`);
      into.cut = true;
      return false;
    });
    const emit = new ivm.Callback((type: string, json: string): void => {
      const into = sink();
      if (into && !into.closed) into.emitted.push({ type: type as EmittedMessage['type'], fields: JSON.parse(json) });
    });
    const url = new ivm.Callback((op: string, href: string, a?: string, b?: string) => {
      try {
        const u = op === 'parse' ? new URL(href, a) : new URL(href);
        if (op === 'set') {
          if (!['protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash'].includes(a ?? '')) {
            throw new Error(`cannot set ${a}`);
          }
          (u as unknown as Record<string, string>)[a as string] = b ?? '';
        }
        const { href: h, protocol, username, password, host, hostname, port, pathname, search, hash, origin } = u;
        return { href: h, protocol, username, password, host, hostname, port, pathname, search, hash, origin };
      } catch {
        return { error: `Invalid URL: ${href}` };
      }
    });
    const fetch = new ivm.Reference(async (raw: SandboxFetchRequest) => hostFetch(raw, s, sink()));
    const sleep = new ivm.Reference(
      (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.min(ms, MAX_TIMER_MS)).unref()),
    );
    const crypto = new ivm.Callback(hostCrypto);
    const bind = await context.evalClosure(PRELUDE, [log, emit, url, fetch, sleep, crypto], {
      filename: 'switchyard:prelude',
      result: { reference: true },
    });

    let script: ivm.Script;
    try {
      script = await isolate.compileScript(code, { filename: FILENAME });
    } catch (e) {
      throw new FunctionCodeError(`The code does not compile: ${describeLoadFailure(e, isolate, s)}`);
    }
    try {
      await script.run(context, { timeout: s.timeoutMs });
    } catch (e) {
      throw new FunctionCodeError(`The code failed while loading: ${describeLoadFailure(e, isolate, s)}`);
    }
    const lookup = await context.eval(LOOKUP_SOURCE, { reference: true });
    const listed = (await context.eval(LIST_SOURCE, { copy: true })) as string;
    const run = (await bind.apply(undefined, [lookup.derefInto()], { result: { reference: true } })) as Live['run'];
    const handlers = listed.split(',').filter(Boolean) as HandlerName[];
    return { isolate, run, handlers };
  } catch (e) {
    if (!isolate.isDisposed) isolate.dispose();
    throw e;
  }
}

const DIGEST_ENCODINGS = new Set(['hex', 'base64', 'base64url', 'latin1']);

/** The code's `crypto.createHash/createHmac(...).digest()` and `crypto.randomUUID()`; a bad algorithm or encoding throws into the code. */
function hostCrypto(op: string, alg?: string, key?: string | null, data?: string, encoding?: string): string {
  try {
    if (op === 'uuid') return randomUUID();
    if (!DIGEST_ENCODINGS.has(encoding ?? '')) throw new TypeError(`digest: encoding ${encoding} is not supported (hex, base64, base64url, latin1)`);
    const h = key === null || key === undefined ? createHash(alg ?? '') : createHmac(alg ?? '', key);
    return h.update(data ?? '', 'utf8').digest(encoding as 'hex');
  } catch (e) {
    // The code sees the message, not the host's stack (its file paths).
    const err = e instanceof TypeError ? new TypeError(e.message) : new Error(`crypto: ${errorMessage(e)} (${alg})`);
    err.stack = `${err.name}: ${err.message}`;
    throw err;
  }
}

/** The host side of the code's `fetch`: never rejects, so the isolate can raise its own TypeError. */
async function hostFetch(
  raw: SandboxFetchRequest,
  s: Settings,
  into: Sink | null,
): Promise<SandboxFetchResponse | { error: string }> {
  const method = String(raw?.method ?? 'GET');
  const url = String(raw?.url ?? '');
  const trace = { entry: { method, url, durationMs: 0 } as FunctionFetch, started: performance.now(), done: false };
  if (into && !into.closed) into.fetches.push(trace);
  const record = (outcome: { status: number } | { error: string }): void => {
    trace.entry = { ...trace.entry, ...outcome, durationMs: Math.round(performance.now() - trace.started) };
    trace.done = true;
  };
  try {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`invalid URL ${JSON.stringify(url)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`unsupported protocol ${parsed.protocol}`);
    const headers = Array.isArray(raw.headers) ? raw.headers.map(([k, v]): [string, string] => [String(k), String(v)]) : [];
    const req: SandboxFetchRequest = { url, method, headers };
    if (typeof raw.body === 'string') req.body = raw.body;
    const res = await s.fetch(req);
    record({ status: res.status });
    return {
      status: Number(res.status),
      statusText: String(res.statusText ?? ''),
      headers: (res.headers ?? []).map(([k, v]): [string, string] => [String(k), String(v)]),
      body: String(res.body ?? ''),
      url: String(res.url || url),
    };
  } catch (e) {
    const error = errorMessage(e) || 'request failed';
    record({ error });
    return { error };
  }
}

const TIMED_OUT = Symbol('timed out');

class SandboxedFunction implements CompiledFunction {
  private queue: Promise<unknown> = Promise.resolve();
  private sink: Sink | null = null;
  private disposed = false;
  readonly handlers: ReadonlySet<HandlerName>;

  constructor(
    private readonly code: string,
    private readonly settings: Settings,
    private live: Live | null,
    handlers: HandlerName[],
  ) {
    this.handlers = new Set(handlers);
  }

  /** For `build`: the bridges look the current sink up at call time, across rebuilds. */
  readonly currentSink = (): Sink | null => this.sink;

  invoke(handler: HandlerName, args: unknown[]): Promise<InvokeResult> {
    const result = this.queue.then(() => this.invokeNow(handler, args));
    this.queue = result.catch(() => undefined);
    return result;
  }

  dispose(): void {
    this.disposed = true;
    if (this.live) this.teardown(this.live);
  }

  private teardown(live: Live): void {
    if (this.live === live) this.live = null;
    if (!live.isolate.isDisposed) live.isolate.dispose();
  }

  private async invokeNow(handler: HandlerName, args: unknown[]): Promise<InvokeResult> {
    const sink: Sink = { logs: [], logBytes: 0, cut: false, fetches: [], emitted: [], closed: false };
    const fail = (kind: FunctionErrorKind, message: string, name = kind === 'Error' ? 'Error' : kind): FunctionError => ({
      kind,
      name,
      message,
    });
    const finish = (outcome: { ok: true; value: unknown } | { ok: false; error: FunctionError }): InvokeResult => {
      sink.closed = true;
      if (this.sink === sink) this.sink = null;
      const fetches = sink.fetches.map(({ entry, started, done }): FunctionFetch =>
        done ? entry : { ...entry, error: 'no response before the invocation ended', durationMs: Math.round(performance.now() - started) });
      return { ...outcome, logs: [...sink.logs], fetches, emitted: [...sink.emitted] };
    };

    if (this.disposed) return finish({ ok: false, error: fail('Error', 'the function has been disposed') });
    let argsJson: string;
    try {
      argsJson = JSON.stringify(args ?? []);
    } catch (e) {
      return finish({ ok: false, error: fail('Error', `the arguments cannot be copied: ${errorMessage(e)}`) });
    }
    let live = this.live;
    if (!live) {
      try {
        live = this.live = await build(this.code, this.settings, this.currentSink);
      } catch (e) {
        return finish({ ok: false, error: fail('Error', `the function could not be restarted: ${errorMessage(e)}`) });
      }
    }

    const { timeoutMs, memoryMb } = this.settings;
    this.sink = sink;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), timeoutMs);
    });
    // `timeout` bounds the synchronous part inside V8; the race bounds everything after the first await.
    const running = live.run.apply(undefined, [handler, argsJson], {
      timeout: timeoutMs,
      result: { promise: true, copy: true },
    });
    try {
      const out = await Promise.race([running, timedOut]);
      if (out === TIMED_OUT) {
        running.catch(() => undefined);
        // Disposed on every timeout, not only when V8 is stuck in a loop: a handler still
        // awaiting would otherwise resume later and log, fetch and emit into the next
        // invocation. A fresh environment after a timeout is also what AWS Lambda does.
        this.teardown(live);
        return finish({ ok: false, error: fail('Timeout', `the function did not finish within ${timeoutMs} ms`) });
      }
      const parsed = JSON.parse(out) as { ok: true; value?: unknown } | { ok: false; error: FunctionError };
      return finish(parsed.ok ? { ok: true, value: parsed.value } : parsed);
    } catch (e) {
      // The code's own throws come back inside `out`; a rejection here is the isolate itself failing.
      const message = errorMessage(e);
      const outOfMemory = live.isolate.isDisposed && /memory limit/i.test(message);
      this.teardown(live);
      if (outOfMemory) {
        return finish({ ok: false, error: fail('MemoryLimit', `the function ran out of memory (limit ${memoryMb} MB)`) });
      }
      if (/timed out/i.test(message)) {
        return finish({ ok: false, error: fail('Timeout', `the function did not finish within ${timeoutMs} ms`) });
      }
      return finish({ ok: false, error: fail('Error', `the sandbox failed: ${message}`) });
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Compiles a function's code into its own isolate. Throws FunctionCodeError when the code
 * does not compile, fails while loading, or defines none of the handlers its kind needs.
 */
export async function compileFunction(code: string, kind: FunctionKind, opts: SandboxOptions): Promise<CompiledFunction> {
  if (!Object.hasOwn(REQUIRED, kind)) throw new TypeError(`unknown function kind ${JSON.stringify(kind)}`);
  const settings: Settings = {
    memoryMb: Math.max(8, opts.memoryMb ?? 128),
    timeoutMs: Math.max(1, opts.timeoutMs ?? 5000),
    fetch: opts.fetch,
  };
  // The bridges need the function's sink before the function exists; a holder closes the loop.
  let holder: SandboxedFunction | null = null;
  const live = await build(code, settings, () => (holder ? holder.currentSink() : null));
  const required = REQUIRED[kind];
  if (!required.some((h) => live.handlers.includes(h))) {
    live.isolate.dispose();
    const need = kind === 'SOURCE' ? 'an onRequest handler' : `at least one of ${required.join(', ')}`;
    throw new FunctionCodeError(`A ${kind} function must define ${need}; the code defines ${
      live.handlers.length ? live.handlers.join(', ') : 'no handler'}`);
  }
  holder = new SandboxedFunction(code, settings, live, live.handlers);
  return holder;
}
