/**
 * Segment's Actions catalog run as Switchyard destination types, in process:
 * each destination is built from the registry, its settings validated with the
 * type's schema, and `deliver` called with Switchyard's real request client
 * rewritten to a fake of the remote API on loopback (test/helpers/fake-apis.ts).
 * Assertions are on the exact requests the destinations make.
 */
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { destinationTypes } from '../src/destinations/registry.js';
import type { DestinationDefinition } from '../src/destinations/types.js';
import type { DeliveryOutcome } from '../src/core/result.js';
import type { SegmentMessage } from '../src/protocol/types.js';
import { parseWorkspaceFile } from '../src/config/workspace-file.js';
import { describeActionsType, unloadableActionsDestination } from '../src/destinations/actions/index.js';
import { verdictFromError } from '../src/destinations/actions/errors.js';
import { createRequire } from 'node:module';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { capturing, createRequestClient, type RequestError } from '../src/core/request.js';
import { startFakeApis, type FakeApis, type FakeRequest } from './helpers/fake-apis.js';

let fake: FakeApis;
before(async () => {
  fake = await startFakeApis();
});
after(() => fake.close());
beforeEach(() => fake.reset());

const base = {
  messageId: 'msg-1',
  timestamp: '2026-03-01T12:00:00.000Z',
  receivedAt: '2026-03-01T12:00:01.000Z',
  context: { ip: '203.0.113.9', library: { name: 'analytics-node', version: '3.1.0' } },
};
const orderCompleted: SegmentMessage = {
  ...base,
  type: 'track',
  event: 'Order Completed',
  userId: 'user-1',
  anonymousId: 'anon-1',
  properties: {
    order_id: 'o-1',
    email: 'ada@example.com',
    total: 42.5,
    revenue: 42.5,
    currency: 'USD',
    products: [{ product_id: 'p1', sku: 'A', name: 'Book', price: 42.5, quantity: 1 }],
  },
};
const songPlayed: SegmentMessage = { ...base, type: 'track', event: 'Song Played', userId: 'user-1', anonymousId: 'anon-1', properties: { title: 'Blue', seconds: 215 } };
const identify: SegmentMessage = { ...base, type: 'identify', userId: 'user-1', anonymousId: 'anon-1', traits: { email: 'ada@example.com', name: 'Ada', plan: 'pro' } };

function typeOf(name: string): DestinationDefinition<unknown> {
  const d = destinationTypes.get(name);
  assert.ok(d, `destination type ${name} is registered`);
  return d as unknown as DestinationDefinition<unknown>;
}

function settingsOf(type: string, raw: unknown): unknown {
  const parsed = typeOf(type).settingsSchema.safeParse(raw);
  assert.ok(parsed.success, `settings are valid: ${JSON.stringify(parsed.error?.issues)}`);
  return parsed.data;
}

async function deliver(type: string, raw: unknown, message: SegmentMessage): Promise<{ outcome: DeliveryOutcome; sent: FakeRequest[] }> {
  const d = typeOf(type);
  const outcome = await d.deliver({ settings: settingsOf(type, raw), message, payload: JSON.stringify(message), request: fake.request });
  return { outcome, sent: [...fake.received] };
}

/** The request as the destination made it, minus what the HTTP client adds per connection. */
function wire(r: FakeRequest): { method: string; url: string; headers: Record<string, string>; body: unknown } {
  const { host: _h, connection: _c, 'content-length': _l, ...headers } = r.headers;
  const json = (headers['content-type'] ?? '').startsWith('application/json');
  return { method: r.method, url: r.url, headers, body: json ? JSON.parse(r.body) : r.body };
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

test('Webhooks (Actions): a subscribed track is POSTed as mapped, signed with X-Signature', async () => {
  const { outcome, sent } = await deliver(
    'actions-webhook',
    {
      settings: { sharedSecret: 's3cret' },
      subscriptions: [{ partnerAction: 'send', subscribe: 'type = "track"', mapping: { url: 'https://hooks.example.com/in', method: 'POST', headers: { 'X-Team': 'growth' } } }],
    },
    orderCompleted,
  );
  assert.equal(outcome.kind, 'delivered');
  assert.equal(sent.length, 1);
  // `data` was not mapped: its field default (the whole event) applies, as in Segment's editor.
  const body = JSON.stringify(orderCompleted);
  assert.deepEqual(wire(sent[0]!), {
    method: 'POST',
    url: 'https://hooks.example.com/in',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'Segment (Actions)',
      'x-team': 'growth',
      'x-signature': createHmac('sha1', 's3cret').update(body).digest('hex'),
    },
    body: orderCompleted,
  });
  assert.equal(sent[0]!.body, body);
});

