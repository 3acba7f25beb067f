import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateBatchBody, validateMessage } from '../src/protocol/validate.js';
import { enrichMessage, toIsoString, type EnrichContext } from '../src/protocol/normalize.js';
import { MAX_EVENT_BYTES, MAX_PROPERTIES, MAX_REQUEST_BYTES } from '../src/protocol/limits.js';
import type { FieldError, JsonObject, Result, SegmentMessage } from '../src/protocol/types.js';

function ok(result: Result<SegmentMessage, FieldError>): SegmentMessage {
  if (!result.ok) assert.fail(`expected ok, got ${result.error.field}: ${result.error.message}`);
  return result.value;
}

function err<T>(result: Result<T, FieldError>, field: string, substring: string): void {
  assert.equal(result.ok, false, 'expected a validation error');
  if (result.ok) return;
  assert.equal(result.error.field, field);
  assert.ok(result.error.message.includes(substring), `"${result.error.message}" should mention ${substring}`);
}

test('limits match Segment: 32KB per event, 500KB per request, 10k properties', () => {
  assert.equal(MAX_EVENT_BYTES, 32768);
  assert.equal(MAX_REQUEST_BYTES, 512000);
  assert.equal(MAX_PROPERTIES, 10000);
});

test('a valid track call is accepted as a shallow copy', () => {
  const properties = { plan: 'pro' };
  const raw = { type: 'track', event: 'Signed Up', userId: 'u1', properties };
  const msg = ok(validateMessage(raw, 'body'));
  assert.equal(msg.type, 'track');
  assert.equal(msg.event, 'Signed Up');
  assert.notEqual(msg, raw);
  assert.equal(msg.properties, properties, 'nested objects are shared, not cloned');
});

test('the message must be an object', () => {
  err(validateMessage([], 'batch[0]'), 'batch[0]', 'JSON object');
  err(validateMessage(null, 'batch[1]'), 'batch[1]', 'JSON object');
  err(validateMessage('track', 'body'), 'body', 'JSON object');
});

test('type must be one of the six Segment types, and the error lists them', () => {
  err(validateMessage({ userId: 'u' }, 'batch[0]'), 'batch[0].type', 'identify, track, page, screen, group, alias');
  err(validateMessage({ type: 'purchase', userId: 'u' }, 'batch[4]'), 'batch[4].type', '"purchase"');
});

test('a forced type (single-call endpoint) overrides the body', () => {
  const msg = ok(validateMessage({ type: 'identify', event: 'Clicked', anonymousId: 'a' }, 'body', 'track'));
  assert.equal(msg.type, 'track');
  err(validateMessage({ type: 'track', anonymousId: 'a' }, 'body', 'group'), 'body.groupId', 'groupId');
});

test('userId or anonymousId is required and non-empty', () => {
  err(validateMessage({ type: 'identify' }, 'batch[2]'), 'batch[2].userId', '"userId" or "anonymousId"');
  err(validateMessage({ type: 'identify', userId: '', anonymousId: null }, 'body'), 'body.userId', 'anonymousId');
  err(validateMessage({ type: 'identify', userId: { id: 1 } }, 'body'), 'body.userId', 'string or a number');
  err(validateMessage({ type: 'identify', anonymousId: true }, 'body'), 'body.anonymousId', 'string or a number');
  ok(validateMessage({ type: 'identify', userId: null, anonymousId: 'anon' }, 'body'));
});

test('numeric ids are accepted and stored as strings', () => {
  const msg = ok(validateMessage({ type: 'identify', userId: 42, anonymousId: 7 }, 'body'));
  assert.equal(msg.userId, '42');
  assert.equal(msg.anonymousId, '7');
  const group = ok(validateMessage({ type: 'group', userId: 'u', groupId: 1001 }, 'body'));
  assert.equal(group.groupId, '1001');
  const raw = { type: 'alias', userId: 5, previousId: 4 };
  const alias = ok(validateMessage(raw, 'body'));
  assert.deepEqual([alias.userId, alias.previousId], ['5', '4']);
  assert.equal(raw.userId, 5, 'the input is not mutated');
});

