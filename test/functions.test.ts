/**
 * Functions end to end, through a real Switchyard process and the official Public
 * API client (`FunctionsApi`, `DestinationsApi`, `SourcesApi`):
 * - a destination function receives what @segment/analytics-node sends, calls a
 *   local API with its settings, and its errors become discards and retries;
 * - saved code runs only once deployed; versions are listed and restored;
 * - an insert function in front of a webhook destination changes and drops events;
 * - a source function's webhook turns a request into events that reach a destination;
 * - bad input is refused naming the field.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Analytics } from '@segment/analytics-node';
import { DestinationsApi, FunctionsApi, SourcesApi } from '@segment/public-api-sdk-typescript';
import { startSwitchyard, type SwitchyardProcess } from './helpers/switchyard.js';
import { startSink, type Sink } from './helpers/sink.js';
import { client, rejects } from './helpers/public-api.js';
import { countOf, DESTINATION_ID, type DeliveryStats, postTracking, shutdown, sinkEvents, waitUntil, WRITE_KEY } from './helpers/e2e.js';

let sy: SwitchyardProcess;
let api: Sink; // the third-party API the destination function calls
let hook: Sink; // the webhook destination behind the insert function
let functions: FunctionsApi;
let destinations: DestinationsApi;
let sources: SourcesApi;

before(async () => {
  api = await startSink('/collect');
  hook = await startSink('/hook');
  sy = await startSwitchyard({
    workspace: `workspace: { slug: acme }
sources:
  - slug: web-prod
    writeKey: ${WRITE_KEY}
destinations:
  - name: Orders webhook
    id: ${DESTINATION_ID}
    type: webhook
    sources: [web-prod]
    settings:
      urls: [${hook.url}]
`,
    env: { SWITCHYARD_ADMIN_TOKEN: 'tok', SWITCHYARD_RETRY_BASE_MS: '100', SWITCHYARD_RETRY_MAX_DELAY_MS: '500' },
  });
  functions = client(FunctionsApi, sy.url, 'tok');
  destinations = client(DestinationsApi, sy.url, 'tok');
  sources = client(SourcesApi, sy.url, 'tok');
});

after(async () => {
  await shutdown(sy);
  await api.close();
  await hook.close();
});

const destinationCode = (version: number) => `
const attempts = {};
async function onTrack(event, settings) {
  console.log('checking', event.event);
  if (event.event === 'Invalid') throw new ValidationError('orderId is required');
  if (event.event === 'Flaky') {
    attempts[event.messageId] = (attempts[event.messageId] || 0) + 1;
    if (attempts[event.messageId] < 3) throw new RetryError('the API is busy');
  }
  console.log('sending', event.event);
  const res = await fetch(settings.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer ' + settings.apiKey },
    body: JSON.stringify({ v: ${version}, name: event.event, id: event.messageId, user: event.userId, tags: settings.tags }),
  });
  if (res.status >= 500) throw new RetryError('HTTP ' + res.status);
}
async function onIdentify(event, settings) {
  await fetch(settings.endpoint, { method: 'POST', body: JSON.stringify({ v: ${version}, identify: event.userId }) });
}
`;

test('a destination function: events from analytics-node reach the API it calls; errors discard or retry; deploys switch the code', async () => {
  const created = (await functions.createFunction({
    code: destinationCode(1), displayName: 'Orders API', resourceType: 'DESTINATION' as never, description: 'posts orders',
    settings: [
      { name: 'endpoint', label: 'Endpoint', description: '', type: 'STRING' as never, required: true, sensitive: false },
      { name: 'apiKey', label: 'API key', description: '', type: 'STRING' as never, required: true, sensitive: true },
      { name: 'tags', label: 'Tags', description: '', type: 'ARRAY' as never, required: false, sensitive: false },
    ],
  })).body.data!.function;
  assert.match(created.id!, /^dfn_/);
  assert.equal(created.catalogId, created.id);
  assert.equal(created.isLatestVersion, true);

  // A required setting missing, a wrong type: refused naming the field.
  await rejects(destinations.createDestination({ sourceId: 'web-prod', metadataId: created.catalogId!, settings: { endpoint: api.url } }), 400,
    (e) => e.field === 'settings.apiKey' && e.message === 'required');
  await rejects(destinations.createDestination({ sourceId: 'web-prod', metadataId: created.catalogId!, settings: { endpoint: api.url, apiKey: 'k', tags: 'vip' } }), 400,
    (e) => e.field === 'settings.tags');
  const dest = (await destinations.createDestination({
    sourceId: 'web-prod', metadataId: created.catalogId!, name: 'Orders API (prod)', enabled: true,
    settings: { endpoint: api.url, apiKey: 'secret-api-key-1234', tags: ['vip'] },
  })).body.data!.destination;
  assert.equal(dest.metadata.id, created.id);
  assert.equal(dest.metadata.name, 'Orders API (acme)', 'named as the integrations object names it');
  assert.notEqual(dest.settings.apiKey, 'secret-api-key-1234', 'a sensitive setting is masked');
  assert.equal(dest.settings.endpoint, api.url);

  const analytics = new Analytics({ writeKey: WRITE_KEY, host: sy.url, flushAt: 10, flushInterval: 50 });
  analytics.track({ userId: 'u1', event: 'Order Completed', messageId: 'm-order' });
  analytics.track({ userId: 'u1', event: 'Invalid', messageId: 'm-invalid' });
  analytics.track({ userId: 'u1', event: 'Flaky', messageId: 'm-flaky' });
  analytics.identify({ userId: 'u1', traits: { plan: 'pro' }, messageId: 'm-identify' });
  analytics.page({ userId: 'u1', name: 'Home', messageId: 'm-page' });
  await analytics.closeAndFlush({ timeout: 10_000 });

  await api.waitFor(3, 20_000);
  const calls = () => api.received.map((r) => JSON.parse(r.body) as Record<string, unknown>);
  assert.deepEqual(calls().filter((c) => c.name).map((c) => c.name).sort(), ['Flaky', 'Order Completed']);
  const order = api.received.find((r) => r.body.includes('m-order'))!;
  assert.equal(order.headers.authorization, 'Bearer secret-api-key-1234', 'the code got the plaintext secret setting');
  assert.deepEqual(JSON.parse(order.body), { v: 1, name: 'Order Completed', id: 'm-order', user: 'u1', tags: ['vip'] });
  assert.deepEqual(calls().find((c) => c.identify), { v: 1, identify: 'u1' });

  const stats = await waitUntil('discards counted', async () => {
    const s = await deliveryStats(sy.url, dest.id);
    return s.discarded.length >= 2 && s.delivered >= 3 ? s : undefined;
  });
  assert.equal(countOf(stats.discarded, 'ValidationError: orderId is required'), 1);
  assert.equal(stats.discarded.filter((d) => d.reason.startsWith('EventNotSupported')).length, 1, 'no onPage: the page is not supported');
  assert.equal(stats.deliveredAfterRetry, 1, 'the RetryError was retried until it succeeded');
  assert.ok(stats.attemptsFailed >= 2);
  const invalid = stats.failures.find((f) => f.reason.startsWith('ValidationError'));
  assert.equal(invalid?.sample.messageId, 'm-invalid');
  assert.deepEqual((invalid?.sample as { logs?: string[] }).logs, ['checking Invalid'], 'what the code printed is kept with the failure');

  // The Event Tester runs the function once and shows what it printed and requested.
  const tested = await fetch(`${sy.url}/api/v1/destinations/${dest.id}/test`, {
    method: 'POST', headers: { authorization: 'Bearer tok', 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'track', userId: 'u9', event: 'Tested' }),
  });
  assert.equal(tested.status, 200);
  const trial = ((await tested.json()) as { data: { outcome: string; logs?: string[]; exchanges: { request: { url: string }; response?: { status: number } }[] } }).data;
  assert.equal(trial.outcome, 'delivered');
  assert.deepEqual(trial.logs, ['checking Tested', 'sending Tested']);
  assert.deepEqual(trial.exchanges.map((x) => [x.request.url, x.response?.status]), [[api.url, 200]]);

  // Saved code does not run until it is deployed.
  await functions.updateFunction(created.id!, { code: destinationCode(2) });
  const saved = (await functions.getFunction(created.id!)).body.data!.function!;
  assert.equal(saved.isLatestVersion, false, 'the saved version is not deployed yet');
  assert.match(saved.code!, /v: 2/);
  await sleepMs(500);
  const sent = api.received.length;
  assert.equal((await postTracking(sy.url, '/v1/track', { userId: 'u2', event: 'Before Deploy', messageId: 'm-before' })).status, 200);
  await api.waitFor(sent + 1);
  assert.equal(JSON.parse(api.received.at(-1)!.body).v, 1);

  assert.equal((await functions.createFunctionDeployment(created.id!)).body.data!.functionDeployment.status, 'SUCCESS' as never);
  await waitUntil('the deployed code runs', async () => {
    const before = api.received.length;
    await postTracking(sy.url, '/v1/track', { userId: 'u2', event: 'After Deploy' });
    await api.waitFor(before + 1);
    return JSON.parse(api.received.at(-1)!.body).v === 2 || undefined;
  });

  const versions = (await functions.listFunctionVersions(created.id!, { count: 10 })).body.data!.versions;
  assert.deepEqual(versions.map((v) => [v.id, v.isDeployed]), [['2', true], ['1', false]]);
  const restored = (await functions.restoreFunctionVersion(created.id!, { versionId: '1' })).body.data!.version;
  assert.equal(restored.id, '3');
  assert.match(restored.code, /v: 1/);
  assert.equal((await functions.getFunctionVersion(created.id!, '2')).body.data!.version.isDeployed, true);

  // In use: it cannot be deleted until its destination is.
  await rejects(functions.deleteFunction(created.id!), 409, (e) => /in use by destination/.test(e.message));
  await destinations.deleteDestination(dest.id);
  assert.equal((await functions.deleteFunction(created.id!)).body.data!.status, 'SUCCESS' as never);
  await rejects(functions.getFunction(created.id!), 404, (e) => /no function/.test(e.message));
});

test('an insert function changes and drops events before the webhook destination', async () => {
  const fn = (await functions.createFunction({
    resourceType: 'INSERT_DESTINATION' as never, displayName: 'Enrich and drop',
    settings: [{ name: 'tag', label: 'Tag', description: '', type: 'STRING' as never, required: true, sensitive: false }],
    code: `
      async function onTrack(event, settings) {
        if (event.properties && event.properties.internal) throw new DropEvent('internal traffic');
        event.properties = Object.assign({}, event.properties, { enrichedBy: settings.tag });
        return event;
      }
      async function onIdentify(event) { return event; }
    `,
  })).body.data!.function;
  assert.match(fn.id!, /^ifnd_/);

  await rejects(functions.createInsertFunctionInstance({ functionId: fn.id!, integrationId: DESTINATION_ID, name: 'enrich', settings: {} }), 400,
    (e) => e.field === 'settings.tag');
  await rejects(functions.createInsertFunctionInstance({ functionId: fn.id!, integrationId: 'nope', name: 'enrich', settings: { tag: 'x' } }), 404,
    (e) => e.field === 'integrationId');
  const instance = (await functions.createInsertFunctionInstance({
    functionId: fn.id!, integrationId: DESTINATION_ID, name: 'enrich', enabled: true, settings: { tag: 'switchyard' },
  })).body.data!.insertFunctionInstance;
  assert.equal(instance.integrationId, DESTINATION_ID);
  assert.equal(instance.classId, fn.id);
  await rejects(functions.createInsertFunctionInstance({ functionId: fn.id!, integrationId: DESTINATION_ID, name: 'again', settings: { tag: 'x' } }), 409,
    (e) => /one per destination/.test(e.message));
  assert.deepEqual((await functions.listInsertFunctionInstances({ count: 10 }, fn.id!)).body.data!.instances.map((i) => i.id), [instance.id]);

  await waitUntil('the insert function is in front of the webhook', async () => {
    const before = hook.received.length;
    await postTracking(sy.url, '/v1/track', { userId: 'u', event: 'Probe' });
    await hook.waitFor(before + 1);
    return (sinkEvents(hook.received).at(-1)!.properties as Record<string, unknown>).enrichedBy === 'switchyard' || undefined;
  });
  const before = hook.received.length;
  assert.equal((await postTracking(sy.url, '/v1/track', { userId: 'u', event: 'Internal', properties: { internal: true }, messageId: 'm-internal' })).status, 200);
  assert.equal((await postTracking(sy.url, '/v1/track', { userId: 'u', event: 'Kept', properties: { a: 1 }, messageId: 'm-kept' })).status, 200);
  await hook.waitFor(before + 1);
  const stats = await waitUntil('the drop is counted as filtered', async () => {
    const s = await deliveryStats(sy.url, DESTINATION_ID);
    return countOf(s.filtered, 'Filtered at insert function') >= 1 ? s : undefined;
  });
  assert.equal(countOf(stats.filtered, 'Filtered at insert function'), 1);
  await sleepMs(300);
  const got = sinkEvents(hook.received.slice(before));
  assert.deepEqual(got.map((e) => e.messageId), ['m-kept']);
  assert.deepEqual(got[0]!.properties, { a: 1, enrichedBy: 'switchyard' });

  // Disabled: events pass unchanged again.
  await functions.updateInsertFunctionInstance(instance.id, { enabled: false, settings: { tag: 'switchyard' } });
  await waitUntil('the insert function is off', async () => {
    const n = hook.received.length;
    await postTracking(sy.url, '/v1/track', { userId: 'u', event: 'Probe' });
    await hook.waitFor(n + 1);
    return (sinkEvents(hook.received).at(-1)!.properties as Record<string, unknown> | undefined)?.enrichedBy === undefined || undefined;
  });
  assert.equal((await functions.deleteInsertFunctionInstance(instance.id)).body.data!.status, 'SUCCESS' as never);
});

test('a source function turns webhook requests into events that reach the source\'s destinations', async () => {
  const fn = (await functions.createFunction({
    resourceType: 'SOURCE' as never, displayName: 'Billing webhooks',
    settings: [{ name: 'eventPrefix', label: 'Prefix', description: '', type: 'STRING' as never, required: false, sensitive: false }],
    code: `
      async function onRequest(request, settings) {
        const body = request.json();
        console.log('got', body.type || 'no type');
        if (!body.customer) throw new ValidationError('customer is missing');
        if (request.headers.get('x-busy') === 'yes') throw new RetryError('later');
        Segment.identify({ userId: body.customer, traits: { plan: body.plan } });
        Segment.track({ userId: body.customer, event: (settings.eventPrefix || '') + body.type, properties: { amount: body.amount, via: request.url.searchParams.get('via') } });
      }
    `,
  })).body.data!.function;
  assert.match(fn.id!, /^sfn_/);
  const source = (await sources.createSource({ slug: 'billing', enabled: true, metadataId: fn.catalogId!, settings: { eventPrefix: 'Billing ' } })).body.data!.source;
  await rejects(sources.createSource({ slug: 'billing2', enabled: true, metadataId: fn.catalogId!, settings: { eventPrefix: 3 } }), 400, (e) => e.field === 'settings.eventPrefix');

  const sink = await startSink('/billing');
  try {
    await destinations.createDestination({ sourceId: source.id, metadataId: 'webhook', settings: { urls: [sink.url] } });
    const token = Buffer.from(source.writeKeys[0]!).toString('base64url');
    const post = (body: unknown, headers: Record<string, string> = {}, b = token) => fetch(`${sy.url}/fn?b=${b}&via=stripe`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
    });
    await sleepMs(500); // the router picks up the new destination
    const ok = await post({ customer: 'cus_1', plan: 'pro', type: 'Invoice Paid', amount: 42 });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.deepEqual(await ok.json(), { success: true, events: 2 });
    await sink.waitFor(2);
    const events = sinkEvents(sink.received);
    const track = events.find((e) => e.type === 'track')!;
    assert.equal(track.event, 'Billing Invoice Paid');
    assert.deepEqual(track.properties, { amount: 42, via: 'stripe' });
    assert.ok(track.messageId && track.receivedAt, 'enriched like any Tracking API event');
    assert.equal(events.find((e) => e.type === 'identify')!.userId, 'cus_1');

    const bad = await post({ plan: 'pro' });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /ValidationError: customer is missing/);
    const busy = await post({ customer: 'c' }, { 'x-busy': 'yes' });
    assert.equal(busy.status, 503);
    assert.equal(busy.headers.get('retry-after'), '60');
    assert.equal((await post({ customer: 'c' }, {}, 'bm9wZQ')).status, 401, 'an unknown token');

    // The Errors tab: the failed requests, newest first, with the logs and the request (its token left out).
    const res = await fetch(`${sy.url}/api/v1/functions/${fn.id}/errors`, { headers: { authorization: 'Bearer tok' } });
    assert.equal(res.status, 200);
    const errors = ((await res.json()) as { data: { errors: { kind: string; error: string; logs: string[]; sourceId: string; request: { url: string; body: string; headers: Record<string, string> } }[] } }).data.errors;
    assert.deepEqual(errors.map((e) => [e.kind, e.error]), [['RetryError', 'RetryError: later'], ['ValidationError', 'ValidationError: customer is missing']]);
    assert.deepEqual(errors[1]!.logs, ['got no type']);
    assert.equal(errors[1]!.sourceId, source.id);
    assert.equal(errors[1]!.request.body, JSON.stringify({ plan: 'pro' }));
    assert.doesNotMatch(errors[1]!.request.url, /[?&]b=/, 'the token (a write key) is not kept');
    assert.match(errors[1]!.request.url, /via=stripe/);
  } finally {
    await sink.close();
  }
});

test('bad functions are refused naming the field; roles without functions access are refused', async () => {
  await rejects(functions.createFunction({ code: 'async function onTrack( {', displayName: 'Broken', resourceType: 'DESTINATION' as never }), 400,
    (e) => e.field === 'code' && /line 1/i.test(e.message));
  await rejects(functions.createFunction({ code: 'const x = 1;', displayName: 'No handlers', resourceType: 'DESTINATION' as never }), 400,
    (e) => e.field === 'code' && /onTrack/.test(e.message));
  await rejects(functions.createFunction({ code: 'async function onTrack() {}', displayName: 'Source without onRequest', resourceType: 'SOURCE' as never }), 400,
    (e) => e.field === 'code' && /onRequest/.test(e.message));
  await rejects(functions.createFunction({ code: 'async function onTrack() {}', displayName: 'x', resourceType: 'EDGE' as never }), 400,
    (e) => e.field === 'resourceType');
  await rejects(functions.createFunction({ code: 'async function onTrack() {}', displayName: 'x'.repeat(121), resourceType: 'DESTINATION' as never }), 400,
    (e) => e.field === 'displayName');
  await rejects(functions.createFunction({
    code: 'async function onTrack() {}', displayName: 'dup', resourceType: 'DESTINATION' as never,
    settings: [{ name: 'a', label: 'A', description: '', type: 'STRING' as never, required: false, sensitive: false }, { name: 'a', label: 'A', description: '', type: 'STRING' as never, required: false, sensitive: false }],
  }), 400, (e) => e.field === 'settings.1.name');
  await rejects(functions.listFunctions({ count: 10 }, 'NOPE' as never), 400, (e) => e.field === 'resourceType');

  // A Source Admin can connect instances but not edit functions.
  const res = await fetch(`${sy.url}/tokens`, {
    method: 'POST', headers: { authorization: 'Bearer tok', 'content-type': 'application/json' },
    body: JSON.stringify({ description: 'source admin', permissions: [{ roleId: 'source-admin', resources: [{ type: 'WORKSPACE', id: 'acme' }] }] }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  const token = ((await res.json()) as { data: { token: string } }).data.token;
  const asAdmin = client(FunctionsApi, sy.url, token);
  await rejects(asAdmin.createFunction({ code: 'async function onTrack() {}', displayName: 'x', resourceType: 'DESTINATION' as never }), 403,
    (e) => /Functions Admin/.test(e.message));
  await rejects(asAdmin.listFunctions({ count: 10 }, 'DESTINATION' as never), 403, (e) => /functions/.test(e.message));
});

const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Delivery figures of a destination (the console's endpoint), as the admin token. */
async function deliveryStats(baseUrl: string, destinationId: string): Promise<DeliveryStats> {
  const res = await fetch(`${baseUrl}/api/v1/destinations/${destinationId}/delivery?range=1h`, { headers: { authorization: 'Bearer tok' } });
  assert.equal(res.status, 200);
  return ((await res.json()) as { data: DeliveryStats }).data;
}
