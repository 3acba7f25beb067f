/**
 * Connection modes (issue #3, classic routing rules): a device-mode instance is
 * the browser's (the router never delivers to it, and says why), a cloud-mode one
 * takes client and server events; the settings endpoint lists device-mode
 * instances and their destination filters as analytics-next routing rules, which
 * analytics-next itself (under jsdom) applies to a destination the page brings.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { JSDOM } from 'jsdom';
import {
  CONNECTION_MODE_KEY,
  DEVICE_MODE_CLIENT_REASON,
  DEVICE_MODE_SERVER_REASON,
  decideRoute,
  splitConnectionMode,
  type ConnectionMode,
  type RouteTarget,
} from '../src/core/route.js';
import { connectionModesOf, parseWorkspaceFile, type DestinationTypes } from '../src/config/workspace-file.js';
import { destinationTypes } from '../src/destinations/registry.js';
import { webhookSettings } from '../src/destinations/webhook/settings.js';
import type { DestinationFilter } from '../src/core/filters.js';
import { compileFilters } from '../src/core/filters.js';
import { routingRulesFor, type TsubRule } from '../src/server/settings-api.js';
import { EVENT_TYPES, type Channel, type SegmentMessage } from '../src/protocol/types.js';
import { Harness } from './helpers/harness.js';
import { startFakeApis, type FakeApis } from './helpers/fake-apis.js';
import type { SwitchyardProcess } from './helpers/switchyard.js';
import { countOf, deliveryStats, postTracking, sleep, waitUntil, WRITE_KEY } from './helpers/e2e.js';

// ---------------------------------------------------------------------------
// The route table: channel × connection mode × integrations object.

const target = (connectionMode?: ConnectionMode): RouteTarget => ({
  destinationName: 'Amplitude (Actions)',
  instanceName: 'Amplitude EU',
  supportedTypes: new Set(EVENT_TYPES),
  ...(connectionMode ? { connectionMode } : {}),
});

const event = (channel: Channel | undefined, integrations?: Record<string, unknown>): SegmentMessage =>
  ({ type: 'track', event: 'Order Completed', userId: 'u1', messageId: 'm1', ...(channel ? { channel } : {}), ...(integrations ? { integrations } : {}) }) as SegmentMessage;

const SEND = { kind: 'send' };
const skip = (reason: string) => ({ kind: 'skip', reason });

const TABLE: [string, Channel | undefined, ConnectionMode | undefined, Record<string, unknown> | undefined, object][] = [
  // cloud mode: both channels, then the integrations object
  ['cloud, client', 'client', 'cloud', undefined, SEND],
  ['cloud, server', 'server', 'cloud', undefined, SEND],
  ['default mode is cloud', 'client', undefined, undefined, SEND],
  ['cloud, no channel (read as server)', undefined, 'cloud', undefined, SEND],
  ['cloud, client, destination named false', 'client', 'cloud', { 'Amplitude (Actions)': false }, skip('integrations_disabled')],
  ['cloud, server, instance named false', 'server', 'cloud', { 'Amplitude EU': false }, skip('integrations_disabled')],
  ['cloud, All false', 'server', 'cloud', { All: false }, skip('integrations_all_false')],
  ['cloud, All false but named true', 'client', 'cloud', { All: false, 'Amplitude (Actions)': true }, SEND],
  ['cloud, options for the destination', 'server', 'cloud', { 'Amplitude (Actions)': { session_id: 7 } }, { kind: 'send', options: { session_id: 7 } }],
  // device mode: never the router's, whatever the integrations object says
  ['device, client', 'client', 'device', undefined, skip(DEVICE_MODE_CLIENT_REASON)],
  ['device, server', 'server', 'device', undefined, skip(DEVICE_MODE_SERVER_REASON)],
  ['device, no channel (server)', undefined, 'device', undefined, skip(DEVICE_MODE_SERVER_REASON)],
  ['device, client, named true', 'client', 'device', { 'Amplitude (Actions)': true }, skip(DEVICE_MODE_CLIENT_REASON)],
  ['device, server, All false', 'server', 'device', { All: false }, skip(DEVICE_MODE_SERVER_REASON)],
  ['device, client, named false', 'client', 'device', { 'Amplitude EU': false }, skip(DEVICE_MODE_CLIENT_REASON)],
];

test('route table: channel × connection mode × integrations object', () => {
  for (const [name, channel, mode, integrations, expected] of TABLE) {
    assert.deepEqual(decideRoute(event(channel, integrations), target(mode)), expected, name);
  }
});

test('the connection mode rides in stored settings under a reserved key, absent meaning cloud', () => {
  assert.deepEqual(splitConnectionMode({ urls: ['http://x'] }), { connectionMode: 'cloud', settings: { urls: ['http://x'] } });
  assert.deepEqual(splitConnectionMode({ settings: { apiKey: 'k' }, [CONNECTION_MODE_KEY]: 'device' }), { connectionMode: 'device', settings: { settings: { apiKey: 'k' } } });
});

// ---------------------------------------------------------------------------
// The workspace file.

const fileTypes: DestinationTypes = new Map<string, { settingsSchema: never; secretSettings: readonly string[] }>([
  ['webhook', { settingsSchema: webhookSettings as never, secretSettings: ['sharedSecret'] }],
  ['actions-amplitude', { settingsSchema: destinationTypes.get('actions-amplitude')!.settingsSchema as never, secretSettings: ['secrets', 'oauth'] }],
  ['actions-webhook', { settingsSchema: destinationTypes.get('actions-webhook')!.settingsSchema as never, secretSettings: ['secrets', 'oauth'] }],
]);

const file = (destinations: string) => `workspace: { slug: acme }
sources:
  - { slug: web, writeKey: wk_web }
  - { slug: app, writeKey: wk_app }
destinations:
${destinations}`;

test('workspace file: connectionMode defaults to cloud; device is kept under the reserved settings key', () => {
  const r = parseWorkspaceFile(file(`  - { name: Hook, type: webhook, sources: [web], settings: { urls: [http://127.0.0.1:1/h] } }
  - { name: Amp, type: actions-amplitude, connectionMode: device, sources: [web], settings: { settings: { apiKey: k, secretKey: s } } }
  - { name: Amp cloud, type: actions-amplitude, connectionMode: cloud, sources: [web], settings: { settings: { apiKey: k2, secretKey: s2 } } }`), 'w.yaml', fileTypes);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  const [hook, amp, ampCloud] = r.value.destinations;
  assert.equal(CONNECTION_MODE_KEY in hook!.settings, false, 'cloud (the default) writes nothing');
  assert.equal(amp!.settings[CONNECTION_MODE_KEY], 'device');
  assert.equal(CONNECTION_MODE_KEY in ampCloud!.settings, false);
  // Amplitude's apiKey and secretKey are password fields: secrets, encrypted at rest.
  assert.deepEqual(splitConnectionMode(amp!.settings).settings, { settings: { endpoint: 'north_america' }, secrets: { apiKey: 'k', secretKey: 's' } });
});

test('workspace file: a bad connectionMode is a path-named error', () => {
  const bad = parseWorkspaceFile(file(`  - { name: Hook, type: webhook, connectionMode: browser, sources: [web], settings: { urls: [http://127.0.0.1:1/h] } }`), 'w.yaml', fileTypes);
  assert.ok(!bad.ok);
  assert.deepEqual(bad.error.map((e) => e.path), ['destinations[0].connectionMode']);
  assert.match(bad.error[0]!.message, /"cloud"|cloud/);

  // device mode for a type that only runs on the server
  for (const [type, settings] of [['webhook', '{ urls: [http://127.0.0.1:1/h] }'], ['actions-webhook', '{}']] as const) {
    const r = parseWorkspaceFile(file(`  - { name: Hook, type: ${type}, connectionMode: device, sources: [web], settings: ${settings} }`), 'w.yaml', fileTypes);
    assert.ok(!r.ok, type);
    assert.deepEqual(r.error.map((e) => e.path), ['destinations[0].connectionMode'], type);
    assert.match(r.error[0]!.message, new RegExp(`"${type}" runs in cloud mode only: device mode needs a destination that has browser code \\(here: "actions-amplitude"\\)`));
  }

  // one device-mode instance of a destination per source
  const two = parseWorkspaceFile(file(`  - { name: Amp A, type: actions-amplitude, connectionMode: device, sources: [web, app], settings: { settings: { apiKey: a, secretKey: s } } }
  - { name: Amp B, type: actions-amplitude, connectionMode: device, sources: [app], settings: { settings: { apiKey: b, secretKey: s } } }`), 'w.yaml', fileTypes);
  assert.ok(!two.ok);
  assert.deepEqual(two.error.map((e) => e.path), ['destinations[1].connectionMode']);
  assert.match(two.error[0]!.message, /source "app" already has a device-mode instance of "actions-amplitude" \(destinations\[0\]\)/);
});

test('which types may run in device mode: the catalog destinations upstream also builds for the browser', () => {
  const device = [...destinationTypes.keys()].filter((t) => connectionModesOf(t, destinationTypes).includes('device')).sort();
  assert.deepEqual(device, [
    'actions-algolia-insights', 'actions-amplitude', 'actions-braze-cloud', 'actions-devrev', 'actions-dub',
    'actions-ms-bing-capi', 'actions-nextdoor-capi', 'actions-reddit-conversions-api', 'actions-snap-conversions',
  ].sort());
  assert.deepEqual(connectionModesOf('webhook', destinationTypes), ['cloud']);
});

// ---------------------------------------------------------------------------
// Destination filters as tsub routing rules, run with analytics-next's own copy of tsub.

interface Tsub {
  matches(event: unknown, matcher: TsubRule['matchers'][number]): boolean;
  transform(event: unknown, transformers: unknown[]): Record<string, any> | null;
}
function loadTsub(): Tsub {
  // The vendored UMD bundle reads the browser's `self`.
  (globalThis as Record<string, unknown>).self ??= globalThis;
  return createRequire(import.meta.url)('@segment/analytics-next/dist/cjs/vendor/tsub/tsub.js') as Tsub;
}

/** What analytics-next's routing middleware does with a destination's rules. */
function applyRules(tsub: Tsub, rules: TsubRule[], destinationName: string, input: Record<string, unknown>): Record<string, any> | null {
  let obj: Record<string, any> | null = structuredClone(input);
  for (const rule of rules.filter((r) => r.destinationName === destinationName)) {
    for (let i = 0; i < rule.matchers.length; i++) {
      if (obj && tsub.matches(obj, rule.matchers[i]!)) {
        obj = tsub.transform(obj, rule.transformers[i]!);
        if (obj === null) return null;
      }
    }
  }
  return obj;
}