test('track requires a non-empty event', () => {
  err(validateMessage({ type: 'track', userId: 'u' }, 'batch[2]'), 'batch[2].event', 'track calls require a non-empty "event" string');
  err(validateMessage({ type: 'track', userId: 'u', event: '' }, 'body'), 'body.event', 'non-empty');
  err(validateMessage({ type: 'track', userId: 'u', event: 3 }, 'body'), 'body.event', 'non-empty');
});

test('page and screen name is optional but must be a string', () => {
  ok(validateMessage({ type: 'page', userId: 'u' }, 'body'));
  ok(validateMessage({ type: 'screen', userId: 'u', name: 'Home' }, 'body'));
  const page = ok(validateMessage({ type: 'page', userId: 'u', name: null }, 'body'));
  assert.equal('name' in page, false, 'null name (analytics-python) counts as absent');
  err(validateMessage({ type: 'page', userId: 'u', name: 5 }, 'batch[0]'), 'batch[0].name', 'string');
  err(validateMessage({ type: 'screen', userId: 'u', name: {} }, 'body'), 'body.name', 'string');
});

test('group requires groupId; alias requires previousId and userId', () => {
  err(validateMessage({ type: 'group', userId: 'u' }, 'body'), 'body.groupId', 'group calls require');
  err(validateMessage({ type: 'group', userId: 'u', groupId: '' }, 'body'), 'body.groupId', 'non-empty');
  err(validateMessage({ type: 'alias', userId: 'u' }, 'body'), 'body.previousId', 'alias calls require');
  err(validateMessage({ type: 'alias', anonymousId: 'a', previousId: 'p' }, 'body'), 'body.userId', 'alias calls require');
});

test('properties, traits, context and integrations must be objects', () => {
  for (const key of ['properties', 'traits', 'context', 'integrations']) {
    err(validateMessage({ type: 'identify', userId: 'u', [key]: [] }, 'batch[1]'), `batch[1].${key}`, 'JSON object');
    err(validateMessage({ type: 'identify', userId: 'u', [key]: null }, 'body'), `body.${key}`, 'null');
    err(validateMessage({ type: 'identify', userId: 'u', [key]: 'x' }, 'body'), `body.${key}`, 'string');
  }
});

test('timestamps must be parseable dates', () => {
  ok(validateMessage({ type: 'identify', userId: 'u', timestamp: '2024-05-01T10:00:00.000Z', sentAt: '2024-05-01T10:00:01+02:00' }, 'body'));
  ok(validateMessage({ type: 'identify', userId: 'u', timestamp: 'Wed, 01 May 2024 10:00:00 GMT' }, 'body'));
  for (const key of ['timestamp', 'sentAt', 'originalTimestamp']) {
    err(validateMessage({ type: 'identify', userId: 'u', [key]: 'yesterday' }, 'batch[9]'), `batch[9].${key}`, 'ISO 8601');
    err(validateMessage({ type: 'identify', userId: 'u', [key]: 1714557600000 }, 'body'), `body.${key}`, 'ISO 8601');
  }
});

test('messageId must be a string when present', () => {
  err(validateMessage({ type: 'identify', userId: 'u', messageId: 12 }, 'body'), 'body.messageId', 'string');
  assert.equal(ok(validateMessage({ type: 'identify', userId: 'u', messageId: 'm-1' }, 'body')).messageId, 'm-1');
});

test('batch body: needs a batch array; context, integrations and sentAt are picked up', () => {
  err(validateBatchBody('x'), 'body', 'JSON object');
  err(validateBatchBody({}), 'batch', '"batch" array');
  err(validateBatchBody({ batch: {} }), 'batch', '"batch" array');
  err(validateBatchBody({ batch: [], context: [] }), 'context', 'JSON object');
  err(validateBatchBody({ batch: [], integrations: 1 }), 'integrations', 'JSON object');
  err(validateBatchBody({ batch: [], sentAt: 'soon' }), 'sentAt', 'ISO 8601');
  const body = { batch: [{}], context: { library: { name: 'x' } }, integrations: { All: false }, sentAt: '2024-05-01T10:00:00Z' };
  const result = validateBatchBody(body);
  assert.ok(result.ok);
  assert.deepEqual(result.value, body);
});

