/**
 * The JavaScript that runs inside each function's isolate before the function's
 * own code: the globals Segment's runtime offers (fetch, Headers, URL, console,
 * the error classes, Segment, cache, ...) written against bare ECMAScript.
 *
 * It is evaluated with `context.evalClosure`, receiving the host bridges as
 * $0..$5, so the bridges live only in this closure and never on the global
 * object the function's code can see. It returns `bind(lookup)`, which gives
 * the host the `run(handlerName, argsJson)` entry point.
 *
 * No backticks or dollar-brace sequences below: this is a template literal.
 */
export const PRELUDE = String.raw`
'use strict';
const hostLog = $0, hostEmit = $1, hostUrl = $2, hostFetch = $3, hostSleep = $4, hostCrypto = $5;
const G = globalThis;
const { parse: jsonParse, stringify: jsonStringify } = JSON;
// Configurable so the function's own top-level declarations may shadow them.
const define = (name, value) =>
  Object.defineProperty(G, name, { value, writable: true, configurable: true, enumerable: false });

// ---- error classes (Segment's); name follows the class so subclasses keep theirs
const errorClass = (base) => {
  const C = { [base]: class extends Error {
    constructor(message) { super(message); this.name = new.target.name || base; }
  } }[base];
  define(base, C);
  return C;
};
const KINDS = ['EventNotSupported', 'ValidationError', 'InvalidEventPayload', 'DropEvent', 'RetryError']
  .map((kind) => [errorClass(kind), kind]);
const EventNotSupported = KINDS[0][0];

const describe = (e) => {
  const found = KINDS.find(([C]) => e instanceof C);
  const kind = found ? found[1] : 'Error';
  if (e instanceof Error) {
    const out = { kind, name: String(e.name || 'Error'), message: String(e.message) };
    // The prelude's own frames say nothing about the function's code.
    if (typeof e.stack === 'string') out.stack = e.stack.split('\n').filter((l) => !l.includes('switchyard:prelude')).join('\n');
    return out;
  }
  let message;
  try { message = String(e); } catch { message = Object.prototype.toString.call(e); }
  return { kind, name: 'Error', message };
};

// ---- console: everything goes to the host, which enforces the 4 KB cap
let logsFull = false;
const show = (v) => {
  if (typeof v === 'string') return v;
  if (v instanceof Error) return v.stack || v.name + ': ' + v.message;
  if (typeof v === 'function') return '[Function: ' + (v.name || 'anonymous') + ']';
  if (v === undefined || typeof v === 'symbol' || typeof v === 'bigint') return String(v);
  try { const j = jsonStringify(v); return j === undefined ? String(v) : j; } catch { return String(v); }
};
// Lines longer than the cap only need to be long enough to be cut by the host.
const log = (...args) => { if (!logsFull && !hostLog(args.map(show).join(' ').slice(0, 4100))) logsFull = true; };
define('console', Object.freeze({ log, info: log, warn: log, error: log, debug: log, trace: log, dir: log }));

// ---- Headers
const TOKEN = /^[!#$%&'*+.^_|~0-9A-Za-z-]+$/;
const headerName = (k) => {
  k = String(k);
  if (!TOKEN.test(k)) throw new TypeError('Invalid header name: ' + jsonStringify(k));
  return k.toLowerCase();
};
const pairsOf = (init, what) => {
  if (init == null) return [];
  if (typeof init !== 'object' && typeof init !== 'function') throw new TypeError(what + ': expected an object or pairs');
  if (typeof init[Symbol.iterator] === 'function') {
    return Array.from(init, (p) => {
      const a = Array.from(p);
      if (a.length !== 2) throw new TypeError(what + ': each pair needs exactly a name and a value');
      return [String(a[0]), String(a[1])];
    });
  }
  return Object.keys(init).map((k) => [k, String(init[k])]);
};
class Headers {
  #m = new Map();
  constructor(init) { for (const [k, v] of pairsOf(init, 'Headers')) this.append(k, v); }
  append(k, v) {
    k = headerName(k); v = String(v).trim();
    const cur = this.#m.get(k);
    this.#m.set(k, cur === undefined ? v : cur + ', ' + v);
  }
  set(k, v) { this.#m.set(headerName(k), String(v).trim()); }
  get(k) { const v = this.#m.get(headerName(k)); return v === undefined ? null : v; }
  has(k) { return this.#m.has(headerName(k)); }
  delete(k) { this.#m.delete(headerName(k)); }
  forEach(cb, thisArg) { for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this); }
  entries() { return [...this.#m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))[Symbol.iterator](); }
  keys() { return Array.from(this.entries(), (e) => e[0])[Symbol.iterator](); }
  values() { return Array.from(this.entries(), (e) => e[1])[Symbol.iterator](); }
  [Symbol.iterator]() { return this.entries(); }
}
define('Headers', Headers);

// ---- URLSearchParams (application/x-www-form-urlencoded)
const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+')
  .replace(/[!'()~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const dec = (s) => { try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return s; } };
let attachParams, reparseParams;
class URLSearchParams {
  #list = [];
  #onChange = null;
  static {
    attachParams = (p, fn) => { p.#onChange = fn; };
    reparseParams = (p, s) => { p.#parse(s); };
  }
  constructor(init) {
    if (init instanceof URLSearchParams) this.#list = init.#list.map((p) => [...p]);
    else if (init == null) return;
    else if (typeof init === 'object' || typeof init === 'function') this.#list = pairsOf(init, 'URLSearchParams');
    else this.#parse(String(init));
  }
  #parse(s) {
    this.#list = [];
    for (const part of (s[0] === '?' ? s.slice(1) : s).split('&')) {
      if (!part) continue;
      const i = part.indexOf('=');
      this.#list.push(i < 0 ? [dec(part), ''] : [dec(part.slice(0, i)), dec(part.slice(i + 1))]);
    }
  }
  #changed() { if (this.#onChange) this.#onChange(this.toString()); }
  get size() { return this.#list.length; }
  append(k, v) { this.#list.push([String(k), String(v)]); this.#changed(); }
  delete(k, v) {
    k = String(k);
    this.#list = this.#list.filter((p) => p[0] !== k || (v !== undefined && p[1] !== String(v)));
    this.#changed();
  }
  get(k) { const p = this.#list.find((e) => e[0] === String(k)); return p ? p[1] : null; }
  getAll(k) { return this.#list.filter((e) => e[0] === String(k)).map((e) => e[1]); }
  has(k, v) { return this.#list.some((e) => e[0] === String(k) && (v === undefined || e[1] === String(v))); }
  set(k, v) {
    k = String(k); v = String(v);
    const i = this.#list.findIndex((e) => e[0] === k);
    if (i < 0) this.#list.push([k, v]);
    else this.#list = this.#list.filter((e, j) => j <= i || e[0] !== k).map((e, j) => (j === i ? [k, v] : e));
    this.#changed();
  }
  sort() { this.#list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); this.#changed(); }
  forEach(cb, thisArg) { for (const [k, v] of this.#list) cb.call(thisArg, v, k, this); }
  entries() { return this.#list.map((p) => [...p])[Symbol.iterator](); }
  keys() { return this.#list.map((p) => p[0])[Symbol.iterator](); }
  values() { return this.#list.map((p) => p[1])[Symbol.iterator](); }
  [Symbol.iterator]() { return this.entries(); }
  toString() { return this.#list.map(([k, v]) => enc(k) + '=' + enc(v)).join('&'); }
}
define('URLSearchParams', URLSearchParams);

// ---- URL: parsing and setters are the host's WHATWG URL (a synchronous bridge)
const PARTS = ['href', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash'];
const fromHost = (r) => { if (r.error) throw new TypeError(r.error); return r; };
class URL {
  #p;
  #params;
  constructor(input, base) {
    this.#p = fromHost(hostUrl('parse', String(input), base === undefined ? undefined : String(base)));
    this.#params = new URLSearchParams(this.#p.search);
    attachParams(this.#params, (s) => { this.#p = fromHost(hostUrl('set', this.#p.href, 'search', s)); });
  }
  static {
    for (const part of PARTS) {
      Object.defineProperty(URL.prototype, part, {
        configurable: true,
        get() { return this.#p[part]; },
        set(v) {
          this.#p = fromHost(part === 'href' ? hostUrl('parse', String(v)) : hostUrl('set', this.#p.href, part, String(v)));
          if (part === 'href' || part === 'search') reparseParams(this.#params, this.#p.search);
        },
      });
    }
  }
  get origin() { return this.#p.origin; }
  get searchParams() { return this.#params; }
  toString() { return this.#p.href; }
  toJSON() { return this.#p.href; }
  static canParse(input, base) { try { new URL(input, base); return true; } catch { return false; } }
}
define('URL', URL);

// ---- atob / btoa (Latin-1 strings, as in browsers)
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const charError = (m) => Object.assign(new Error(m), { name: 'InvalidCharacterError' });
define('btoa', (s) => {
  s = String(s);
  if (/[^\x00-\xff]/.test(s)) throw charError('btoa: the string contains characters outside of the Latin1 range');
  let out = '';
  for (let i = 0; i < s.length; i += 3) {
    const n = (s.charCodeAt(i) << 16) | ((s.charCodeAt(i + 1) || 0) << 8) | (s.charCodeAt(i + 2) || 0);
    out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63] +
      (i + 1 < s.length ? B64[(n >> 6) & 63] : '=') + (i + 2 < s.length ? B64[n & 63] : '=');
  }
  return out;
});
define('atob', (s) => {
  s = String(s).replace(/[\t\n\f\r ]/g, '');
  if (s.length % 4 === 0) s = s.replace(/==?$/, '');
  if (s.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(s)) throw charError('atob: the string to be decoded is not correctly encoded');
  let out = '', buf = 0, bits = 0;
  for (const ch of s) {
    buf = ((buf << 6) | B64.indexOf(ch)) & 0xffff; bits += 6;
    if (bits >= 8) { bits -= 8; out += String.fromCharCode((buf >> bits) & 255); }
  }
  return out;
});

// ---- crypto: Node's module, the part functions use to sign and hash requests, computed by
// the host. There is no Buffer here: digest() returns a string, hex unless an encoding
// (hex, base64, base64url, latin1) is given; keys and data are strings (UTF-8).
const hashLike = (alg, key) => {
  const parts = [];
  const h = {
    update(data) { parts.push(String(data)); return h; },
    digest(encoding) { return hostCrypto('digest', String(alg), key, parts.join(''), encoding === undefined ? 'hex' : String(encoding)); },
  };
  return h;
};
define('crypto', Object.freeze({
  createHash: (alg) => hashLike(alg, null),
  createHmac: (alg, key) => hashLike(alg, String(key)),
  randomUUID: () => hostCrypto('uuid'),
}));

// ---- timers: the host waits, the callback runs here
let timerSeq = 0;
const timers = new Set();
define('setTimeout', (fn, ms, ...args) => {
  if (typeof fn !== 'function') throw new TypeError('setTimeout: the callback must be a function');
  const id = ++timerSeq;
  timers.add(id);
  hostSleep.apply(undefined, [Math.max(0, Number(ms) || 0)], { result: { promise: true } })
    .then(() => { if (timers.delete(id)) fn(...args); })
    .catch((e) => log('Uncaught error in a setTimeout callback:', e));
  return id;
});
define('clearTimeout', (id) => { timers.delete(id); });

// ---- fetch
class Response {
  #body;
  constructor(r) {
    this.#body = r.body;
    this.status = r.status; this.statusText = r.statusText; this.url = r.url;
    this.ok = r.status >= 200 && r.status < 300;
    this.headers = new Headers(r.headers);
  }
  async text() { return this.#body; }
  async json() { return jsonParse(this.#body); }
}
define('fetch', async (input, init) => {
  init = init || {};
  const url = input instanceof URL ? input.href : input && typeof input === 'object' && 'url' in input ? String(input.url) : String(input);
  const headers = new Headers(init.headers);
  let body = init.body;
  if (body instanceof URLSearchParams) {
    if (!headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
    body = body.toString();
  } else if (body != null) body = String(body);
  else body = undefined;
  const req = { url, method: String(init.method || 'GET').toUpperCase(), headers: [...headers.entries()] };
  if (body !== undefined) req.body = body;
  const r = await hostFetch.apply(undefined, [req], { arguments: { copy: true }, result: { promise: true, copy: true } });
  if (r.error) throw new TypeError('fetch failed: ' + r.error);
  return new Response(r);
});

// ---- Segment (source functions) and cache
const emitter = (type) => (fields) => {
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) {
    throw new TypeError('Segment.' + type + '() expects an object');
  }
  hostEmit(type, jsonStringify(fields));
};
define('Segment', Object.freeze(Object.fromEntries(
  ['identify', 'track', 'page', 'screen', 'group', 'alias', 'set'].map((t) => [t, emitter(t)]))));

const store = new Map();
define('cache', Object.freeze({
  async load(key, ttlMs, fn) {
    if (typeof fn !== 'function') throw new TypeError('cache.load(key, ttl, fn): fn must be a function');
    const hit = store.get(key);
    if (hit && hit.expires > Date.now()) return hit.value;
    // The pending promise is cached, so concurrent loads of one key call fn once.
    const value = Promise.resolve().then(() => fn());
    store.set(key, { value, expires: Date.now() + Number(ttlMs) });
    try { return await value; } catch (e) {
      if (store.get(key)?.value === value) store.delete(key);
      throw e;
    }
  },
  delete(key) { store.delete(key); },
}));

const toRequest = (r) => {
  const body = r.body == null ? '' : String(r.body);
  return {
    url: new URL(r.url, 'http://localhost/'),
    method: String(r.method),
    headers: new Headers(r.headers),
    // Synchronous, as Segment documents them ("const body = request.json()"); awaiting a
    // plain value gives the value, so code written for fetch's promises works too.
    text() { return body; },
    json() {
      try { return jsonParse(body); } catch (e) { throw new SyntaxError('the request body is not valid JSON: ' + e.message); }
    },
  };
};

return function bind(lookup) {
  return async function run(name, argsJson) {
    logsFull = false;
    try {
      const handler = lookup(name);
      if (typeof handler !== 'function') throw new EventNotSupported(name + ' is not defined');
      const args = jsonParse(argsJson);
      if (name === 'onRequest' && args[0] && typeof args[0] === 'object') args[0] = toRequest(args[0]);
      const value = await handler(...args);
      try { return jsonStringify({ ok: true, value }); } catch (e) {
        throw new TypeError('the handler returned a value that cannot be copied: ' + e.message);
      }
    } catch (e) {
      return jsonStringify({ ok: false, error: describe(e) });
    }
  };
};
`;