const filter = (id: string, cond: string, actions: DestinationFilter['actions']): DestinationFilter => ({ id, sourceId: 's', destinationId: 'd', if: cond, actions, title: id, enabled: true });

test('filters translate to routing rules that tsub applies as the server does', () => {
  const tsub = loadTsub();
  const filters = [
    filter('f1', 'event = "Secret" or (type = "track" and properties.total > 100 and !(userId = null))', [{ type: 'DROP' }]),
    filter('f2', 'all', [{ type: 'DROP_PROPERTIES', fields: { properties: ['email', 'products.price'], '': ['context'] } }]),
    filter('f3', 'match(event, "Order *") and properties.coupon exists', [{ type: 'ALLOW_PROPERTIES', fields: { properties: ['coupon', 'address.city', 'products'] } }]),
    filter('f4', 'typeof(properties.flag) = "bool" and lowercase(event) = "abx"', [{ type: 'DROP' }]),
    filter('f5', 'event in ["Dropped A", "Dropped B"] and length(properties.items) >= 2', [{ type: 'DROP' }]),
  ];
  const rules = routingRulesFor('Amplitude (Actions)', filters);
  for (const r of rules) {
    assert.equal(r.scope, 'destinations');
    assert.equal(r.target_type, 'workspace::project::destination::config');
    assert.equal(r.destinationName, 'Amplitude (Actions)');
  }
  const server = compileFilters(filters);
  const cases: Record<string, unknown>[] = [
    { type: 'track', event: 'Secret', userId: 'u', properties: {} },
    { type: 'track', event: 'Big', userId: 'u', properties: { total: 500 } },
    { type: 'track', event: 'Big', anonymousId: 'a', properties: { total: 500, email: 'e@x' } },
    { type: 'track', event: 'Order Completed', userId: 'u', context: { ip: '1.2.3.4' }, properties: { coupon: 'C', email: 'e', address: { city: 'Oslo', zip: '1' }, products: [{ price: 1, sku: 'a' }, { price: 2, sku: 'b' }], other: 1 } },
    { type: 'track', event: 'Order Completed', userId: 'u', properties: { email: 'e', other: 1 } },
    { type: 'track', event: 'abc', userId: 'u', properties: { flag: true } },
    { type: 'track', event: 'abx', userId: 'u', properties: { flag: true } },
    { type: 'track', event: 'Dropped B', userId: 'u', properties: { items: [1, 2] } },
    { type: 'track', event: 'Dropped B', userId: 'u', properties: { items: [1] } },
    { type: 'identify', userId: 'u', traits: { a: 1 }, properties: { email: 'x' } },
  ];
  for (const c of cases) {
    const s = server(structuredClone(c) as SegmentMessage);
    const b = applyRules(tsub, rules, 'Amplitude (Actions)', c);
    assert.deepEqual(b, s.kind === 'keep' ? s.message : null, `browser and server agree on ${JSON.stringify(c)}`);
  }
  assert.equal(applyRules(tsub, rules, 'Other Destination', cases[0]!)?.event, 'Secret', 'rules apply to their destination only');

  // SAMPLE: percent 0 drops everything, 1 keeps everything.
  const none = routingRulesFor('D', [filter('s0', 'all', [{ type: 'SAMPLE', percent: 0, path: 'userId' }])]);
  assert.equal(applyRules(tsub, none, 'D', { type: 'track', userId: 'u' }), null);
  const every = routingRulesFor('D', [filter('s1', 'all', [{ type: 'SAMPLE', percent: 1 }])]);
  assert.deepEqual(applyRules(tsub, every, 'D', { type: 'track', userId: 'u' }), { type: 'track', userId: 'u' });
  assert.deepEqual(none[0]!.transformers, [[{ type: 'sample_event', config: { sample: { percent: 0, path: 'userId' } } }]]);

  // Disabled filters are not sent; a filter tsub cannot express fails closed (drops every event).
  assert.deepEqual(routingRulesFor('D', [{ ...filter('off', 'all', [{ type: 'DROP' }]), enabled: false }]), []);
  const closed = routingRulesFor('D', [filter('u', 'uppercase(event) = "X"', [{ type: 'DROP_PROPERTIES', fields: { properties: ['email'] } }])]);
  assert.deepEqual(closed.map((r) => [r.matchers, r.transformers]), [[[{ type: 'all', ir: '' }], [[{ type: 'drop' }]]]]);
});