test('Slack: a template mapping posts the rendered text to the incoming webhook', async () => {
  const { outcome, sent } = await deliver(
    'actions-slack',
    {
      subscriptions: [{
        partnerAction: 'postToChannel',
        subscribe: 'type = "track" and event = "Order Completed"',
        mapping: { url: 'https://hooks.slack.com/services/T000/B000/XXXX', text: { '@template': 'Order {{properties.order_id}}: ${{properties.total}}' }, channel: 'orders', username: 'Switchyard' },
      }],
    },
    orderCompleted,
  );
  assert.equal(outcome.kind, 'delivered');
  assert.deepEqual(sent.map(wire), [{
    method: 'POST',
    url: 'https://hooks.slack.com/services/T000/B000/XXXX',
    headers: { 'content-type': 'application/json', 'user-agent': 'Segment (Actions)' },
    body: { channel: 'orders', text: 'Order o-1: $42.5', username: 'Switchyard', icon_url: 'https://logo.clearbit.com/segment.com' },
  }]);
});

const amplitude = { settings: { apiKey: 'amp-api-key', secretKey: 'amp-secret-key' } };

test('Amplitude: with no subscriptions the presets apply (Order Completed → logPurchase, identify → identifyUser)', async () => {
  const track = await deliver('actions-amplitude', amplitude, orderCompleted);
  assert.equal(track.outcome.kind, 'delivered');
  const common = { user_id: 'user-1', device_id: 'anon-1', ip: '203.0.113.9', use_batch_endpoint: false, time: Date.parse(base.timestamp), library: 'analytics-node' };
  assert.deepEqual(track.sent.map(wire), [{
    method: 'POST',
    url: 'https://api2.amplitude.com/2/httpapi',
    headers: { 'content-type': 'application/json', 'user-agent': 'Segment (Actions)' },
    body: {
      api_key: 'amp-api-key',
      events: [
        { ...common, event_type: 'Order Completed', event_properties: orderCompleted.properties, revenue: 42.5, revenueType: 'Purchase' },
        // logPurchase also sends one "Product Purchased" per product (Segment's preset).
        { ...common, event_type: 'Product Purchased', event_properties: { price: 42.5, quantity: 1 } },
      ],
    },
  }]);

  fake.reset();
  const ident = await deliver('actions-amplitude', amplitude, identify);
  assert.equal(ident.outcome.kind, 'delivered');
  assert.deepEqual(ident.sent.map(wire), [{
    method: 'POST',
    url: 'https://api2.amplitude.com/identify',
    headers: { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8', 'user-agent': 'Segment (Actions)' },
    body: form({
      api_key: 'amp-api-key',
      identification: JSON.stringify({ user_id: 'user-1', device_id: 'anon-1', user_properties: identify.traits, library: 'segment' }),
      options: 'undefined',
    }),
  }]);
});

test('Mixpanel: track goes to /import with the API secret as Basic auth; identify to /track and /engage', async () => {
  const settings = { settings: { projectToken: 'mp-token', apiSecret: 'mp-secret' } };
  const track = await deliver('actions-mixpanel', settings, songPlayed);
  assert.equal(track.outcome.kind, 'delivered');
  assert.deepEqual(track.sent.map(wire), [{
    method: 'POST',
    url: 'https://api.mixpanel.com/import?strict=1',
    headers: { authorization: `Basic ${Buffer.from('mp-secret:').toString('base64')}`, 'content-type': 'application/json', 'user-agent': 'Segment (Actions)' },
    body: [{
      event: 'Song Played',
      properties: {
        time: Date.parse(base.timestamp), ip: '203.0.113.9', id: 'user-1', $anon_id: 'anon-1', distinct_id: 'user-1', $device_id: 'anon-1',
        $identified_id: 'user-1', $insert_id: 'msg-1', $lib_version: '3.1.0', $source: 'segment', $user_id: 'user-1',
        mp_lib: 'Segment Actions: analytics-node', event_original_name: 'Song Played', title: 'Blue', seconds: 215,
      },
    }],
  }]);

  fake.reset();
  const ident = await deliver('actions-mixpanel', settings, identify);
  assert.equal(ident.outcome.kind, 'delivered');
  const formHeaders = { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8', 'user-agent': 'Segment (Actions)' };
  assert.deepEqual(ident.sent.map(wire), [
    { method: 'POST', url: 'https://api.mixpanel.com/track', headers: formHeaders, body: form({ data: JSON.stringify({ event: '$identify', properties: { $identified_id: 'user-1', $anon_id: 'anon-1', token: 'mp-token' } }) }) },
    { method: 'POST', url: 'https://api.mixpanel.com/engage', headers: formHeaders, body: form({ data: JSON.stringify({ $token: 'mp-token', $distinct_id: 'user-1', $ip: '203.0.113.9', $set: { plan: 'pro', $email: 'ada@example.com', $name: 'Ada' } }) }) },
  ]);
});

test('Google Analytics 4: a subscription without a mapping uses the fields\' defaults (purchase)', async () => {
  const { outcome, sent } = await deliver(
    'actions-google-analytics-4',
    { settings: { measurementId: 'G-TEST123', apiSecret: 'ga-secret' }, subscriptions: [{ partnerAction: 'purchase' }] },
    orderCompleted,
  );
  assert.equal(outcome.kind, 'delivered');
  assert.equal(outcome.status, 204);
  assert.deepEqual(sent.map(wire), [{
    method: 'POST',
    url: 'https://www.google-analytics.com/mp/collect?api_secret=ga-secret&measurement_id=G-TEST123',
    headers: { 'content-type': 'application/json', 'user-agent': 'Segment (Actions)' },
    body: {
      client_id: 'user-1',
      events: [{ name: 'purchase', params: { currency: 'USD', items: [{ item_id: 'p1', item_name: 'Book', price: 42.5, quantity: 1 }], transaction_id: 'o-1', value: 42.5, engagement_time_msec: 1 } }],
      timestamp_micros: Date.parse(base.timestamp) * 1000,
    },
  }]);
  // The action's defaultSubscription (event = "Order Completed") was used: another track is not sent.
  fake.reset();
  const other = await deliver('actions-google-analytics-4', { settings: { measurementId: 'G-TEST123', apiSecret: 'ga-secret' }, subscriptions: [{ partnerAction: 'purchase' }] }, songPlayed);
  assert.deepEqual({ kind: other.outcome.kind, sent: other.sent.length }, { kind: 'skip', sent: 0 });
});

test('Braze: presets send identify as attributes and track as an event to /users/track with a Bearer key', async () => {
  const settings = { settings: { api_key: 'braze-key', app_id: 'app-1' } };
  const headers = { authorization: 'Bearer braze-key', 'content-type': 'application/json', 'user-agent': 'Segment (Actions)' };
  const ident = await deliver('actions-braze-cloud', settings, identify);
  assert.equal(ident.outcome.kind, 'delivered');
  assert.deepEqual(ident.sent.map(wire), [{
    method: 'POST',
    url: 'https://rest.iad-01.braze.com/users/track', // the endpoint setting's default
    headers,
    body: { attributes: [{ name: 'Ada', plan: 'pro', external_id: 'user-1', email: 'ada@example.com', _update_existing_only: false }] },
  }]);
  fake.reset();
  const track = await deliver('actions-braze-cloud', settings, songPlayed);
  assert.equal(track.outcome.kind, 'delivered');
  assert.deepEqual(track.sent.map(wire), [{
    method: 'POST',
    url: 'https://rest.iad-01.braze.com/users/track',
    headers,
    body: { events: [{ external_id: 'user-1', app_id: 'app-1', name: 'Song Played', time: base.receivedAt, properties: { title: 'Blue', seconds: 215 }, _update_existing_only: false }] },
  }]);
});

test('HubSpot (OAuth): a 401 refreshes the access token once, retries with it, and later events use it', async () => {
  const raw = {
    settings: { portalId: '123' },
    oauth: { access_token: 'old-token', refresh_token: 'rt-1', clientId: 'cid', clientSecret: 'csecret' },
    subscriptions: [{ partnerAction: 'sendCustomBehavioralEvent', subscribe: 'type = "track"', mapping: { eventName: 'pe123_order_completed' } }],
  };
  fake.respond((r) => {
    if (r.path === '/oauth/v1/token') return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"access_token":"new-token","expires_in":1800}' };
    if (r.headers.authorization === 'Bearer old-token') return { status: 401, headers: { 'content-type': 'application/json' }, body: '{"status":"error","category":"EXPIRED_AUTHENTICATION"}' };
    return undefined;
  });
  const d = typeOf('actions-hubspot-cloud');
  const settings = settingsOf('actions-hubspot-cloud', raw);
  const outcome = await d.deliver({ settings, message: orderCompleted, payload: '', request: fake.request });
  assert.equal(outcome.kind, 'delivered');
  const event = { eventName: 'pe123_order_completed', occurredAt: base.timestamp, email: 'ada@example.com' };
  const json = { 'content-type': 'application/json', 'user-agent': 'Segment (Actions)' };
  assert.deepEqual(fake.received.map(wire), [
    { method: 'POST', url: 'https://api.hubapi.com/events/v3/send', headers: { authorization: 'Bearer old-token', ...json }, body: event },
    {
      method: 'POST',
      url: 'https://api.hubapi.com/oauth/v1/token',
      // The engine builds the refresh request with the destination's extendRequest, as Segment does.
      headers: { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8', authorization: 'Bearer undefined', 'user-agent': 'Segment (Actions)' },
      body: form({ refresh_token: 'rt-1', client_id: 'cid', client_secret: 'csecret', grant_type: 'refresh_token' }),
    },
    { method: 'POST', url: 'https://api.hubapi.com/events/v3/send', headers: { authorization: 'Bearer new-token', ...json }, body: event },
  ]);
  // Tokens are never kept in captured exchanges.
  assert.ok(!JSON.stringify(outcome.exchanges).includes('new-token') && !JSON.stringify(outcome.exchanges).includes('csecret'));
  fake.reset();
  const again = await d.deliver({ settings, message: orderCompleted, payload: '', request: fake.request });
  assert.equal(again.kind, 'delivered');
  assert.deepEqual(fake.received.map((r) => r.headers.authorization), ['Bearer new-token']);
});

test('a 429 with Retry-After is retried after that delay; 503 retries; 400 and 501 are discarded', async () => {
  fake.respond(() => ({ status: 429, headers: { 'retry-after': '30', 'content-type': 'application/json' }, body: '{"code":429,"error":"Too many requests for some devices and users"}' }));
  const limited = await deliver('actions-amplitude', amplitude, songPlayed);
  assert.deepEqual({ kind: limited.outcome.kind, reason: (limited.outcome as { reason?: string }).reason, status: (limited.outcome as { status?: number }).status, after: (limited.outcome as { retryAfterMs?: number }).retryAfterMs },
    { kind: 'retry', reason: 'HTTP 429', status: 429, after: 30_000 });
  assert.equal(limited.outcome.exchanges.length, 1);
  assert.equal(limited.outcome.exchanges[0]!.response?.status, 429);

  const webhook = { subscriptions: [{ partnerAction: 'send', subscribe: 'type = "track"', mapping: { url: 'https://hooks.example.com/in', method: 'POST' } }] };
  for (const [status, kind] of [[503, 'retry'], [400, 'discard'], [501, 'discard'], [408, 'retry']] as const) {
    fake.reset();
    fake.respond(() => ({ status, body: 'no' }));
    const { outcome } = await deliver('actions-webhook', webhook, songPlayed);
    assert.deepEqual({ status, kind: outcome.kind, reason: (outcome as { reason?: string }).reason }, { status, kind, reason: `HTTP ${status}` });
  }
});

test('a network error is retried; a payload the action rejects is discarded without a request', async () => {
  const refused = await deliver('actions-webhook', { subscriptions: [{ partnerAction: 'send', subscribe: 'type = "track"', mapping: { url: 'http://127.0.0.1:1/hook', method: 'POST' } }] }, songPlayed);
  assert.equal(refused.outcome.kind, 'retry');
  assert.match((refused.outcome as { reason: string }).reason, /ECONNREFUSED/);

  // GA4 purchase needs transaction_id (properties.order_id): PayloadValidationError → discard.
  const { order_id: _o, ...props } = orderCompleted.properties!;
  const invalid = await deliver('actions-google-analytics-4', { settings: { measurementId: 'G-1', apiSecret: 's' }, subscriptions: [{ partnerAction: 'purchase' }] }, { ...orderCompleted, properties: props });
  assert.equal(invalid.outcome.kind, 'discard');
  assert.match((invalid.outcome as { reason: string }).reason, /^payload validation failed: .*transaction_id/);
  assert.equal(invalid.sent.length, 0);
});

test('subscriptions use Switchyard FQL (not, parentheses); an event matching none is skipped as "no_matching_subscription"', async () => {
  const raw = {
    subscriptions: [{
      partnerAction: 'send',
      subscribe: '(type = "track" or type = "page") and !(event = "Song Played") and not (properties.internal = true)',
      mapping: { url: 'https://hooks.example.com/in', method: 'POST' },
    }],
  };
  const skipped = await deliver('actions-webhook', raw, songPlayed);
  assert.deepEqual({ kind: skipped.outcome.kind, reason: (skipped.outcome as { reason?: string }).reason, sent: skipped.sent.length }, { kind: 'skip', reason: 'no_matching_subscription', sent: 0 });
  const internal = await deliver('actions-webhook', raw, { ...orderCompleted, properties: { internal: true } });
  assert.equal(internal.sent.length, 0);
  const sent = await deliver('actions-webhook', raw, orderCompleted);
  assert.equal(sent.outcome.kind, 'delivered');
  assert.equal(sent.sent.length, 1);
  // A disabled subscription is ignored.
  fake.reset();
  const disabled = await deliver('actions-webhook', { subscriptions: [{ ...raw.subscriptions[0]!, enabled: false }] }, orderCompleted);
  assert.deepEqual({ kind: disabled.outcome.kind, sent: disabled.sent.length }, { kind: 'skip', sent: 0 });
});

test('settings are validated against the definition and errors name the field (workspace file paths)', () => {
  const file = (settings: unknown, type = 'actions-mixpanel') =>
    JSON.stringify({ workspace: { slug: 'acme' }, sources: [{ slug: 'web', writeKey: 'wk' }], destinations: [{ name: 'Dest', type, sources: ['web'], settings }] });
  const errors = (settings: unknown, type?: string) => {
    const r = parseWorkspaceFile(file(settings, type), 'w.json', destinationTypes);
    assert.equal(r.ok, false);
    return r.ok ? [] : r.error.map((e) => `${e.path}: ${e.message}`);
  };
  assert.deepEqual(errors({ settings: { apiSecret: 'x' } }), ['destinations[0].settings.settings.projectToken: required (Project Token)']);
  assert.deepEqual(errors({ settings: { projectToken: 't', apiSecret: 'x', apiRegion: 'Mars' } }), [
    'destinations[0].settings.settings.apiRegion: must be one of "US 🇺🇸", "EU 🇪🇺", "IN 🇮🇳"',
  ]);
  assert.deepEqual(errors({ settings: { projectToken: 7, apiSecret: 'x', projectTokn: 'typo' } }), [
    'destinations[0].settings.settings.projectToken: Invalid input: expected string, received number',
    'destinations[0].settings.settings.projectTokn: unknown field',
  ]);
  const subs = errors({
    settings: { projectToken: 't', apiSecret: 'x' },
    subscriptions: [
      { partnerAction: 'sendToMars', subscribe: 'type = "track"' },
      { partnerAction: 'alias' },
      { partnerAction: 'trackEvent', subscribe: 'type = ', mapping: { evnt: 'x' } },
    ],
  });
  assert.equal(subs.length, 4);
  assert.match(subs[0]!, /^destinations\[0\]\.settings\.subscriptions\[0\]\.partnerAction: unknown action "sendToMars" of Mixpanel \(Actions\); actions: trackEvent, identifyUser/);
  assert.equal(subs[1], 'destinations[0].settings.subscriptions[1].subscribe: required (action "alias" has no default subscription)');
  assert.match(subs[2]!, /^destinations\[0\]\.settings\.subscriptions\[2\]\.subscribe: invalid FQL at position \d+: /);
  assert.match(subs[3]!, /^destinations\[0\]\.settings\.subscriptions\[2\]\.mapping\.evnt: unknown field of action "trackEvent"/);
  assert.deepEqual(errors({}, 'actions-braze-cloud'), ['destinations[0].settings.settings.api_key: required (API Key)']);
  // Mapping directives are checked with mapping-kit's own validator when the settings are saved.
  assert.deepEqual(errors({ settings: { projectToken: 't', apiSecret: 'x' }, subscriptions: [{ partnerAction: 'trackEvent', mapping: { event: { '@path': 42 } } }] }), [
    'destinations[0].settings.subscriptions[0].mapping.event.@path: should be a string or a mapping directive but it is a number',
  ]);
});

test('password settings are kept apart as secrets (encrypted at rest), re-validate unchanged, and never appear in captured exchanges', async () => {
  const d = typeOf('actions-amplitude');
  assert.deepEqual(d.secretSettings, ['secrets', 'oauth']);
  const parsed = settingsOf('actions-amplitude', amplitude);
  assert.deepEqual(parsed, { settings: { endpoint: 'north_america' }, secrets: { apiKey: 'amp-api-key', secretKey: 'amp-secret-key' } });
  assert.deepEqual(settingsOf('actions-amplitude', parsed), parsed);

  const plan = parseWorkspaceFile(JSON.stringify({
    workspace: { slug: 'acme' }, sources: [{ slug: 'web', writeKey: 'wk' }],
    destinations: [{ name: 'Amp', type: 'actions-amplitude', sources: ['web'], settings: amplitude }],
  }), 'w.json', destinationTypes);
  assert.ok(plan.ok);
  assert.deepEqual(plan.value.destinations[0]!.secretSettings, ['secrets', 'oauth']);

  fake.respond(() => ({ status: 400, headers: { 'content-type': 'application/json' }, body: '{"code":400,"error":"Invalid API key: amp-api-key"}' }));
  const { outcome, sent } = await deliver('actions-amplitude', amplitude, songPlayed);
  assert.equal(outcome.kind, 'discard');
  assert.ok(sent[0]!.body.includes('"api_key":"amp-api-key"'), 'the real request carries the key');
  const captured = JSON.stringify(outcome.exchanges);
  assert.ok(!captured.includes('amp-api-key'), captured);
  assert.ok(captured.includes('"api_key\\":\\"[redacted]\\"'), captured);
});

test('the catalog loads lazily: listing types loads no destination; using one loads only that one', () => {
  const registry = fileURLToPath(new URL('../src/destinations/registry.js', import.meta.url));
  const script = `
    import { createRequire } from 'node:module';
    const { destinationTypes } = await import(${JSON.stringify(registry)});
    const cache = createRequire(import.meta.url).cache;
    const loaded = () => Object.keys(cache).filter((k) => /action-destinations\\/dist\\/destinations\\/[^/]+\\/index\\.js$/.test(k)).map((k) => k.split('/').at(-2));
    const types = [...destinationTypes.keys()];
    const before = loaded();
    const amp = destinationTypes.get('actions-amplitude');
    console.log(JSON.stringify({ count: types.length, webhook: types[0], before, after: loaded(), name: amp.name, core: Object.keys(cache).some((k) => k.includes('/destinations/index.js')) }));
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as Record<string, unknown>;
  assert.ok((out.count as number) > 200, `catalog types: ${String(out.count)}`);
  assert.deepEqual({ ...out, count: 0 }, { count: 0, webhook: 'webhook', before: [], after: ['amplitude'], name: 'Actions Amplitude', core: false });
});

test('a catalog entry describes the destination as JSON: metadata id, settings with secrets marked, actions, presets', () => {
  const amp = describeActionsType('actions-amplitude');
  assert.ok(amp);
  assert.deepEqual({ id: amp.id, name: amp.name, slug: amp.slug, scheme: amp.authentication.scheme }, { id: '5f7dd6d21ad74f3842b1fc47', name: 'Actions Amplitude', slug: 'actions-amplitude', scheme: 'custom' });
  assert.deepEqual(amp.authentication.fields.apiKey, { type: 'password', required: true, label: 'API Key', description: amp.authentication.fields.apiKey!.description, secret: true });
  const logPurchase = amp.actions.find((a) => a.key === 'logPurchase');
  assert.equal(logPurchase?.fields.event_type?.required, true);
  assert.deepEqual(amp.presets[0], { name: 'Track Calls', partnerAction: 'logEventV2', subscribe: 'type = "track" and event != "Order Completed"', type: 'automatic' });
  assert.doesNotThrow(() => JSON.stringify(amp));
  assert.equal(describeActionsType('actions-nope'), undefined);
});

test('a request that times out is retried', async () => {
  const slow = await startFakeApis({ timeoutMs: 100 });
  try {
    slow.respond(() => ({ status: 200, delayMs: 1000 }));
    const d = typeOf('actions-webhook');
    const settings = settingsOf('actions-webhook', { subscriptions: [{ partnerAction: 'send', subscribe: 'type = "track"', mapping: { url: 'https://hooks.example.com/in' } }] });
    const outcome = await d.deliver({ settings, message: songPlayed, payload: '', request: slow.request });
    assert.deepEqual({ kind: outcome.kind, reason: (outcome as { reason?: string }).reason }, { kind: 'retry', reason: 'timed out after 100 ms' });
    assert.equal(outcome.exchanges[0]?.error, 'timed out after 100 ms');
  } finally {
    await slow.close();
  }
});

test('the HTTP client: path and query sent, repeated headers joined, a body in several chunks decoded as UTF-8, a stalled body times out, an endless body is cut at the cap, a refused connection and a bad URL are network errors', async () => {
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    req.resume();
    if (req.url === '/stall') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      return; // never ends: the body timeout fires
    }
    if (req.url === '/endless') {
      // A body that never stops, fast enough that no gap times out: cut at the cap.
      res.writeHead(200, { 'content-type': 'text/plain' });
      const pump = (): void => {
        while (!res.destroyed && res.write('x'.repeat(16_384)));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
      return;
    }
    res.writeHead(207, [['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
    const body = Buffer.from('{"greeting":"héllo wörld"}');
    res.write(body.subarray(0, 15)); // splits the "é" across two chunks
    setTimeout(() => res.end(body.subarray(15)), 20);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const client = createRequestClient({ timeoutMs: 300, connectionsPerOrigin: 2, maxResponseBytes: 100_000 });
  try {
    const endless = await client.request({ method: 'GET', url: `http://127.0.0.1:${port}/endless`, headers: {} });
    assert.equal(endless.status, 200);
    assert.equal(endless.body.length, 100_000);
    assert.equal(endless.cutAt, 100_000);
    assert.match(endless.body, /^x+$/);
    // What failure logs and samples keep of it says it was cut.
    const { request: captured, exchanges } = capturing(client.request, []);
    await captured({ method: 'GET', url: `http://127.0.0.1:${port}/endless`, headers: {} });
    assert.match(exchanges[0]!.response!.body, /…\[the response was over 100000 bytes; Switchyard kept the first 100000\]$/);
    const res = await client.request({ method: 'POST', url: `http://127.0.0.1:${port}/ok?x=1`, headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 207);
    assert.deepEqual(paths, ['/endless', '/endless', '/ok?x=1']);
    assert.equal(res.headers['set-cookie'], 'a=1, b=2');
    assert.equal(res.body, '{"greeting":"héllo wörld"}');
    await assert.rejects(client.request({ method: 'GET', url: `http://127.0.0.1:${port}/stall`, headers: {} }), (err: RequestError) => err.code === 'timeout' && err.message === 'timed out after 300 ms');
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await assert.rejects(client.request({ method: 'GET', url: `http://127.0.0.1:${port}/`, headers: {} }), (err: RequestError) => err.code === 'network' && /ECONNREFUSED/.test(err.message));
    await assert.rejects(client.request({ method: 'GET', url: 'not a url', headers: {} }), (err: RequestError) => err.code === 'network' && err.message.startsWith('invalid URL "not a url"'));
  } finally {
    server.closeAllConnections();
    server.close();
    await client.close();
  }
});

test('the engine\'s typed errors map to outcomes: retryable, invalid auth, integration errors by status, unknown throws', () => {
  const core = createRequire(fileURLToPath(new URL('../../node_modules/@segment/action-destinations/dist/index.js', import.meta.url)))('@segment/actions-core') as Record<string, new (...a: unknown[]) => Error>;
  const cases: [Error, ReturnType<typeof verdictFromError>][] = [
    [new core.RetryableError!('rate limited upstream'), { kind: 'retry', reason: 'retryable error: rate limited upstream', status: 500 }],
    [new core.InvalidAuthenticationError!('bad key'), { kind: 'discard', reason: 'invalid authentication: bad key', status: 401 }],
    [new core.PayloadValidationError!('email is required'), { kind: 'discard', reason: 'payload validation failed: email is required', status: 400 }],
    [new core.IntegrationError!('upstream down', 'UPSTREAM', 502), { kind: 'retry', reason: 'UPSTREAM: upstream down', status: 502 }],
    [new core.IntegrationError!('not allowed', 'FORBIDDEN', 403), { kind: 'discard', reason: 'FORBIDDEN: not allowed', status: 403 }],
    [new core.RequestTimeoutError!(), { kind: 'retry', reason: 'timeout: Request timed out before receiving a response' }],
    [new TypeError('x is undefined'), { kind: 'retry', reason: 'unexpected error: TypeError: x is undefined' }],
  ];
  for (const [err, want] of cases) assert.deepEqual(verdictFromError(err, 0), want, err.name);
});

test('HubSpot (OAuth): a token endpoint that fails with 503 retries the event; a refused refresh discards it as HTTP 401', async () => {
  const raw = {
    settings: { portalId: '123' },
    oauth: { access_token: 'old-token', refresh_token: 'rt-1', clientId: 'cid', clientSecret: 'csecret' },
    subscriptions: [{ partnerAction: 'sendCustomBehavioralEvent', subscribe: 'type = "track"', mapping: { eventName: 'pe123_order_completed' } }],
  };
  for (const [tokenStatus, want] of [[503, { kind: 'retry', reason: 'token refresh failed: HTTP 503' }], [400, { kind: 'discard', reason: 'HTTP 401' }]] as const) {
    fake.reset();
    fake.respond((r) => (r.path === '/oauth/v1/token' ? { status: tokenStatus, body: '{}' } : { status: 401, body: '{}' }));
    const { outcome, sent } = await deliver('actions-hubspot-cloud', raw, orderCompleted);
    assert.deepEqual({ kind: outcome.kind, reason: (outcome as { reason?: string }).reason }, want);
    assert.deepEqual(sent.map((r) => r.path), ['/events/v3/send', '/oauth/v1/token']);
  }
});

test('a catalog destination whose code cannot load refuses its settings with the load error instead of crashing', () => {
  const d = unloadableActionsDestination({ id: 'x', directory: 'x', slug: 'actions-x', type: 'actions-x', name: 'X' }, new Error("Cannot find module 'ssh2'"));
  const r = d.settingsSchema.safeParse({ settings: {} });
  assert.equal(r.success, false);
  assert.equal(r.error?.issues[0]?.message, "the actions-x destination code failed to load: Cannot find module 'ssh2'");
});
