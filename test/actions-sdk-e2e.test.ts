/**
 * Actions destinations end to end in ONE real Switchyard process: @segment/analytics-node
 * sends identify + track to the Tracking API; the router runs Amplitude, Mixpanel,
 * Google Analytics 4, Braze, Slack and HubSpot (OAuth). Their fixed public hosts are
 * pointed at local fakes (test/helpers/fake-apis.ts) with SWITCHYARD_OUTBOUND_OVERRIDES,
 * one loopback listener per host. Every host the destinations call is overridden;
 * the test asserts that every delivery succeeded, so a request to a host we missed
 * would show up as a retry instead of reaching the internet unnoticed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Analytics } from '@segment/analytics-node';
import { Harness } from './helpers/harness.js';
import { startFakeApis, type FakeApis, type FakeRequest } from './helpers/fake-apis.js';
import type { SwitchyardProcess } from './helpers/switchyard.js';
import { loadConfig } from '../src/server/config.js';
import { capturing, createRequestClient } from '../src/core/request.js';
import { loadOrCreateSecretKey, openSettings } from '../src/store/secrets.js';
import { deliveryStats, waitUntil, WRITE_KEY, type DeliveryStats } from './helpers/e2e.js';

const HOSTS = [
  'api2.amplitude.com', 'api.amplitude.com', 'api.mixpanel.com', 'api-eu.mixpanel.com', 'www.google-analytics.com',
  'rest.iad-01.braze.com', 'hooks.slack.com', 'api.hubapi.com',
];

const h = new Harness();
let fake: FakeApis;
let sy: SwitchyardProcess;

before(async () => {
  fake = await startFakeApis();
  fake.respond((r) => {
    if (r.host !== 'api.hubapi.com') return undefined;
    if (r.path === '/oauth/v1/token') return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"access_token":"new-token","expires_in":1800}' };
    if (r.headers.authorization === 'Bearer old-token') return { status: 401, headers: { 'content-type': 'application/json' }, body: '{"status":"error","category":"EXPIRED_AUTHENTICATION"}' };
    return undefined;
  });
  const overrides = await fake.outboundOverrides(HOSTS);
  sy = await h.start({
    env: { SWITCHYARD_OUTBOUND_OVERRIDES: overrides, SWITCHYARD_RETRY_BASE_MS: '100', SWITCHYARD_RETRY_MAX_DELAY_MS: '200' },
    workspace: `workspace: { slug: acme }
sources:
  - slug: web-prod
    writeKey: ${WRITE_KEY}
destinations:
  - name: Amplitude
    type: actions-amplitude
    sources: [web-prod]
    settings:
      settings: { apiKey: amp-api-key, secretKey: amp-secret-key }
  - name: Mixpanel
    type: actions-mixpanel
    sources: [web-prod]
    settings:
      settings: { projectToken: mp-token, apiSecret: mp-secret }
  - name: GA4
    type: actions-google-analytics-4
    sources: [web-prod]
    settings:
      settings: { measurementId: G-TEST123, apiSecret: ga-secret }
      subscriptions: [{ partnerAction: purchase }]
  - name: Braze
    type: actions-braze-cloud
    sources: [web-prod]
    settings:
      settings: { api_key: braze-key, app_id: app-1 }
      # Explicit subscriptions: the Order Completed preset (trackPurchase) needs fields these events lack.
      subscriptions:
        - { partnerAction: updateUserProfile, subscribe: type = "identify" }
        - { partnerAction: trackEvent, subscribe: type = "track" }
  - name: Slack
    type: actions-slack
    sources: [web-prod]
    settings:
      subscriptions:
        - partnerAction: postToChannel
          subscribe: type = "track" and event = "Order Completed"
          mapping:
            url: https://hooks.slack.com/services/T000/B000/XXXX
            text: { '@template': 'Order {{properties.order_id}}: \${{properties.total}}' }
            channel: orders
            username: Switchyard
  - name: HubSpot
    type: actions-hubspot-cloud
    sources: [web-prod]
    settings:
      settings: { portalId: '123' }
      oauth: { access_token: old-token, refresh_token: rt-1, clientId: cid, clientSecret: csecret }
      subscriptions:
        - partnerAction: sendCustomBehavioralEvent
          subscribe: type = "track" and event = "Order Completed"
          mapping: { eventName: pe123_order_completed }
`,
  });
});

after(async () => {
  await h.cleanup();
  await fake.close();
});

const orderProps = {
  order_id: 'o-1', email: 'ada@example.com', total: 42.5, revenue: 42.5, currency: 'USD',
  products: [{ product_id: 'p1', sku: 'A', name: 'Book', price: 42.5, quantity: 1 }],
};

/** How many of the three events each destination takes (the rest are filtered as no_matching_subscription). */
const EXPECTED: Record<string, number> = { amplitude: 3, mixpanel: 3, ga4: 1, braze: 3, slack: 1, hubspot: 1 };

