/**
 * End to end with Segment's own server library: @segment/analytics-node sends to
 * a real Switchyard process, and a local HTTP sink plays the webhook receiver.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { Analytics } from '@segment/analytics-node';
import { Harness } from './helpers/harness.js';
import type { Sink } from './helpers/sink.js';
import { workspaceYaml, type SwitchyardProcess } from './helpers/switchyard.js';
import {
  countOf,
  deliveryStats,
  ingestStats,
  messageIdCounts,
  postTracking,
  sleep,
  waitUntil,
  WRITE_KEY,
} from './helpers/e2e.js';

let sink: Sink;
let sy: SwitchyardProcess;

const h = new Harness();

before(async () => {
  sink = await h.sink();
  sy = await h.start({ workspace: workspaceYaml([sink.url]) });
});

after(() => h.cleanup());

/** Events accepted so far in this file: the stats endpoints flush every second, so deltas start from a known total. */
let accepted = 0;
const settledIngest = () =>
  waitUntil(`the ingest endpoint to count ${accepted} events`, async () => {
    const s = await ingestStats(sy.url);
    return s.received === accepted ? s : undefined;
  }, { describe: () => ingestStats(sy.url) });

type Sent = Record<string, unknown> & { messageId: string; type: string };

/** Sends through analytics-node and returns the events exactly as the SDK put them on the wire. */
async function sendWithSdk(send: (a: Analytics) => void, flushAt = 100): Promise<Sent[]> {
  const analytics = new Analytics({ writeKey: WRITE_KEY, host: sy.url, flushAt, flushInterval: 50 });
  const sent: Sent[] = [];
  const statuses: number[] = [];
  analytics.on('http_request', (r) => sent.push(...(JSON.parse(r.body) as { batch: Sent[] }).batch));
  analytics.on('http_response', (r) => statuses.push(r.status));
  send(analytics);
  await analytics.closeAndFlush({ timeout: 30_000 });
  assert.ok(statuses.length > 0, 'the SDK made no request');
  assert.deepEqual([...new Set(statuses)], [200], 'every SDK request was answered 200');
  return sent;
}

const byMessageId = (s: Sink) => new Map(s.received.map((r) => [(JSON.parse(r.body) as { messageId: string }).messageId, r]));

