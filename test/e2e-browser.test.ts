/**
 * End to end with Segment's browser library: the npm build of
 * @segment/analytics-next runs under jsdom, loads its settings from Switchyard
 * (`cdnURL` = the server), and sends with analytics.js's own wire format
 * (`/v1/t|p|i`, text/plain bodies, the write key inside the body).
 *
 * What jsdom needs: the library reads `window`, `document`, `navigator`,
 * `location`, `localStorage` and friends as globals when it loads, so they are
 * copied from the JSDOM window onto globalThis before the dynamic import. jsdom
 * has no fetch; the library calls `globalThis.fetch`, which is Node's, so the
 * requests really go over HTTP to the server. The fetch is wrapped to record
 * what the library put on the wire.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { JSDOM } from 'jsdom';
import { Harness } from './helpers/harness.js';
import type { Sink } from './helpers/sink.js';
import { workspaceYaml, type SwitchyardProcess } from './helpers/switchyard.js';
import { deliveryStats, ingestStats, sleep, waitUntil, WRITE_KEY } from './helpers/e2e.js';

let sink: Sink;
let sy: SwitchyardProcess;
let dom: JSDOM;
const wire: { url: string; method: string; headers: Record<string, string>; body: string; status: number }[] = [];
const BROWSER_GLOBALS = ['window', 'self', 'document', 'navigator', 'location', 'localStorage', 'sessionStorage', 'screen', 'history', 'HTMLElement', 'Element', 'Node', 'Event', 'CustomEvent', 'MutationObserver'];
const saved = new Map<string, PropertyDescriptor | undefined>();
const realFetch = globalThis.fetch;

const h = new Harness();

before(async () => {
  sink = await h.sink();
  sy = await h.start({ workspace: workspaceYaml([sink.url]) });
  dom = new JSDOM('<!doctype html><html><head><title>Checkout | Shop</title></head><body><h1>Checkout</h1></body></html>', {
    url: 'http://localhost/checkout?utm_source=newsletter&utm_campaign=spring',
    referrer: 'http://localhost/cart',
    pretendToBeVisual: true,
  });
  const win = dom.window as unknown as Record<string, unknown>;
  for (const name of BROWSER_GLOBALS) {
    saved.set(name, Object.getOwnPropertyDescriptor(globalThis, name));
    Object.defineProperty(globalThis, name, { value: name === 'window' || name === 'self' ? dom.window : win[name], configurable: true, writable: true });
  }
  const recordingFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const res = await realFetch(input, init);
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    wire.push({ url: String(input), method: (init?.method ?? 'GET').toUpperCase(), headers, body: typeof init?.body === 'string' ? init.body : '', status: res.status });
    return res;
  };
  globalThis.fetch = recordingFetch as typeof fetch;
  win.fetch = recordingFetch;
});

after(async () => {
  globalThis.fetch = realFetch;
  for (const [name, desc] of saved) {
    if (desc) Object.defineProperty(globalThis, name, desc);
    else delete (globalThis as Record<string, unknown>)[name];
  }
  dom?.window.close();
  await h.cleanup();
});

test('analytics-next under jsdom loads its settings from Switchyard and its events reach the webhook as client events', async () => {
  const { AnalyticsBrowser } = await import('@segment/analytics-next');
  const [analytics] = await AnalyticsBrowser.load({ writeKey: WRITE_KEY, cdnURL: sy.url });

  const settings = wire.find((w) => w.url.includes('/settings'));
  assert.ok(settings, 'the library fetched its settings');
  assert.equal(settings.url, `${sy.url}/v1/projects/${WRITE_KEY}/settings`);
  assert.equal(settings.status, 200);

  await analytics.identify('user-42', { email: 'grace@example.com', plan: 'team' });
  await analytics.track('Order Completed', { orderId: 'o-77', revenue: 99.9, currency: 'EUR' });
  await analytics.page('Shop', 'Checkout', { step: 2 });
  await sink.waitFor(3, 15_000);

  // On the wire: analytics.js paths on our server, text/plain bodies carrying the write key.
  // (analytics-next 1.84 also sends it as Basic auth; older analytics.js and
  // sendBeacon do not, which the next test covers.)
  const calls = wire.filter((w) => w.method === 'POST');
  assert.deepEqual(calls.map((c) => new URL(c.url).pathname), ['/v1/i', '/v1/t', '/v1/p']);
  for (const c of calls) {
    assert.equal(new URL(c.url).origin, sy.url, 'events went to Switchyard (apiHost from its settings)');
    assert.match(c.headers['content-type'] ?? '', /^text\/plain/, 'analytics.js sends text/plain');
    assert.ok(c.headers.authorization === undefined || c.headers.authorization === `Basic ${btoa(`${WRITE_KEY}:`)}`);
    assert.equal((JSON.parse(c.body) as { writeKey?: string }).writeKey, WRITE_KEY, 'the body carries the write key');
    assert.equal(c.status, 200);
  }
  const sentIds = calls.map((c) => (JSON.parse(c.body) as { messageId: string }).messageId);

  await sleep(300); // a duplicate delivery would show up here
  assert.equal(sink.received.length, 3, 'each event delivered once');
  const events = sink.received.map((r) => JSON.parse(r.body) as Record<string, any>);
  const [identify, track, page] = sentIds.map((id) => events.find((e) => e.messageId === id));
  assert.ok(identify && track && page, 'every event reached the sink with the messageId the library sent');

  assert.equal(identify.type, 'identify');
  assert.equal(identify.userId, 'user-42');
  assert.equal(identify.traits.email, 'grace@example.com');
  assert.equal(track.type, 'track');
  assert.equal(track.event, 'Order Completed');
  assert.deepEqual(track.properties, { orderId: 'o-77', revenue: 99.9, currency: 'EUR' });
  assert.equal(track.userId, 'user-42', 'the identified user sticks to later calls');
  assert.equal(page.type, 'page');
  assert.equal(page.name, 'Checkout');
  assert.equal(page.category, 'Shop');
  assert.equal(page.properties.step, 2);
  assert.equal(page.properties.url, 'http://localhost/checkout?utm_source=newsletter&utm_campaign=spring');

  const anonymousId = identify.anonymousId as string;
  assert.ok(typeof anonymousId === 'string' && anonymousId.length > 0, 'the library set an anonymousId');
  for (const e of events) {
    assert.equal(e.channel, 'client', 'analytics.js paths mark the client channel');
    assert.ok(!('writeKey' in e), 'the write key is not forwarded to destinations');
    assert.equal(e.anonymousId, anonymousId, 'one anonymousId across calls');
    assert.equal(e.context.library.name, 'analytics.js');
    assert.equal(e.context.page.path, '/checkout');
    assert.equal(e.context.page.referrer, 'http://localhost/cart');
    assert.equal(e.context.campaign.source, 'newsletter');
    assert.match(e.context.userAgent, /jsdom/);
    assert.equal(e.context.ip, '127.0.0.1', 'context.ip from the connection');
    assert.ok(e.receivedAt && e.timestamp && e.sentAt, 'receivedAt, timestamp and sentAt present');
  }
  for (const r of sink.received) {
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['x-token'], 'abc');
    assert.equal(r.headers['x-signature'], createHmac('sha1', 's3cret').update(r.body).digest('hex'));
  }

  await waitUntil('3 deliveries and 3 received events in the stats', async () => {
    const [d, i] = await Promise.all([deliveryStats(sy.url), ingestStats(sy.url)]);
    return d.delivered === 3 && i.received === 3;
  }, { describe: async () => [await deliveryStats(sy.url), await ingestStats(sy.url)] });
});

test('a text/plain analytics.js body authenticates by its writeKey field alone (sendBeacon, older analytics.js)', async () => {
  const captured = wire.find((w) => w.method === 'POST' && new URL(w.url).pathname === '/v1/t');
  assert.ok(captured, 'the first test captured a track call');
  const body = JSON.parse(captured.body) as Record<string, unknown>;
  const replay: Record<string, unknown> = { ...body, messageId: `beacon-${Date.now()}`, event: 'Beacon Sent' };
  const before = sink.received.length;
  const res = await realFetch(`${sy.url}/v1/t`, { method: 'POST', headers: { 'content-type': 'text/plain;charset=UTF-8' }, body: JSON.stringify(replay) });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { success: true });
  await sink.waitFor(before + 1);
  const e = JSON.parse(sink.received[before]!.body) as Record<string, unknown>;
  assert.equal(e.messageId, replay.messageId);
  assert.equal(e.event, 'Beacon Sent');
  assert.equal(e.channel, 'client');
  assert.ok(!('writeKey' in e), 'the write key is stripped');

  const wrong = await realFetch(`${sy.url}/v1/t`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ ...replay, writeKey: 'wk_nope' }) });
  assert.equal(wrong.status, 401, 'a wrong writeKey in the body is refused');
  const { writeKey: _omit, ...keyless } = replay;
  const missing = await realFetch(`${sy.url}/v1/t`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(keyless) });
  assert.equal(missing.status, 401, 'no write key anywhere is refused');
  assert.match(((await missing.json()) as { error: string }).error, /write key/);
});

test('CORS: a browser on another origin may post text/plain and read the answer', async () => {
  const preflight = await realFetch(`${sy.url}/v1/t`, {
    method: 'OPTIONS',
    headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,authorization' },
  });
  assert.ok(preflight.status === 204 || preflight.status === 200, `preflight status ${preflight.status}`);
  assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
  assert.match((preflight.headers.get('access-control-allow-headers') ?? '').toLowerCase(), /authorization/);
  const res = await realFetch(`${sy.url}/v1/t`, {
    method: 'POST',
    headers: { origin: 'https://shop.example', 'content-type': 'text/plain' },
    body: JSON.stringify({ writeKey: WRITE_KEY, anonymousId: 'a-cors', event: 'Cors Checked' }),
  });
  assert.equal(res.status, 200);
  const allowed = res.headers.get('access-control-allow-origin');
  assert.ok(allowed === '*' || allowed === 'https://shop.example', `Access-Control-Allow-Origin: ${allowed}`);
});

test('the settings endpoint refuses an unknown write key', async () => {
  const res = await realFetch(`${sy.url}/v1/projects/wk_unknown/settings`);
  assert.equal(res.status, 404);
});