function on(host: string, p?: string): FakeRequest[] {
  return fake.received.filter((r) => r.host === host && (p === undefined || r.path === p));
}
const json = (r: FakeRequest) => JSON.parse(r.body) as Record<string, unknown>;
const formField = (r: FakeRequest, k: string) => new URLSearchParams(r.body).get(k);

test('analytics-node → Switchyard → six Actions destinations: each remote API receives the exact request', async () => {
  const analytics = new Analytics({ writeKey: WRITE_KEY, host: sy.url, flushAt: 10, flushInterval: 50 });
  const statuses: number[] = [];
  analytics.on('http_response', (r) => statuses.push(r.status));
  analytics.identify({ userId: 'user-1', anonymousId: 'anon-1', messageId: 'm-identify', traits: { email: 'ada@example.com', name: 'Ada', plan: 'pro' } });
  analytics.track({ userId: 'user-1', anonymousId: 'anon-1', messageId: 'm-order', event: 'Order Completed', properties: orderProps });
  analytics.track({ userId: 'user-1', anonymousId: 'anon-1', messageId: 'm-song', event: 'Song Played', properties: { title: 'Blue', seconds: 215 } });
  await analytics.closeAndFlush({ timeout: 10_000 });
  assert.deepEqual([...new Set(statuses)], [200]);

  const all = await waitUntil('every destination to settle the three events', async () => {
    const stats: Record<string, DeliveryStats> = {};
    for (const id of Object.keys(EXPECTED)) stats[id] = await deliveryStats(sy.url, id);
    const done = Object.entries(EXPECTED).every(([id, n]) => stats[id]!.delivered === n && stats[id]!.filtered.reduce((s, r) => s + r.count, 0) === 3 - n);
    return done ? stats : undefined;
  }, { timeoutMs: 10_000, describe: async () => Object.fromEntries(await Promise.all(Object.keys(EXPECTED).map(async (id) => [id, await deliveryStats(sy.url, id)]))) });
  for (const [id, s] of Object.entries(all)) {
    assert.deepEqual({ id, discarded: s.discarded, failed: s.failed }, { id, discarded: [], failed: [] });
  }
  // Nothing went to a host the test did not override (the fake records the host it stands for).
  for (const r of fake.received) assert.ok(HOSTS.includes(r.host), `unexpected host ${r.host}`);

  // Amplitude (presets): two tracks to /2/httpapi with the API key in the body; identify to /identify as a form.
  const ampTracks = on('api2.amplitude.com', '/2/httpapi').map(json);
  assert.equal(ampTracks.length, 2);
  for (const b of ampTracks) assert.equal(b.api_key, 'amp-api-key');
  const ampEvents = ampTracks.flatMap((b) => b.events as Record<string, unknown>[]);
  assert.deepEqual(ampEvents.map((e) => e.event_type).sort(), ['Order Completed', 'Product Purchased', 'Song Played']);
  const ampOrder = ampEvents.find((e) => e.event_type === 'Order Completed')!;
  assert.deepEqual({ user_id: ampOrder.user_id, device_id: ampOrder.device_id, revenue: ampOrder.revenue }, { user_id: 'user-1', device_id: 'anon-1', revenue: 42.5 });
  const ampIdentify = on('api2.amplitude.com', '/identify');
  assert.equal(ampIdentify.length, 1);
  assert.equal(ampIdentify[0]!.method, 'POST');
  assert.equal(formField(ampIdentify[0]!, 'api_key'), 'amp-api-key');
  assert.deepEqual(JSON.parse(formField(ampIdentify[0]!, 'identification')!).user_properties, { email: 'ada@example.com', name: 'Ada', plan: 'pro' });

  // Mixpanel: tracks to /import?strict=1 with the API secret as Basic auth; identify to /track ($identify) and /engage.
  const mpImport = on('api.mixpanel.com', '/import?strict=1');
  assert.equal(mpImport.length, 2);
  for (const r of mpImport) assert.equal(r.headers.authorization, `Basic ${Buffer.from('mp-secret:').toString('base64')}`);
  const mpEvents = mpImport.flatMap((r) => json(r) as unknown as { event: string; properties: Record<string, unknown> }[]);
  // The Order Completed preset also sends one "Product Purchased" per product.
  assert.deepEqual(mpEvents.map((e) => e.event).sort(), ['Order Completed', 'Product Purchased', 'Song Played']);
  for (const e of mpEvents) assert.equal(e.properties.distinct_id, 'user-1');
  const mpTrack = on('api.mixpanel.com', '/track');
  assert.equal(mpTrack.length, 1);
  assert.deepEqual(JSON.parse(formField(mpTrack[0]!, 'data')!), { event: '$identify', properties: { $identified_id: 'user-1', $anon_id: 'anon-1', token: 'mp-token' } });
  const mpEngage = on('api.mixpanel.com', '/engage');
  assert.equal(mpEngage.length, 1);
  const engage = JSON.parse(formField(mpEngage[0]!, 'data')!) as Record<string, unknown>;
  assert.deepEqual({ token: engage.$token, id: engage.$distinct_id, set: engage.$set }, { token: 'mp-token', id: 'user-1', set: { plan: 'pro', $email: 'ada@example.com', $name: 'Ada' } });

  // GA4: only Order Completed (the purchase action's default subscription), secret and id in the query.
  const ga = on('www.google-analytics.com');
  assert.equal(ga.length, 1);
  assert.deepEqual({ method: ga[0]!.method, path: ga[0]!.path }, { method: 'POST', path: '/mp/collect?api_secret=ga-secret&measurement_id=G-TEST123' });
  const gaBody = json(ga[0]!) as { client_id: string; events: { name: string; params: Record<string, unknown> }[] };
  assert.equal(gaBody.client_id, 'user-1');
  assert.deepEqual(gaBody.events.map((e) => [e.name, e.params.transaction_id, e.params.value, e.params.currency]), [['purchase', 'o-1', 42.5, 'USD']]);

  // Braze: everything to /users/track with the REST key as Bearer; identify as attributes, tracks as events
  // (trackEvent batches: the two tracks may share one request).
  const braze = on('rest.iad-01.braze.com');
  for (const r of braze) assert.deepEqual({ method: r.method, path: r.path, auth: r.headers.authorization }, { method: 'POST', path: '/users/track', auth: 'Bearer braze-key' });
  const brazeBodies = braze.map(json);
  assert.deepEqual(brazeBodies.flatMap((b) => (b.attributes as unknown[] | undefined) ?? []), [{ name: 'Ada', plan: 'pro', external_id: 'user-1', email: 'ada@example.com', _update_existing_only: false }]);
  const brazeEvents = brazeBodies.flatMap((b) => (b.events as { name: string; external_id: string; app_id: string }[] | undefined) ?? []);
  assert.deepEqual(brazeEvents.map((e) => [e.name, e.external_id, e.app_id]).sort(), [['Order Completed', 'user-1', 'app-1'], ['Song Played', 'user-1', 'app-1']]);

  // Slack: the rendered template to the incoming webhook.
  assert.deepEqual(on('hooks.slack.com').map((r) => ({ method: r.method, path: r.path, body: json(r) })), [{
    method: 'POST',
    path: '/services/T000/B000/XXXX',
    body: { channel: 'orders', text: 'Order o-1: $42.5', username: 'Switchyard', icon_url: 'https://logo.clearbit.com/segment.com' },
  }]);

  // HubSpot (OAuth): 401 with the file's token → one refresh → the retry carries the new token.
  const hub = on('api.hubapi.com');
  assert.deepEqual(hub.map((r) => [r.method, r.path, r.headers.authorization]), [
    ['POST', '/events/v3/send', 'Bearer old-token'],
    ['POST', '/oauth/v1/token', 'Bearer undefined'],
    ['POST', '/events/v3/send', 'Bearer new-token'],
  ]);
  assert.equal(new URLSearchParams(hub[1]!.body).get('refresh_token'), 'rt-1');
  const hubEvent = json(hub[2]!);
  assert.deepEqual({ eventName: hubEvent.eventName, email: hubEvent.email }, { eventName: 'pe123_order_completed', email: 'ada@example.com' });
});

