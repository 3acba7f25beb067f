/**
 * The Functions sandbox (src/functions/sandbox.ts) for real: code runs in an
 * isolated-vm isolate, fetches reach a real HTTP server on 127.0.0.1 through the
 * host, and timeouts and memory exhaustion are provoked rather than simulated.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { compileFunction, type CompiledFunction } from '../src/functions/sandbox.js';
import { FunctionCodeError, type FunctionError, type FunctionKind, type InvokeResult, type SandboxFetch, type SandboxOptions } from '../src/functions/types.js';

let server: http.Server;
let base = '';
let closedPort = 0;

before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      if (req.url === '/slow') {
        setTimeout(() => res.end('late'), 1000);
        return;
      }
      if (req.url === '/fail') {
        res.writeHead(503, 'Busy', { 'content-type': 'text/plain' }).end('try later');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json', 'X-Served-By': 'test' });
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port nothing listens on: bind, note it, close.
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});
after(() => {
  for (const fn of compiled) fn.dispose();
  server.closeAllConnections();
  server.close();
});

const hostFetch: SandboxFetch = async (req) => {
  const res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body });
  return { status: res.status, statusText: res.statusText, headers: [...res.headers], body: await res.text(), url: res.url };
};

const compiled: CompiledFunction[] = [];
async function compile(code: string, kind: FunctionKind = 'DESTINATION', opts: Partial<SandboxOptions> = {}) {
  const fn = await compileFunction(code, kind, { fetch: hostFetch, timeoutMs: 300, ...opts });
  compiled.push(fn);
  return fn;
}

function value(r: InvokeResult): unknown {
  if (!r.ok) assert.fail(`expected ok, got ${r.error.kind} ${r.error.name}: ${r.error.message}`);
  return r.value;
}

function failure(r: InvokeResult): FunctionError {
  if (r.ok) assert.fail(`expected a failure, got ${JSON.stringify(r.value)}`);
  return r.error;
}

test('handlers are found whether declared as functions or consts, and insert functions return the event', async () => {
  const fn = await compile(
    `async function onTrack(event, settings) { return { ...event, properties: { ...event.properties, tier: settings.tier } }; }
     const onIdentify = async () => {};
     let onBatch = async (events) => events.map((e) => ({ status: 200, id: e.messageId }));`,
    'INSERT_DESTINATION',
  );
  assert.deepEqual([...fn.handlers].sort(), ['onBatch', 'onIdentify', 'onTrack']);
  const event = { type: 'track', event: 'Bought', messageId: 'm1', properties: { total: 3 } };
  assert.deepEqual(value(await fn.invoke('onTrack', [event, { tier: 'gold' }])), { ...event, properties: { total: 3, tier: 'gold' } });
  assert.deepEqual(event.properties, { total: 3 }, 'the caller’s event is a copy, not touched');
  const r = await fn.invoke('onIdentify', [{ type: 'identify' }, {}]);
  assert.equal(r.ok, true);
  assert.equal(value(r), undefined);
  assert.deepEqual(value(await fn.invoke('onBatch', [[{ messageId: 'a' }, { messageId: 'b' }], {}])), [
    { status: 200, id: 'a' },
    { status: 200, id: 'b' },
  ]);
});

test('a handler the code does not define answers EventNotSupported', async () => {
  const fn = await compile('async function onTrack() { return 1; }');
  const e = failure(await fn.invoke('onScreen', [{ type: 'screen' }, {}]));
  assert.equal(e.kind, 'EventNotSupported');
  assert.equal(e.name, 'EventNotSupported');
  assert.match(e.message, /onScreen is not defined/);
});

test('each of Segment’s error classes maps to its kind; other throws map to Error', async () => {
  const fn = await compile(`
    class MyRetry extends RetryError {}
    async function onTrack(event, settings) {
      if (settings.throw === 'string') throw 'just a string';
      if (settings.throw === 'plain') throw new Error('plain failure');
      if (settings.throw === 'type') null.boom;
      if (settings.throw === 'sub') throw new MyRetry('subclassed');
      throw new globalThis[settings.throw]('bad: ' + settings.throw);
    }`);
  for (const kind of ['EventNotSupported', 'ValidationError', 'InvalidEventPayload', 'DropEvent', 'RetryError'] as const) {
    const e = failure(await fn.invoke('onTrack', [{}, { throw: kind }]));
    assert.deepEqual([e.kind, e.name, e.message], [kind, kind, `bad: ${kind}`]);
    assert.match(e.stack ?? '', /function\.js:8:\d+/, 'the stack points into the code');
    assert.doesNotMatch(e.stack ?? '', /prelude/);
  }
  const sub = failure(await fn.invoke('onTrack', [{}, { throw: 'sub' }]));
  assert.deepEqual([sub.kind, sub.name], ['RetryError', 'MyRetry']);
  const plain = failure(await fn.invoke('onTrack', [{}, { throw: 'plain' }]));
  assert.deepEqual([plain.kind, plain.name, plain.message], ['Error', 'Error', 'plain failure']);
  const typeError = failure(await fn.invoke('onTrack', [{}, { throw: 'type' }]));
  assert.deepEqual([typeError.kind, typeError.name], ['Error', 'TypeError']);
  const str = failure(await fn.invoke('onTrack', [{}, { throw: 'string' }]));
  assert.deepEqual([str.kind, str.name, str.message, str.stack], ['Error', 'Error', 'just a string', undefined]);
});

test('fetch goes through the host to a real server, with headers, bodies and a recorded trace', async () => {
  const fn = await compile(`
    async function onTrack(event, settings) {
      const posted = await fetch(settings.base + '/collect?x=1', {
        method: 'post',
        headers: [['Content-Type', 'application/json'], ['X-Api-Key', settings.key]],
        body: JSON.stringify(event),
      });
      const echo = await posted.json();
      const form = await fetch(new URL('/form', settings.base), { method: 'POST', body: new URLSearchParams({ a: '1 2', b: 'é&' }) });
      const formEcho = JSON.parse(await form.text());
      const failed = await fetch(settings.base + '/fail', { headers: new Headers({ accept: 'text/plain' }) });
      return {
        status: posted.status, ok: posted.ok, servedBy: posted.headers.get('x-SERVED-by'), echo,
        formType: formEcho.headers['content-type'], formBody: formEcho.body,
        failed: [failed.ok, failed.status, failed.statusText, await failed.text()],
      };
    }`);
  const r = await fn.invoke('onTrack', [{ event: 'Signed Up' }, { base, key: 'k-123' }]);
  const v = value(r) as Record<string, any>;
  assert.equal(v.status, 200);
  assert.equal(v.ok, true);
  assert.equal(v.servedBy, 'test');
  assert.equal(v.echo.method, 'POST');
  assert.equal(v.echo.url, '/collect?x=1');
  assert.equal(v.echo.headers['x-api-key'], 'k-123');
  assert.deepEqual(JSON.parse(v.echo.body), { event: 'Signed Up' });
  assert.match(v.formType, /^application\/x-www-form-urlencoded/);
  assert.equal(v.formBody, 'a=1+2&b=%C3%A9%26');
  assert.deepEqual(v.failed, [false, 503, 'Busy', 'try later']);
  assert.deepEqual(
    r.fetches.map((f) => [f.method, f.url, f.status]),
    [['POST', `${base}/collect?x=1`, 200], ['POST', `${base}/form`, 200], ['GET', `${base}/fail`, 503]],
  );
  for (const f of r.fetches) assert.ok(f.durationMs >= 0 && f.durationMs < 5000);
});

test('a failed fetch rejects with a TypeError saying why, and is recorded', async () => {
  const fn = await compile(`
    async function onTrack(event, settings) {
      try { await fetch(settings.url); } catch (e) { return [e instanceof TypeError, e.message]; }
    }
    async function onIdentify(event, settings) { await fetch(settings.url); }`);
  const url = `http://127.0.0.1:${closedPort}/nothing`;
  const r = await fn.invoke('onTrack', [{}, { url }]);
  const [isTypeError, message] = value(r) as [boolean, string];
  assert.equal(isTypeError, true);
  assert.match(message, /^fetch failed: /);
  assert.equal(r.fetches.length, 1);
  assert.equal(r.fetches[0]!.status, undefined);
  assert.ok(r.fetches[0]!.error);
  const bad = failure(await fn.invoke('onIdentify', [{}, { url: 'ftp://example.com/x' }]));
  assert.deepEqual([bad.kind, bad.name], ['Error', 'TypeError']);
  assert.match(bad.message, /unsupported protocol ftp:/);
});

test('a synchronous infinite loop times out and the function works afterwards', async () => {
  const fn = await compile(`
    async function onTrack(event, settings) { if (settings.spin) for (;;) {} return 'fine'; }`);
  const t0 = Date.now();
  const e = failure(await fn.invoke('onTrack', [{}, { spin: true }]));
  assert.equal(e.kind, 'Timeout');
  assert.ok(Date.now() - t0 < 1500, `timed out after ${Date.now() - t0} ms`);
  assert.equal(value(await fn.invoke('onTrack', [{}, {}])), 'fine');
});

test('a CPU loop after an await, a promise that never settles and a slow fetch time out; the function recovers', async () => {
  const fn = await compile(`
    async function onTrack(event, settings) {
      if (settings.mode === 'loop') { await fetch(settings.base + '/x'); for (;;) {} }
      if (settings.mode === 'hang') { console.log('waiting'); await new Promise(() => {}); }
      if (settings.mode === 'slow') await fetch(settings.base + '/slow');
      return 'fine';
    }`);
  for (const mode of ['loop', 'hang', 'slow']) {
    const t0 = Date.now();
    const r = await fn.invoke('onTrack', [{}, { mode, base }]);
    const elapsed = Date.now() - t0;
    assert.equal(failure(r).kind, 'Timeout', mode);
    assert.ok(elapsed >= 250 && elapsed < 1500, `${mode}: timed out after ${elapsed} ms`);
    if (mode === 'loop') assert.equal(r.fetches.length, 1, 'what happened before the timeout is kept');
    if (mode === 'hang') assert.deepEqual(r.logs, ['waiting']);
    if (mode === 'slow') assert.match(r.fetches[0]?.error ?? '', /no response before the invocation ended/);
    assert.equal(value(await fn.invoke('onTrack', [{}, {}])), 'fine', `works again after ${mode}`);
  }
});

test('exhausting the memory limit answers MemoryLimit, and the next invocation works', async () => {
  const fn = await compile(
    `async function onTrack(event, settings) {
       if (settings.blowUp) { const hoard = []; for (;;) hoard.push(new Array(100000).fill(hoard.length)); }
       return 'fine';
     }`,
    'DESTINATION',
    { memoryMb: 16, timeoutMs: 10_000 },
  );
  const e = failure(await fn.invoke('onTrack', [{}, { blowUp: true }]));
  assert.equal(e.kind, 'MemoryLimit');
  assert.match(e.message, /16 MB/);
  assert.equal(value(await fn.invoke('onTrack', [{}, {}])), 'fine');
});

test('console output is captured per invocation and capped at 4 KB', async () => {
  const fn = await compile(`
    async function onTrack(event, settings) {
      console.log('hello', 42, { a: [1, 'b'] }, null, undefined);
      console.error(new TypeError('shown with its stack'));
      console.warn('warned'); console.info('info'); console.debug('debug');
      for (let i = 0; i < settings.lines; i++) console.log(String(i).padStart(4, '0') + ' ' + 'x'.repeat(95));
    }`);
  const small = await fn.invoke('onTrack', [{}, { lines: 0 }]);
  assert.equal(small.logs[0], 'hello 42 {"a":[1,"b"]} null undefined');
  assert.match(small.logs[1]!, /^TypeError: shown with its stack\n\s+at onTrack \(function\.js:4/);
  assert.deepEqual(small.logs.slice(2), ['warned', 'info', 'debug']);

  const big = await fn.invoke('onTrack', [{}, { lines: 200 }]);
  const notice = big.logs.at(-1)!;
  assert.match(notice, /4 KB.*cut/);
  const kept = big.logs.slice(0, -1);
  assert.ok(Buffer.byteLength(kept.join(''), 'utf8') <= 4096);
  assert.ok(Buffer.byteLength(kept.join(''), 'utf8') > 4000, 'the budget is used up to the limit');
  assert.ok(kept.length < 50);
  assert.equal(value(await fn.invoke('onTrack', [{}, { lines: 0 }])), undefined);
});

test('globals persist between invocations; concurrent invocations keep their own logs', async () => {
  const fn = await compile(`
    let calls = 0;
    let token = null;
    async function onTrack(event) {
      calls += 1;
      if (!token) token = 'tok-' + calls;
      console.log('call', event.n);
      await new Promise((r) => setTimeout(r, 20));
      console.log('done', event.n);
      return { calls, token };
    }`);
  assert.deepEqual(value(await fn.invoke('onTrack', [{ n: 0 }, {}])), { calls: 1, token: 'tok-1' });
  const [a, b] = await Promise.all([fn.invoke('onTrack', [{ n: 1 }, {}]), fn.invoke('onTrack', [{ n: 2 }, {}])]);
  assert.deepEqual(value(a), { calls: 2, token: 'tok-1' });
  assert.deepEqual(value(b), { calls: 3, token: 'tok-1' });
  assert.deepEqual(a.logs, ['call 1', 'done 1']);
  assert.deepEqual(b.logs, ['call 2', 'done 2']);
});

test('cache.load returns the cached value while fresh; delete and expiry reload it', async () => {
  const fn = await compile(`
    let loads = 0;
    async function onTrack(event, settings) {
      if (settings.del) cache.delete('token');
      if (settings.wait) await new Promise((r) => setTimeout(r, settings.wait));
      const ttl = settings.ttl ?? 60000;
      const both = await Promise.all([1, 2].map(() => cache.load('token', ttl, async () => { loads += 1; return 'v' + loads; })));
      return { both, loads };
    }`);
  assert.deepEqual(value(await fn.invoke('onTrack', [{}, {}])), { both: ['v1', 'v1'], loads: 1 });
  assert.deepEqual(value(await fn.invoke('onTrack', [{}, {}])), { both: ['v1', 'v1'], loads: 1 });
  assert.deepEqual(value(await fn.invoke('onTrack', [{}, { del: true }])), { both: ['v2', 'v2'], loads: 2 });
  // The TTL is the one given when the value was stored.
  assert.deepEqual(value(await fn.invoke('onTrack', [{}, { del: true, ttl: 10 }])), { both: ['v3', 'v3'], loads: 3 });
  assert.deepEqual(value(await fn.invoke('onTrack', [{}, { wait: 30 }])), { both: ['v4', 'v4'], loads: 4 }, 'expired');
  assert.deepEqual(value(await fn.invoke('onTrack', [{}, {}])), { both: ['v4', 'v4'], loads: 4 });
});

test('a source function reads the request and emits messages with Segment', async () => {
  const fn = await compile(
    `async function onRequest(request, settings) {
       const body = await request.json();
       if (request.headers.get('X-SIGNATURE') !== settings.secret) throw new ValidationError('bad signature');
       Segment.identify({ userId: body.user, traits: { plan: request.url.searchParams.get('plan') } });
       Segment.track({ event: body.event, userId: body.user, properties: { tags: request.url.searchParams.getAll('tag') } });
       Segment.set({ collection: 'rooms', id: 'r1', properties: { path: request.url.pathname } });
       return { text: await request.text(), method: request.method, host: request.url.host };
     }`,
    'SOURCE',
  );
  const request = {
    url: 'https://fn.example.com/hook?plan=pro&tag=a&tag=b',
    method: 'POST',
    headers: [['content-type', 'application/json'], ['x-signature', 's3cret']] as [string, string][],
    body: '{"user":"u1","event":"Ticket Opened"}',
  };
  const r = await fn.invoke('onRequest', [request, { secret: 's3cret' }]);
  assert.deepEqual(value(r), { text: request.body, method: 'POST', host: 'fn.example.com' });
  assert.deepEqual(r.emitted, [
    { type: 'identify', fields: { userId: 'u1', traits: { plan: 'pro' } } },
    { type: 'track', fields: { event: 'Ticket Opened', userId: 'u1', properties: { tags: ['a', 'b'] } } },
    { type: 'set', fields: { collection: 'rooms', id: 'r1', properties: { path: '/hook' } } },
  ]);
  const wrong = failure(await fn.invoke('onRequest', [{ ...request, headers: [] }, { secret: 's3cret' }]));
  assert.deepEqual([wrong.kind, wrong.message], ['ValidationError', 'bad signature']);
  const badBody = failure(await fn.invoke('onRequest', [{ ...request, body: '{not json' }, { secret: 's3cret' }]));
  assert.equal(badBody.kind, 'Error');
  assert.equal(badBody.name, 'SyntaxError');
  assert.match(badBody.message, /request body is not valid JSON/);
});

test('URL, URLSearchParams, Headers, atob/btoa and timers behave like the web APIs', async () => {
  const fn = await compile(`
    async function onTrack() {
      const u = new URL('/v1/items?b=2&a=1#top', 'https://user:pw@api.example.com:8443');
      u.searchParams.append('q', 'a b&c');
      u.searchParams.delete('b');
      const p = new URLSearchParams('?x=1&x=2&y=%C3%A9+z');
      p.set('x', '3');
      const h = new Headers([['Set-Thing', 'a']]);
      h.append('set-thing', 'b');
      h.set('Z-Last', '1');
      let invalid = null;
      try { new URL('not a url'); } catch (e) { invalid = e.name; }
      let fired = [];
      const cancelled = setTimeout(() => fired.push('cancelled'), 5);
      clearTimeout(cancelled);
      await new Promise((r) => setTimeout(() => { fired.push('ran'); r(); }, 10));
      return {
        parts: [u.protocol, u.username, u.host, u.hostname, u.port, u.pathname, u.search, u.hash, u.origin],
        href: u.href, json: JSON.stringify({ u }), params: p.toString(), entries: [...p], y: p.get('y'), has: p.has('z'),
        headers: [...h.entries()], thing: h.get('SET-THING'), hasZ: h.has('z-last'),
        b64: btoa('Segment:ok'), decoded: atob('U2VnbWVudDpvaw=='), invalid, fired,
      };
    }`);
  assert.deepEqual(value(await fn.invoke('onTrack', [{}, {}])), {
    parts: ['https:', 'user', 'api.example.com:8443', 'api.example.com', '8443', '/v1/items', '?a=1&q=a+b%26c', '#top', 'https://api.example.com:8443'],
    href: 'https://user:pw@api.example.com:8443/v1/items?a=1&q=a+b%26c#top',
    json: '{"u":"https://user:pw@api.example.com:8443/v1/items?a=1&q=a+b%26c#top"}',
    params: 'x=3&y=%C3%A9+z',
    entries: [['x', '3'], ['y', 'é z']],
    y: 'é z',
    has: false,
    headers: [['set-thing', 'a, b'], ['z-last', '1']],
    thing: 'a, b',
    hasZ: true,
    b64: 'U2VnbWVudDpvaw==',
    decoded: 'Segment:ok',
    invalid: 'TypeError',
    fired: ['ran'],
  });
});

test('crypto hashes and signs as Node does (strings in, encoded strings out); a bad algorithm or encoding is an error', async () => {
  const { createHash, createHmac } = await import('node:crypto');
  const fn = await compile(`async function onTrack(event, settings) {
    return {
      sha: crypto.createHash('sha256').update(event.body).digest(),
      hmac: crypto.createHmac('sha1', settings.secret).update(event.body).update('!').digest('base64'),
      id: crypto.randomUUID(),
    };
  }
  async function onIdentify() { return crypto.createHash('nope').digest(); }
  async function onPage() { return crypto.createHash('md5').update('x').digest('utf16le'); }`);
  const out = value(await fn.invoke('onTrack', [{ body: 'héllo' }, { secret: 's3cret' }])) as { sha: string; hmac: string; id: string };
  assert.equal(out.sha, createHash('sha256').update('héllo', 'utf8').digest('hex'));
  assert.equal(out.hmac, createHmac('sha1', 's3cret').update('héllo!').digest('base64'));
  assert.match(out.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const bad = failure(await fn.invoke('onIdentify', [{}, {}]));
  assert.match(bad.message, /Digest method not supported \(nope\)/);
  assert.doesNotMatch(bad.stack ?? '', /sandbox\.js|node:internal/, 'the host\'s stack stays on the host');
  assert.match(failure(await fn.invoke('onPage', [{}, {}])).message, /encoding utf16le is not supported/);
});

test('the code sees no Node: process, require, module and Buffer are undefined', async () => {
  const fn = await compile(`
    async function onTrack() {
      return [typeof process, typeof require, typeof module, typeof Buffer, typeof globalThis.process, typeof $0];
    }`);
  assert.deepEqual(value(await fn.invoke('onTrack', [{}, {}])), Array(6).fill('undefined'));
});

test('code that does not compile, fails at load or lacks its kind’s handler is a FunctionCodeError', async () => {
  await assert.rejects(compile('async function onTrack(event) {\n  const x = ;\n}'), (e: unknown) => {
    assert.ok(e instanceof FunctionCodeError);
    assert.match(e.message, /SyntaxError: Unexpected token.*line 2, column \d+/);
    return true;
  });
  await assert.rejects(compile('async function onTrack() {}\nundefinedThing.call();'), (e: unknown) => {
    assert.ok(e instanceof FunctionCodeError);
    assert.match(e.message, /ReferenceError: undefinedThing is not defined at line 2/);
    return true;
  });
  await assert.rejects(compile('for (;;) {}\nasync function onTrack() {}'), /did not finish within 300 ms/);
  await assert.rejects(compile('async function onTrack() {}', 'SOURCE'), (e: unknown) => {
    assert.ok(e instanceof FunctionCodeError);
    assert.match(e.message, /SOURCE function must define an onRequest handler; the code defines onTrack/);
    return true;
  });
  await assert.rejects(compile('async function onRequest() {}\nconst helper = 1;', 'DESTINATION'), FunctionCodeError);
  await assert.rejects(compile('const x = 1;', 'INSERT_DESTINATION'), /defines no handler/);
  const onlyBatch = await compile('const onBatch = async (events) => events.length;', 'DESTINATION');
  assert.deepEqual([...onlyBatch.handlers], ['onBatch']);
});

test('a disposed function answers Error without throwing', async () => {
  const fn = await compile('async function onTrack() { return 1; }');
  assert.equal(value(await fn.invoke('onTrack', [{}, {}])), 1);
  fn.dispose();
  const e = failure(await fn.invoke('onTrack', [{}, {}]));
  assert.equal(e.kind, 'Error');
  assert.match(e.message, /disposed/);
});