test('every call type and 2,000 tracks from analytics-node reach the webhook once, signed, with Segment fields', async () => {
  const sent = await sendWithSdk((a) => {
    a.identify({ userId: 'user-1', traits: { email: 'ada@example.com', plan: 'pro' } });
    a.track({ userId: 'user-1', event: 'Order Completed', properties: { orderId: 'o-1', total: 42.5, items: [{ sku: 'A' }] } });
    a.page({ userId: 'user-1', category: 'Docs', name: 'Pricing', properties: { url: 'https://example.com/pricing' } });
    a.screen({ userId: 'user-1', name: 'Home', properties: { variant: 'b' } });
    a.group({ userId: 'user-1', groupId: 'acme-inc', traits: { employees: 12 } });
    a.alias({ userId: 'user-1', previousId: 'anon-123' });
    for (let i = 0; i < 2000; i++) a.track({ anonymousId: `anon-${i}`, event: 'Product Viewed', properties: { i } });
  });
  assert.equal(sent.length, 2006, 'the SDK sent every call');
  await sink.waitFor(2006, 30_000);
  await sleep(500); // a duplicate delivery would show up here
  const counts = messageIdCounts(sink.received);
  assert.equal(sink.received.length, 2006, 'no event was delivered twice');
  for (const s of sent) assert.equal(counts.get(s.messageId), 1, `messageId ${s.messageId} delivered exactly once`);

  const got = byMessageId(sink);
  const [identify, track, page, screen, group, alias] = sent.slice(0, 6).map((s) => JSON.parse(got.get(s.messageId)!.body) as Record<string, any>);
  assert.equal(identify!.type, 'identify');
  assert.deepEqual(identify!.traits, { email: 'ada@example.com', plan: 'pro' });
  assert.equal(track!.type, 'track');
  assert.equal(track!.event, 'Order Completed');
  assert.deepEqual(track!.properties, { orderId: 'o-1', total: 42.5, items: [{ sku: 'A' }] });
  assert.equal(page!.type, 'page');
  assert.equal(page!.name, 'Pricing');
  assert.equal(page!.category, 'Docs');
  assert.equal(page!.properties.url, 'https://example.com/pricing');
  assert.equal(screen!.type, 'screen');
  assert.equal(screen!.name, 'Home');
  assert.equal(screen!.properties.variant, 'b');
  assert.equal(group!.type, 'group');
  assert.equal(group!.groupId, 'acme-inc');
  assert.deepEqual(group!.traits, { employees: 12 });
  assert.equal(alias!.type, 'alias');
  assert.equal(alias!.previousId, 'anon-123');

  for (const [i, s] of sent.entries()) {
    const req = got.get(s.messageId)!;
    const e = JSON.parse(req.body) as Record<string, any>;
    const what = `event ${i} (${s.type})`;
    assert.equal(e.messageId, s.messageId, `${what}: messageId as sent by the SDK`);
    assert.equal(e.type, s.type, what);
    if (s.userId !== undefined) assert.equal(e.userId, s.userId, what);
    if (s.anonymousId !== undefined) assert.equal(e.anonymousId, s.anonymousId, what);
    assert.equal(e.channel, 'server', `${what}: channel`);
    assert.equal(e.context.ip, '127.0.0.1', `${what}: context.ip from the connection`);
    assert.equal(e.context.library.name, '@segment/analytics-node', `${what}: context.library`);
    assert.equal(typeof e.context.library.version, 'string');
    assert.ok(!('writeKey' in e), `${what}: writeKey must not be forwarded`);
    assert.match(e.receivedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `${what}: receivedAt`);
    assert.ok(!Number.isNaN(Date.parse(e.timestamp)), `${what}: timestamp`);
    assert.ok(Math.abs(Date.parse(e.receivedAt) - Date.now()) < 120_000, `${what}: receivedAt is the server's clock`);
    if (s.type === 'track' && i >= 6) assert.deepEqual(e.properties, { i: i - 6 }, what);

    assert.equal(req.method, 'POST');
    assert.equal(req.headers['content-type'], 'application/json', `${what}: Content-Type`);
    assert.equal(req.headers['x-token'], 'abc', `${what}: configured header`);
    const expected = createHmac('sha1', 's3cret').update(req.body).digest('hex');
    assert.equal(req.headers['x-signature'], expected, `${what}: X-Signature is HMAC-SHA1(sharedSecret, body)`);
  }

  const stats = await waitUntil('the delivery endpoint to count 2,006 deliveries and no backlog', async () => {
    const s = await deliveryStats(sy.url);
    return s.delivered === 2006 && s.backlog === 0 ? s : undefined;
  }, { describe: () => deliveryStats(sy.url) });
  assert.equal(stats.destination.name, 'Orders webhook');
  assert.equal(stats.deliveredFirstAttempt, 2006);
  assert.equal(stats.deliveredAfterRetry, 0);
  assert.deepEqual(stats.discarded, []);
  assert.deepEqual(stats.failed, []);
  assert.deepEqual(stats.filtered, []);
  assert.equal(stats.retrying, 0);
  assert.ok(stats.latencyMs.p50 !== null && stats.latencyMs.p99 !== null && stats.latencyMs.p50 <= stats.latencyMs.p99, 'latency percentiles');
  const ingest = await waitUntil('the ingest endpoint to count 2,006 events', async () => {
    const s = await ingestStats(sy.url);
    return s.received === 2006 ? s : undefined;
  }, { describe: () => ingestStats(sy.url) });
  assert.equal(ingest.duplicates, 0);
  assert.deepEqual(ingest.failedOnIngest, []);
  accepted += 2006;
});

test('the integrations object turns the webhook off and on per event', async () => {
  const before = sink.received.length;
  const statsBefore = await deliveryStats(sy.url);
  const cases = [
    { label: 'All false', integrations: { All: false }, delivered: false },
    { label: 'instance name false', integrations: { 'Orders webhook': false }, delivered: false },
    { label: 'destination name false', integrations: { Webhooks: false }, delivered: false },
    { label: 'All false, Webhooks true', integrations: { All: false, Webhooks: true }, delivered: true },
    { label: 'All false, instance name true', integrations: { All: false, 'Orders webhook': true }, delivered: true },
    { label: 'no integrations', integrations: undefined, delivered: true },
  ];
  const sent = await sendWithSdk((a) => {
    for (const c of cases) a.track({ userId: 'user-2', event: `Integrations: ${c.label}`, integrations: c.integrations });
  });
  assert.equal(sent.length, cases.length);

  // Wait until the router has decided about all six: three filtered, three delivered.
  const stats = await waitUntil('three filtered and three delivered', async () => {
    const s = await deliveryStats(sy.url);
    const filtered = s.filtered.reduce((n, r) => n + r.count, 0) - statsBefore.filtered.reduce((n, r) => n + r.count, 0);
    return filtered === 3 && s.delivered - statsBefore.delivered === 3 ? s : undefined;
  }, { describe: () => deliveryStats(sy.url) });
  assert.equal(countOf(stats.filtered, 'integrations_all_false'), 1, 'All:false is counted under filtered with its reason');
  assert.equal(countOf(stats.filtered, 'integrations_disabled'), 2, 'a destination named false is counted under filtered');
  await sleep(300);

  const events = sink.received.slice(before).map((r) => (JSON.parse(r.body) as { event: string }).event);
  for (const c of cases) {
    const n = events.filter((e) => e === `Integrations: ${c.label}`).length;
    assert.equal(n, c.delivered ? 1 : 0, `${c.label}: ${c.delivered ? 'delivered once' : 'not delivered'}`);
  }
  const on = JSON.parse(sink.received.slice(before).find((r) => r.body.includes('All false, Webhooks true'))!.body) as { integrations: unknown };
  assert.deepEqual(on.integrations, { All: false, Webhooks: true }, 'the integrations object travels with the event');
  accepted += cases.length;
});