// ---------------------------------------------------------------------------
// End to end: a real server, a device-mode Amplitude (Actions) instance and its
// cloud-mode sibling, Amplitude faked on loopback.

const h = new Harness();
let fake: FakeApis;
let sy: SwitchyardProcess;

before(async () => {
  fake = await startFakeApis();
  const overrides = await fake.outboundOverrides(['api2.amplitude.com', 'api.amplitude.com']);
  sy = await h.start({
    env: { SWITCHYARD_OUTBOUND_OVERRIDES: overrides },
    workspace: `workspace: { slug: acme }
sources:
  - slug: web-prod
    writeKey: ${WRITE_KEY}
destinations:
  - id: amp-device
    name: Amplitude in the browser
    type: actions-amplitude
    connectionMode: device
    sources: [web-prod]
    settings:
      settings: { apiKey: device-api-key, secretKey: device-secret-key }
    filters:
      - if: event = "Internal Test"
        actions: [{ type: DROP }]
      - if: all
        actions: [{ type: DROP_PROPERTIES, fields: { properties: [email] } }]
  - id: amp-cloud
    name: Amplitude from the server
    type: actions-amplitude
    sources: [web-prod]
    settings:
      settings: { apiKey: cloud-api-key, secretKey: cloud-secret-key }
    filters:
      - if: event = "Cloud Only Filter"
        actions: [{ type: DROP }]
`,
  });
});

