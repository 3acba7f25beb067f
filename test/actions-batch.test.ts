/**
 * `deliverBatch` of Actions destinations: actions with `performBatch` and batching
 * on in their mapping send several events in one request, and each event gets its
 * own outcome from the destination's multistatus answer.
 */
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { destinationTypes } from '../src/destinations/registry.js';
import type { ActionsDestinationType } from '../src/destinations/actions/index.js';
import type { DeliveryOutcome } from '../src/core/result.js';
import type { SegmentMessage } from '../src/protocol/types.js';
import { startFakeApis, type FakeApis } from './helpers/fake-apis.js';

let fake: FakeApis;
before(async () => {
  fake = await startFakeApis();
});
after(() => fake.close());
beforeEach(() => fake.reset());

const braze = destinationTypes.get('actions-braze-cloud') as unknown as ActionsDestinationType;
const webhook = destinationTypes.get('actions-webhook') as unknown as ActionsDestinationType;
const brazeSettings = braze.settingsSchema.parse({ settings: { api_key: 'braze-key' } });

const ev = (i: number, extra: Partial<SegmentMessage> = {}): SegmentMessage => ({
  type: 'track', event: 'Song Played', messageId: `m${i}`, userId: `u${i}`, properties: { i },
  timestamp: '2026-03-01T12:00:00.000Z', receivedAt: '2026-03-01T12:00:01.000Z', ...extra,
});
const summary = (outs: DeliveryOutcome[]) => outs.map((o) => [o.kind, 'reason' in o ? o.reason : null, 'retryAfterMs' in o ? (o.retryAfterMs ?? null) : null]);

test('Braze presets batch: one /users/track request for the batch; an invalid event and an unsubscribed one get their own outcomes', async () => {
  const { event: _e, ...noName } = ev(3);
  const outs = await braze.deliverBatch({ settings: brazeSettings, messages: [ev(1), ev(2), noName as SegmentMessage, ev(4, { type: 'alias', event: undefined })], request: fake.request });
  assert.deepEqual(summary(outs), [
    ['delivered', null, null],
    ['delivered', null, null],
    ['discard', "payload validation failed: The root value is missing the required field 'name'.", null],
    ['skip', 'no_matching_subscription', null],
  ]);
  assert.equal(fake.received.length, 1);
  const r = fake.received[0]!;
  assert.deepEqual({ url: r.url, auth: r.headers.authorization, body: JSON.parse(r.body) as unknown }, {
    url: 'https://rest.iad-01.braze.com/users/track',
    auth: 'Bearer braze-key',
    body: { events: [1, 2].map((i) => ({ external_id: `u${i}`, name: 'Song Played', time: '2026-03-01T12:00:01.000Z', properties: { i }, _update_existing_only: false })) },
  });
});

test('per-event errors from the destination are recorded per event; a 429 for the batch retries every event after Retry-After', async () => {
  fake.respond(() => ({
    status: 201,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: 'success', events_processed: 1, errors: [{ type: "'external_id' or 'braze_id' or 'user_alias' is required", input_array: 'events', index: 1 }] }),
  }));
  assert.deepEqual(summary(await braze.deliverBatch({ settings: brazeSettings, messages: [ev(1), ev(2)], request: fake.request })), [
    ['delivered', null, null],
    ['discard', 'HTTP 400', null],
  ]);
  fake.reset();
  fake.respond(() => ({ status: 429, headers: { 'retry-after': '7' }, body: '{}' }));
  assert.deepEqual(summary(await braze.deliverBatch({ settings: brazeSettings, messages: [ev(1), ev(2), ev(3)], request: fake.request })), [
    ['retry', 'HTTP 429', 7000],
    ['retry', 'HTTP 429', 7000],
    ['retry', 'HTTP 429', 7000],
  ]);
  assert.equal(fake.received.length, 1);
});

test('batch_size splits a batch into several requests; actions without batching send one request per event', async () => {
  const small = braze.settingsSchema.parse({ settings: { api_key: 'braze-key' }, subscriptions: [{ partnerAction: 'trackEvent', subscribe: 'type = "track"', mapping: { batch_size: 2 } }] });
  const outs = await braze.deliverBatch({ settings: small, messages: [1, 2, 3, 4, 5].map((i) => ev(i)), request: fake.request });
  assert.deepEqual(outs.map((o) => o.kind), ['delivered', 'delivered', 'delivered', 'delivered', 'delivered']);
  assert.deepEqual(fake.received.map((r) => (JSON.parse(r.body) as { events: unknown[] }).events.length).sort(), [1, 2, 2]);

  fake.reset();
  const hook = webhook.settingsSchema.parse({ subscriptions: [{ partnerAction: 'send', subscribe: 'type = "track"', mapping: { url: 'https://hooks.example.com/in' } }] });
  const sent = await webhook.deliverBatch({ settings: hook, messages: [ev(1), ev(2)], request: fake.request });
  assert.deepEqual(sent.map((o) => o.kind), ['delivered', 'delivered']);
  assert.deepEqual(fake.received.map((r) => (JSON.parse(r.body) as { messageId: string }).messageId).sort(), ['m1', 'm2']);
});