// --- enrichment -------------------------------------------------------------

const RECEIVED = Date.parse('2024-05-01T12:00:00.000Z');

function enrichCtx(over: Partial<EnrichContext> = {}): EnrichContext {
  let n = 0;
  return { receivedAt: RECEIVED, channel: 'server', maxProperties: MAX_PROPERTIES, newMessageId: () => `gen-${++n}`, ...over };
}

function message(fields: JsonObject): SegmentMessage {
  return ok(validateMessage({ userId: 'u1', ...fields }, 'body'));
}

test('clock skew: timestamp = receivedAt - (sentAt - originalTimestamp)', () => {
  // The device clock is 1 hour behind; the event happened 5 s before sending.
  const msg = message({ type: 'track', event: 'E', timestamp: '2024-05-01T10:59:55.000Z', sentAt: '2024-05-01T11:00:00.000Z' });
  const out = enrichMessage(msg, enrichCtx()).message;
  assert.equal(out.receivedAt, '2024-05-01T12:00:00.000Z');
  assert.equal(out.originalTimestamp, '2024-05-01T10:59:55.000Z');
  assert.equal(out.sentAt, '2024-05-01T11:00:00.000Z');
  assert.equal(out.timestamp, '2024-05-01T11:59:55.000Z');
});

test('clock skew uses the batch sentAt when the message has none; offsets become UTC', () => {
  const msg = message({ type: 'track', event: 'E', timestamp: '2024-05-01T13:00:00+02:00' });
  const out = enrichMessage(msg, enrichCtx({ sentAt: '2024-05-01T11:00:10.000Z' })).message;
  assert.equal(out.originalTimestamp, '2024-05-01T11:00:00.000Z');
  assert.equal(out.sentAt, '2024-05-01T11:00:10.000Z');
  assert.equal(out.timestamp, '2024-05-01T11:59:50.000Z');
});

test('without sentAt the client timestamp is kept; without timestamp receivedAt is used', () => {
  const onlyTs = enrichMessage(message({ type: 'identify', timestamp: '2020-01-01T00:00:00Z' }), enrichCtx()).message;
  assert.equal(onlyTs.timestamp, '2020-01-01T00:00:00.000Z');
  assert.equal(onlyTs.originalTimestamp, '2020-01-01T00:00:00.000Z');
  const none = enrichMessage(message({ type: 'identify', sentAt: '2024-05-01T11:00:00Z' }), enrichCtx()).message;
  assert.equal(none.timestamp, '2024-05-01T12:00:00.000Z');
  assert.equal(none.originalTimestamp, undefined);
});

test('messageId is generated only when missing', () => {
  const ctx = enrichCtx();
  assert.equal(enrichMessage(message({ type: 'identify' }), ctx).message.messageId, 'gen-1');
  assert.equal(enrichMessage(message({ type: 'identify', messageId: 'mine' }), ctx).message.messageId, 'mine');
  assert.equal(enrichMessage(message({ type: 'identify', messageId: '' }), ctx).message.messageId, 'gen-2');
});

test('batch context and integrations merge under the message own (message wins)', () => {
  const batchContext = { library: { name: 'analytics-node' }, locale: 'en-US' };
  const batchIntegrations = { All: true, Mixpanel: false };
  const ctx = enrichCtx({ batchContext, batchIntegrations, ip: '203.0.113.9' });
  const out = enrichMessage(message({ type: 'identify', context: { locale: 'fr-FR' }, integrations: { Mixpanel: true } }), ctx).message;
  assert.deepEqual(out.context, { library: { name: 'analytics-node' }, locale: 'fr-FR', ip: '203.0.113.9' });
  assert.deepEqual(out.integrations, { All: true, Mixpanel: true });
  const plain = enrichMessage(message({ type: 'identify' }), ctx).message;
  assert.deepEqual(plain.context, { library: { name: 'analytics-node' }, locale: 'en-US', ip: '203.0.113.9' });
  assert.deepEqual(batchContext, { library: { name: 'analytics-node' }, locale: 'en-US' }, 'batch context untouched');
  assert.notEqual(plain.context, batchContext);
});