after(async () => {
  await h.cleanup();
  await fake?.close();
});

test('end to end: the device-mode instance gets nothing from the router, its cloud-mode sibling gets client and server events', async () => {
  const clientEvents = [1, 2, 3].map((i) => ({ type: 'track', event: 'Song Played', userId: `u${i}`, properties: { i } }));
  const serverEvents = [4, 5].map((i) => ({ type: 'track', event: 'Song Played', userId: `u${i}`, properties: { i } }));
  for (const e of clientEvents) assert.equal((await postTracking(sy.url, '/v1/t', e)).status, 200); // analytics.js path: channel client
  for (const e of serverEvents) assert.equal((await postTracking(sy.url, '/v1/track', e)).status, 200); // server channel

  const cloud = await waitUntil('the cloud-mode instance to deliver 5 events', async () => {
    const s = await deliveryStats(sy.url, 'amp-cloud');
    return s.delivered === 5 ? s : undefined;
  }, { describe: () => deliveryStats(sy.url, 'amp-cloud') });
  assert.deepEqual(cloud.filtered, []);
  const device = await waitUntil('the device-mode instance to count its skips', async () => {
    const s = await deliveryStats(sy.url, 'amp-device');
    return countOf(s.filtered, DEVICE_MODE_CLIENT_REASON) + countOf(s.filtered, DEVICE_MODE_SERVER_REASON) === 5 ? s : undefined;
  }, { describe: () => deliveryStats(sy.url, 'amp-device') });
  assert.equal(countOf(device.filtered, DEVICE_MODE_CLIENT_REASON), 3, 'client events: the browser sends them');
  assert.equal(countOf(device.filtered, DEVICE_MODE_SERVER_REASON), 2, 'server events: not for a device-mode instance');
  assert.equal(device.delivered, 0);
  assert.equal(device.attemptsFailed, 0);

  await sleep(300); // a late delivery to the device-mode instance would show up here
  const bodies = fake.received.filter((r) => r.host === 'api2.amplitude.com').map((r) => JSON.parse(r.body) as { api_key: string; events: { user_id: string }[] });
  assert.ok(bodies.length > 0, 'Amplitude was called');
  assert.deepEqual([...new Set(bodies.map((b) => b.api_key))], ['cloud-api-key'], 'only the cloud-mode instance reached Amplitude');
  assert.deepEqual(bodies.flatMap((b) => b.events.map((e) => e.user_id)).sort(), ['u1', 'u2', 'u3', 'u4', 'u5']);
});

