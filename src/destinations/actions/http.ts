import { AsyncLocalStorage } from 'node:async_hooks';
import type { HttpRequest, RequestFn } from '../../core/request.js';
import { actionsCoreFetchModule } from './catalog.js';

/**
 * All HTTP made by Actions destinations goes through Switchyard's RequestFn.
 *
 * The engine's request client has no option to inject a fetch: it calls the
 * default export of its own `fetch.js` (cross-fetch), read at call time. We
 * replace that export once with a fetch that forwards to the RequestFn of the
 * delivery in progress, found through AsyncLocalStorage (deliveries of several
 * instances run concurrently in one thread, each with its own capturing
 * RequestFn). A request made outside a delivery fails instead of reaching the
 * network on its own: nothing bypasses timeouts, capture or test interception.
 */
const current = new AsyncLocalStorage<RequestFn>();
let installed = false;

interface FetchHeaders {
  forEach(cb: (value: string, key: string) => void): void;
}
interface FetchRequestLike {
  url: string;
  method: string;
  headers: FetchHeaders;
  text(): Promise<string>;
}
type ResponseCtor = new (body: string, init: { status: number; headers: Record<string, string>; url: string }) => unknown;

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
/** Recomputed by our client from the body we actually send. */
const DROP_REQUEST_HEADERS = new Set(['content-length', 'host', 'connection']);
/** The body we hand back is already decoded text. */
const DROP_RESPONSE_HEADERS = new Set(['content-length', 'content-encoding', 'transfer-encoding']);

export function installFetchHook(): void {
  if (installed) return;
  const mod = actionsCoreFetchModule();
  const Response = mod.Response as ResponseCtor;
  mod.default = async (input: unknown, init?: { method?: string; headers?: unknown; body?: unknown }): Promise<unknown> => {
    const request = current.getStore();
    if (!request) throw new Error('an Actions destination made an HTTP request outside a delivery; refused');
    const req = await toHttpRequest(input, init);
    const res = await request(req);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (!DROP_RESPONSE_HEADERS.has(k.toLowerCase())) headers[k] = v;
    // A 204/304 body must be null for a fetch Response; ours is ''.
    return new Response(res.status === 204 || res.status === 304 ? (null as unknown as string) : res.body, { status: res.status, headers, url: req.url });
  };
  installed = true;
}

/** Runs `fn` so that every request the engine makes inside it goes through `request`. */
export function withRequestFn<T>(request: RequestFn, fn: () => Promise<T>): Promise<T> {
  return current.run(request, fn);
}

async function toHttpRequest(input: unknown, init?: { method?: string; headers?: unknown; body?: unknown }): Promise<HttpRequest> {
  let url: string;
  let method: string;
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (typeof input === 'string' || input instanceof URL) {
    url = String(input);
    method = (init?.method ?? 'GET').toUpperCase();
    copyHeaders(init?.headers, headers);
    body = init?.body === undefined || init.body === null ? undefined : String(init.body);
  } else {
    const r = input as FetchRequestLike;
    url = r.url;
    method = r.method.toUpperCase();
    r.headers.forEach((v, k) => {
      headers[k] = v;
    });
    // Bodies are read as UTF-8 text: JSON and form bodies (all we have seen in the
    // catalog) survive; a binary body would not. See the adapter's notes.
    body = method === 'GET' || method === 'HEAD' ? undefined : await r.text();
  }
  for (const k of Object.keys(headers)) if (DROP_REQUEST_HEADERS.has(k.toLowerCase())) delete headers[k];
  if (!METHODS.has(method)) throw new Error(`HTTP method ${method} is not supported by Switchyard's request client`);
  return { method: method as HttpRequest['method'], url, headers, ...(body !== undefined ? { body } : {}) };
}

function copyHeaders(from: unknown, to: Record<string, string>): void {
  if (!from) return;
  if (typeof (from as FetchHeaders).forEach === 'function' && !Array.isArray(from)) {
    (from as FetchHeaders).forEach((v, k) => (to[k.toLowerCase()] = v));
    return;
  }
  const pairs = Array.isArray(from) ? (from as [string, string][]) : Object.entries(from as Record<string, string>);
  for (const [k, v] of pairs) to[k.toLowerCase()] = String(v);
}