test('context.ip comes from the request unless the library set one', () => {
  const ownContext = { ip: '198.51.100.1' };
  const kept = enrichMessage(message({ type: 'identify', context: ownContext }), enrichCtx({ ip: '203.0.113.9' })).message;
  assert.equal(kept.context?.ip, '198.51.100.1');
  const clientContext = { userAgent: 'UA' };
  const filled = enrichMessage(message({ type: 'identify', context: clientContext }), enrichCtx({ ip: '203.0.113.9' })).message;
  assert.deepEqual(filled.context, { userAgent: 'UA', ip: '203.0.113.9' });
  assert.deepEqual(clientContext, { userAgent: 'UA' }, 'the client context object is not written to');
  const created = enrichMessage(message({ type: 'identify' }), enrichCtx({ ip: '203.0.113.9' })).message;
  assert.deepEqual(created.context, { ip: '203.0.113.9' });
});

test('channel is set by the endpoint and writeKey is stripped', () => {
  const msg = message({ type: 'page', channel: 'server', writeKey: 'wk_secret' });
  const out = enrichMessage(msg, enrichCtx({ channel: 'client' })).message;
  assert.equal(out.channel, 'client');
  assert.equal('writeKey' in out, false);
  assert.equal(msg.writeKey, 'wk_secret', 'the input message is not mutated');
  assert.equal(JSON.stringify(out).includes('wk_secret'), false);
});

test('properties and traits beyond the limit are dropped (first N kept) and counted', () => {
  const properties = { a: 1, b: 2, c: 3, d: 4 };
  const traits = { x: 1, y: 2, z: 3 };
  const msg = message({ type: 'identify', properties, traits });
  const { message: out, droppedProperties } = enrichMessage(msg, enrichCtx({ maxProperties: 2 }));
  assert.deepEqual(out.properties, { a: 1, b: 2 });
  assert.deepEqual(out.traits, { x: 1, y: 2 });
  assert.equal(droppedProperties, 3);
  assert.deepEqual(properties, { a: 1, b: 2, c: 3, d: 4 }, 'input untouched');
  // enrichMessage owns the validated copy it is given (it enriches it in place): a fresh one.
  const under = enrichMessage(message({ type: 'identify', properties, traits }), enrichCtx({ maxProperties: 3 }));
  assert.equal(under.droppedProperties, 1);
  assert.deepEqual(under.message.properties, { a: 1, b: 2, c: 3 });
  assert.equal(under.message.traits, traits, 'at the limit the object is shared, not copied');
});

test('fast ISO formatting matches Date#toISOString', () => {
  const edges = [0, 1, 999, 86_399_999, 951_782_400_000 /* 2000-02-29 */, 4_107_456_000_000 /* 2100-02-28 */,
    253_402_300_799_999, 253_402_300_800_000, -1, -62_198_755_200_000, 1_714_564_800_123.7];
  for (const ms of edges) assert.equal(toIsoString(ms), new Date(ms).toISOString(), `ms ${ms}`);
  for (let i = 0; i < 20_000; i++) {
    const ms = Math.floor(Math.random() * 253_402_300_800_000);
    assert.equal(toIsoString(ms), new Date(ms).toISOString());
  }
});

test('a "__proto__" key in the JSON stays a plain key and never becomes a prototype', () => {
  const raw: unknown = JSON.parse(
    '{"type":"identify","userId":"u","__proto__":{"polluted":true},"context":{"__proto__":{"ip":"6.6.6.6"}}}',
  );
  const msg = ok(validateMessage(raw, 'body'));
  const out = enrichMessage(msg, enrichCtx({ ip: '203.0.113.9', batchContext: { locale: 'en' } })).message;
  for (const obj of [msg, out, out.context]) assert.equal(Object.getPrototypeOf(obj), Object.prototype);
  assert.equal((out as JsonObject).polluted, undefined);
  assert.equal(out.context?.ip, '203.0.113.9');
});