test('a repeated messageId is acknowledged twice and delivered once', async () => {
  const ingestBefore = await settledIngest();
  const messageId = `dup-${randomUUID()}`;
  const event = { userId: 'user-3', event: 'Checkout Started', messageId, properties: { n: 1 } };
  const first = await postTracking(sy.url, '/v1/track', event);
  const second = await postTracking(sy.url, '/v1/track', { ...event, properties: { n: 2 } });
  assert.equal(first.status, 200);
  assert.deepEqual(first.body, { success: true });
  assert.equal(second.status, 200, 'a duplicate is still acknowledged (clients must not retry it)');
  assert.deepEqual(second.body, { success: true });
  // A marker sent afterwards: once it and the original arrived, a second copy would have too.
  const marker = `marker-${randomUUID()}`;
  assert.equal((await postTracking(sy.url, '/v1/track', { userId: 'user-3', event: 'Marker', messageId: marker })).status, 200);
  await waitUntil('the original and the marker at the sink', () => {
    const c = messageIdCounts(sink.received);
    return c.has(messageId) && c.has(marker);
  });
  await sleep(500);
  const copies = sink.received.filter((r) => r.body.includes(messageId));
  assert.equal(copies.length, 1, 'delivered once');
  assert.deepEqual((JSON.parse(copies[0]!.body) as { properties: unknown }).properties, { n: 1 }, 'the first copy wins');
  await waitUntil('the duplicate to be counted on the source', async () => {
    const s = await ingestStats(sy.url);
    return s.duplicates - ingestBefore.duplicates === 1 ? s : undefined;
  }, { describe: () => ingestStats(sy.url) });

  // The same messageId twice inside one batch, and once more in a later batch.
  const inBatch = `dup-batch-${randomUUID()}`;
  const copy = { type: 'track', userId: 'user-3', event: 'Batch Dup', messageId: inBatch };
  assert.equal((await postTracking(sy.url, '/v1/batch', { batch: [copy, copy] })).status, 200);
  assert.equal((await postTracking(sy.url, '/v1/batch', { batch: [copy] })).status, 200);
  const marker2 = `marker-${randomUUID()}`;
  assert.equal((await postTracking(sy.url, '/v1/track', { userId: 'user-3', event: 'Marker', messageId: marker2 })).status, 200);
  await waitUntil('the batch copy and the marker at the sink', () => {
    const c = messageIdCounts(sink.received);
    return c.has(inBatch) && c.has(marker2);
  });
  await sleep(500);
  assert.equal(messageIdCounts(sink.received).get(inBatch), 1, 'three copies in two batches: delivered once');
});

test('a gzip-encoded /v1/batch is accepted and every event in it delivered', async () => {
  const ids = [randomUUID(), randomUUID(), randomUUID()];
  const body = {
    batch: [
      { type: 'track', userId: 'user-4', event: 'Gzip One', messageId: ids[0], properties: { text: 'é😀'.repeat(50) } },
      { type: 'identify', userId: 'user-4', messageId: ids[1], traits: { name: 'Zip' } },
      { type: 'page', userId: 'user-4', name: 'Gz', messageId: ids[2] },
    ],
    sentAt: new Date().toISOString(),
  };
  const res = await postTracking(sy.url, '/v1/batch', gzipSync(JSON.stringify(body)), { headers: { 'content-encoding': 'gzip' } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(res.body, { success: true });
  await waitUntil('the three gzip events at the sink', () => ids.every((id) => messageIdCounts(sink.received).has(id)));
  const got = byMessageId(sink);
  const track = JSON.parse(got.get(ids[0]!)!.body) as Record<string, any>;
  assert.equal(track.event, 'Gzip One');
  assert.equal(track.properties.text, 'é😀'.repeat(50), 'multi-byte text survives gzip and delivery');
  assert.equal(track.channel, 'server');
  assert.deepEqual((JSON.parse(got.get(ids[1]!)!.body) as { traits: unknown }).traits, { name: 'Zip' });
  assert.equal((JSON.parse(got.get(ids[2]!)!.body) as { name: string }).name, 'Gz');
});