test('the Event Tester explains that a device-mode instance is tested from the browser', async () => {
  const res = await fetch(`${sy.url}/api/v1/destinations/amp-device/test`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'track', userId: 'u1', event: 'Tested' }),
  });
  assert.equal(res.status, 409);
  const body = (await res.json()) as { errors: { message: string }[] };
  assert.match(body.errors[0]!.message, /amp-device is in device mode/);
});

test('the settings endpoint lists the device-mode instance (no secrets) and its filters as routing rules', async () => {
  const res = await fetch(`${sy.url}/v1/projects/${WRITE_KEY}/settings`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { integrations: Record<string, any>; middlewareSettings: { routingRules: TsubRule[] } };
  // Listed under the definition's name ("Actions Amplitude" in catalog 3.497), as Segment's CDN does.
  assert.deepEqual(Object.keys(body.integrations).sort(), ['Actions Amplitude', 'Segment.io']);
  assert.deepEqual(body.integrations['Actions Amplitude'], { endpoint: 'north_america', versionSettings: { componentTypes: [] } }, 'non-secret settings only');
  const text = JSON.stringify(body);
  assert.ok(!text.includes('api-key') && !text.includes('secret-key'), 'no secret setting reaches the browser');
  assert.deepEqual(body.integrations['Segment.io'].unbundledIntegrations, [], 'a destination with a device-mode instance is not listed as unbundled');
  assert.equal(body.integrations['Segment.io'].apiHost, `${new URL(sy.url).host}/v1`);

  const rules = body.middlewareSettings.routingRules;
  assert.deepEqual(rules, [
    {
      scope: 'destinations',
      target_type: 'workspace::project::destination::config',
      matchers: [{ type: 'fql', ir: JSON.stringify(['=', 'event', { value: 'Internal Test' }]) }],
      transformers: [[{ type: 'drop' }]],
      destinationName: 'Actions Amplitude',
    },
    {
      scope: 'destinations',
      target_type: 'workspace::project::destination::config',
      matchers: [{ type: 'all', ir: '' }],
      transformers: [[{ type: 'drop_properties', config: { drop: { properties: ['email'] } } }]],
      destinationName: 'Actions Amplitude',
    },
  ], 'the device-mode filters only (the cloud-mode one applies on the server)');
  const tsub = loadTsub();
  assert.equal(applyRules(tsub, rules, 'Actions Amplitude', { type: 'track', event: 'Internal Test' }), null);
  assert.deepEqual(applyRules(tsub, rules, 'Actions Amplitude', { type: 'track', event: 'X', properties: { email: 'e', a: 1 } }), { type: 'track', event: 'X', properties: { a: 1 } });
});

test('analytics-next in jsdom: a device-mode destination the page brings gets its settings and routing rules from Switchyard', async () => {
  const dom = new JSDOM('<!doctype html><html><body></body></html>', { url: 'http://localhost/', pretendToBeVisual: true });
  const win = dom.window as unknown as Record<string, unknown>;
  const names = ['window', 'self', 'document', 'navigator', 'location', 'localStorage', 'sessionStorage', 'screen', 'history', 'HTMLElement', 'Element', 'Node', 'Event', 'CustomEvent', 'MutationObserver'];
  const saved = new Map(names.map((n) => [n, Object.getOwnPropertyDescriptor(globalThis, n)]));
  for (const n of names) Object.defineProperty(globalThis, n, { value: n === 'window' || n === 'self' ? dom.window : win[n], configurable: true, writable: true });
  win.fetch = globalThis.fetch;
  try {
    // A classic (analytics.js) integration, as a page would bundle one: it records what the browser hands it.
    const got: { settings: Record<string, unknown>; tracks: Record<string, any>[] } = { settings: {}, tracks: [] };
    class PageIntegration {
      private readonly handlers = new Map<string, (() => void)[]>();
      constructor(settings: Record<string, unknown>) {
        got.settings = settings;
      }
      on(ev: string, fn: () => void): void {
        this.handlers.set(ev, [...(this.handlers.get(ev) ?? []), fn]);
      }
      once(ev: string, fn: () => void): void {
        this.on(ev, fn);
      }
      initialize(): void {
        for (const ev of ['initialize', 'ready']) this.handlers.get(ev)?.forEach((fn) => fn());
      }
      /** analytics.js calls integrations through `invoke(method, facade)`. */
      invoke(method: string, facade: { obj: Record<string, any> }): void {
        if (method === 'track') this.track(facade);
      }
      track(facade: { obj: Record<string, any> }): void {
        got.tracks.push(facade.obj);
      }
    }
    (PageIntegration.prototype as unknown as { name: string }).name = 'Actions Amplitude';

    const { AnalyticsBrowser } = await import('@segment/analytics-next');
    const [analytics] = await AnalyticsBrowser.load({ writeKey: WRITE_KEY, cdnURL: sy.url, classicIntegrations: [PageIntegration as never] });
    await analytics.track('Internal Test', { a: 1 });
    await analytics.track('Song Played', { email: 'e@example.com', a: 2 });
    await waitUntil('the page integration to get a track', async () => (got.tracks.length > 0 ? true : undefined));
    await sleep(200);
    assert.equal(got.settings.endpoint, 'north_america', 'the device-mode instance\'s settings from the settings endpoint');
    assert.deepEqual(got.tracks.map((t) => [t.event, t.properties]), [['Song Played', { a: 2 }]], 'the routing rules dropped one event and one property in the browser');
  } finally {
    for (const [n, d] of saved) {
      if (d) Object.defineProperty(globalThis, n, d);
      else delete (globalThis as Record<string, unknown>)[n];
    }
    dom.window.close();
  }
});