test('the control plane keeps the destinations\' secrets encrypted (no token or key in plaintext)', () => {
  const db = new Database(path.join(sy.dataDir, 'control.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT settings FROM cp_destinations').all() as { settings: string }[];
    const text = rows.map((r) => r.settings).join('\n');
    for (const secret of ['old-token', 'new-token', 'rt-1', 'csecret', 'amp-api-key', 'mp-secret', 'braze-key', 'ga-secret']) assert.ok(!text.includes(secret), secret);
  } finally {
    db.close();
  }
});

test('HubSpot: the refreshed token is stored in control.db (encrypted); later events use it without a refresh', async () => {
  const db = new Database(path.join(sy.dataDir, 'control.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT settings, secret_settings FROM cp_destinations WHERE id = ?').get('hubspot') as { settings: string; secret_settings: string };
    const settings = openSettings(loadOrCreateSecretKey(sy.dataDir), row.settings, JSON.parse(row.secret_settings) as string[]);
    assert.deepEqual(settings.oauth, { access_token: 'new-token', refresh_token: 'rt-1', clientId: 'cid', clientSecret: 'csecret' });
    assert.ok(!row.settings.includes('new-token'));
  } finally {
    db.close();
  }
  assert.ok(sy.logs.some((l) => l.includes('stored a refreshed secret setting')));
  // The version bump rebuilds the runner; the next event goes out with the stored token at once.
  fake.received.length = 0;
  const analytics = new Analytics({ writeKey: WRITE_KEY, host: sy.url, flushAt: 10, flushInterval: 50 });
  analytics.track({ userId: 'user-1', messageId: 'm-order-2', event: 'Order Completed', properties: orderProps });
  await analytics.closeAndFlush({ timeout: 10_000 });
  await waitUntil('HubSpot to deliver the second order', async () => (await deliveryStats(sy.url, 'hubspot')).delivered === 2, { timeoutMs: 10_000 });
  assert.deepEqual(on('api.hubapi.com').map((r) => [r.path, r.headers.authorization]), [['/events/v3/send', 'Bearer new-token']]);
});

test('SWITCHYARD_OUTBOUND_OVERRIDES: parsed into an origin map; a bad entry is named in the error', () => {
  const ok = loadConfig({ SWITCHYARD_OUTBOUND_OVERRIDES: ' https://api2.amplitude.com=http://127.0.0.1:4567 , https://api.mixpanel.com:443=http://10.0.0.5:8080' });
  assert.deepEqual([...ok.outboundOverrides], [['https://api2.amplitude.com', 'http://127.0.0.1:4567'], ['https://api.mixpanel.com', 'http://10.0.0.5:8080']]);
  assert.equal(loadConfig({}).outboundOverrides.size, 0);
  for (const bad of ['api2.amplitude.com=http://127.0.0.1:1', 'https://a.example.com', 'https://a.example.com=http://127.0.0.1:1/path', 'https://a.example.com=ftp://x']) {
    assert.throws(() => loadConfig({ SWITCHYARD_OUTBOUND_OVERRIDES: `https://ok.example.com=http://127.0.0.1:1,${bad}` }), (err: Error) => {
      assert.match(err.message, /^invalid environment variable SWITCHYARD_OUTBOUND_OVERRIDES: bad entry "/);
      assert.ok(err.message.includes(`"${bad}"`), err.message);
      return true;
    });
  }
});

test('an overridden request is sent to the override; the captured exchange keeps the original URL', async () => {
  fake.reset();
  const overrides = await fake.outboundOverrides(['api.example.com']);
  const [from, to] = overrides.split('=') as [string, string];
  const client = createRequestClient({ timeoutMs: 2000, connectionsPerOrigin: 1, overrides: new Map([[from, to]]) });
  try {
    const { request, exchanges } = capturing(client.request, []);
    const res = await request({ method: 'POST', url: 'https://api.example.com/v1/x?y=1', headers: { 'content-type': 'text/plain' }, body: 'hi' });
    assert.equal(res.status, 200);
    assert.deepEqual(fake.received.map((r) => [r.host, r.path, r.body]), [['api.example.com', '/v1/x?y=1', 'hi']]);
    assert.equal(exchanges[0]!.request.url, 'https://api.example.com/v1/x?y=1');
  } finally {
    await client.close();
  }
});
