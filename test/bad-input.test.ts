/**
 * Bad input to the Tracking API: each mistake gets the right status and a JSON
 * error naming the field (and the limit, for limits), is counted under
 * "failed on ingest" with its reason, and leaves already accepted events and
 * later good events untouched.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { Harness } from './helpers/harness.js';
import type { Sink } from './helpers/sink.js';
import { workspaceYaml, type SwitchyardProcess } from './helpers/switchyard.js';
import { countOf, ingestStats, messageIdCounts, postTracking, sleep, waitUntil, WRITE_KEY, type IngestStats } from './helpers/e2e.js';

let sink: Sink;
let sy: SwitchyardProcess;

const h = new Harness();

before(async () => {
  sink = await h.sink();
  sy = await h.start({ workspace: workspaceYaml([sink.url]) });
});

after(() => h.cleanup());

const track = (id: string, extra: object = {}) => ({ userId: 'u-bad', event: 'Bad Input', messageId: id, ...extra });
const item = (id: string, extra: object = {}) => ({ type: 'track', ...track(id), ...extra });
const big = (bytes: number) => 'x'.repeat(bytes);

interface Case {
  name: string;
  path?: string;
  method?: string;
  body?: string | Buffer | object;
  writeKey?: string | null;
  headers?: Record<string, string>;
  status: number;
  field?: string;
  limit?: string;
  error: RegExp;
  /** Counted under failed-on-ingest with this reason: on the source, or unattributed when no source is known. */
  counted?: { reason: string; scope: 'source' | 'unattributed' | 'either' };
}

const CASES: Case[] = [
  { name: 'malformed JSON', body: '{"userId":"u1","event":', status: 400, field: 'body', error: /malformed JSON/, counted: { reason: 'malformed_json', scope: 'source' } },
  { name: 'malformed JSON in a batch', path: '/v1/batch', body: '{"batch":[{]}', status: 400, field: 'body', error: /malformed JSON/, counted: { reason: 'malformed_json', scope: 'source' } },
  { name: 'empty body', body: '', status: 400, field: 'body', error: /empty/, counted: { reason: 'empty_body', scope: 'source' } },
  { name: 'a JSON array as the event', body: [track('bad-array')], status: 400, field: 'body', error: /object/, counted: { reason: 'invalid_event', scope: 'source' } },
  {
    name: 'oversize event (40KB)',
    body: track('bad-big-event', { properties: { blob: big(40_000) } }),
    status: 400, field: 'body', limit: '32KB per event', error: /32KB per event/, counted: { reason: 'event_too_large', scope: 'source' },
  },
  {
    name: 'oversize event inside a batch',
    path: '/v1/batch',
    body: { batch: [item('bad-big-0'), item('bad-big-1', { properties: { blob: big(40_000) } })] },
    status: 400, field: 'batch[1]', limit: '32KB per event', error: /32KB per event/, counted: { reason: 'event_too_large', scope: 'source' },
  },
  {
    name: 'oversize batch (600KB)',
    path: '/v1/batch',
    body: { batch: Array.from({ length: 30 }, (_, i) => item(`bad-batch-${i}`, { properties: { blob: big(20_000) } })) },
    status: 400, field: 'body', limit: '500KB per request', error: /500KB/, counted: { reason: 'request_too_large', scope: 'either' },
  },
  {
    name: 'oversize batch once gunzipped',
    path: '/v1/batch',
    body: gzipSync(JSON.stringify({ batch: Array.from({ length: 30 }, (_, i) => item(`bad-gzbatch-${i}`, { properties: { blob: big(20_000) } })) })),
    headers: { 'content-encoding': 'gzip' },
    status: 400, field: 'body', limit: '500KB per request', error: /500KB/, counted: { reason: 'request_too_large', scope: 'either' },
  },
  { name: 'neither userId nor anonymousId', body: { event: 'No Ids', messageId: 'bad-noid' }, status: 400, field: 'body.userId', error: /userId.*anonymousId/, counted: { reason: 'invalid_event', scope: 'source' } },
  { name: 'track without event', body: { userId: 'u', messageId: 'bad-noevent' }, status: 400, field: 'body.event', error: /event/, counted: { reason: 'invalid_event', scope: 'source' } },
  { name: 'track with an empty event', body: track('bad-emptyevent', { event: '' }), status: 400, field: 'body.event', error: /event/, counted: { reason: 'invalid_event', scope: 'source' } },
  { name: 'group without groupId', path: '/v1/group', body: { userId: 'u', messageId: 'bad-group' }, status: 400, field: 'body.groupId', error: /groupId/, counted: { reason: 'invalid_event', scope: 'source' } },
  { name: 'alias without previousId', path: '/v1/alias', body: { userId: 'u', messageId: 'bad-alias' }, status: 400, field: 'body.previousId', error: /previousId/, counted: { reason: 'invalid_event', scope: 'source' } },
  {
    name: 'a bad item in a batch names its index',
    path: '/v1/batch',
    body: { batch: [item('bad-b-0'), item('bad-b-1'), { type: 'track', userId: 'u', messageId: 'bad-b-2' }] },
    status: 400, field: 'batch[2].event', error: /event/, counted: { reason: 'invalid_event', scope: 'source' },
  },
  { name: 'a batch item of an unknown type', path: '/v1/batch', body: { batch: [item('bad-type', { type: 'purchase' })] }, status: 400, field: 'batch[0].type', error: /type/, counted: { reason: 'invalid_event', scope: 'source' } },
  { name: 'batch that is not an array', path: '/v1/batch', body: { batch: { type: 'track' } }, status: 400, field: 'batch', error: /batch/, counted: { reason: 'invalid_batch', scope: 'source' } },
  { name: 'properties as an array', body: track('bad-props', { properties: [1, 2] }), status: 400, field: 'body.properties', error: /properties/, counted: { reason: 'invalid_event', scope: 'source' } },
  { name: 'traits as a string', path: '/v1/identify', body: { userId: 'u', traits: 'vip', messageId: 'bad-traits' }, status: 400, field: 'body.traits', error: /traits/, counted: { reason: 'invalid_event', scope: 'source' } },
  { name: 'context as an array', body: track('bad-context', { context: [] }), status: 400, field: 'body.context', error: /context/, counted: { reason: 'invalid_event', scope: 'source' } },
  { name: 'userId as an object', body: track('bad-userid', { userId: { id: 1 } }), status: 400, field: 'body.userId', error: /userId/, counted: { reason: 'invalid_event', scope: 'source' } },
  { name: 'timestamp that is not a date', body: track('bad-ts', { timestamp: 'yesterday-ish' }), status: 400, field: 'body.timestamp', error: /timestamp/, counted: { reason: 'invalid_event', scope: 'source' } },
  { name: 'bad gzip', body: 'this is not gzip', headers: { 'content-encoding': 'gzip' }, status: 400, field: 'body', error: /gzip/, counted: { reason: 'bad_gzip', scope: 'source' } },
  { name: 'unsupported Content-Encoding', body: track('bad-br'), headers: { 'content-encoding': 'br' }, status: 400, field: 'content-encoding', error: /gzip/, counted: { reason: 'unsupported_encoding', scope: 'source' } },
  { name: 'wrong write key (Basic auth)', body: track('bad-key'), writeKey: 'wk_wrong', status: 401, error: /invalid write key/, counted: { reason: 'invalid_write_key', scope: 'unattributed' } },
  {
    name: 'wrong write key (body, text/plain)',
    path: '/v1/t',
    body: JSON.stringify({ ...track('bad-bodykey'), writeKey: 'wk_wrong' }),
    writeKey: null,
    headers: { 'content-type': 'text/plain' },
    status: 401, error: /invalid write key/, counted: { reason: 'invalid_write_key', scope: 'unattributed' },
  },
  { name: 'missing write key', body: track('bad-nokey'), writeKey: null, status: 401, error: /missing write key/, counted: { reason: 'missing_write_key', scope: 'unattributed' } },
  { name: 'GET /v1/track', method: 'GET', status: 405, error: /POST/ },
  { name: 'PUT /v1/batch', path: '/v1/batch', method: 'PUT', body: { batch: [] }, status: 405, error: /POST/ },
  { name: 'unknown path /v1/nope', path: '/v1/nope', body: track('bad-path'), status: 404, error: /\/v1\/nope/ },
];

test('bad inputs get the right status and a clear error; accepted events are unaffected', async (t) => {
  // Accepted before the bad ones.
  const earlier = Array.from({ length: 5 }, (_, i) => item(`good-before-${i}`));
  assert.equal((await postTracking(sy.url, '/v1/batch', { batch: earlier })).status, 200);
  await sink.waitFor(5);

  for (const c of CASES) {
    await t.test(c.name, async () => {
      const res = await postTracking(sy.url, c.path ?? '/v1/track', c.method === 'GET' ? '' : (c.body ?? ''), {
        method: c.method,
        writeKey: c.writeKey,
        headers: c.headers,
      });
      assert.equal(res.status, c.status, `status (body: ${JSON.stringify(res.body).slice(0, 300)})`);
      assert.equal(typeof res.body, 'object', 'the error is JSON');
      const body = res.body as { success?: boolean; error?: string; field?: string; limit?: string };
      assert.equal(body.success, false);
      assert.match(body.error ?? '', c.error);
      if (c.field !== undefined) assert.equal(body.field, c.field, 'field names the problem');
      if (c.limit !== undefined) assert.equal(body.limit, c.limit, 'limit is named');
      if (c.status === 405) assert.equal(res.headers.get('allow'), 'POST');
    });
  }

  // A good event after all of that still goes through.
  const after = await postTracking(sy.url, '/v1/track', track('good-after'));
  assert.equal(after.status, 200);
  assert.deepEqual(after.body, { success: true });
  await sink.waitFor(6);
  await sleep(500);
  const counts = messageIdCounts(sink.received);
  for (const e of earlier) assert.equal(counts.get(e.messageId), 1, `${e.messageId} delivered exactly once`);
  assert.equal(counts.get('good-after'), 1);
  const leaked = [...counts.keys()].filter((id) => id.startsWith('bad-'));
  assert.deepEqual(leaked, [], 'nothing from a refused request was delivered (batches are all-or-nothing)');
  assert.equal(sink.received.length, 6);

  // Failed on ingest, by reason (stats flush every second).
  const expected = new Map<string, { source: number; unattributed: number; either: number }>();
  for (const c of CASES) {
    if (!c.counted) continue;
    const e = expected.get(c.counted.reason) ?? { source: 0, unattributed: 0, either: 0 };
    e[c.counted.scope]++;
    expected.set(c.counted.reason, e);
  }
  const totals = (s: IngestStats) =>
    Object.fromEntries([...expected.keys()].map((reason) => [reason, countOf(s.failedOnIngest, reason) + countOf(s.unattributedFailures, reason)]));
  const wanted = Object.fromEntries([...expected].map(([reason, e]) => [reason, e.source + e.unattributed + e.either]));
  // Counters are flushed every second: wait for the last good event's count too, not only the refusals'.
  const settled = (s: IngestStats) => JSON.stringify(totals(s)) === JSON.stringify(wanted) && s.received === 6;
  await waitUntil('ingest counters flushed', async () => settled(await ingestStats(sy.url)), { timeoutMs: 5000 }).catch(() => {});
  const stats = await ingestStats(sy.url);
  assert.deepEqual(totals(stats), wanted, 'every refused request is counted under failed on ingest, by reason');
  for (const [reason, e] of expected) {
    assert.ok(countOf(stats.failedOnIngest, reason) >= e.source, `${reason} is counted on the source`);
    assert.ok(countOf(stats.unattributedFailures, reason) >= e.unattributed, `${reason} is counted as unattributed (no source known)`);
  }
  assert.equal(stats.received, 6, 'only the good events count as received');
});

test('an event just under 32KB and a batch just under 500KB are accepted and delivered intact', async () => {
  const before = sink.received.length;
  // ~31.5KB as the client serializes it: under Segment's limit even after enrichment adds its fields.
  const event = track('good-near-limit');
  const pad = 32 * 1024 - 600 - Buffer.byteLength(JSON.stringify(event));
  const nearLimit = { ...event, properties: { blob: big(pad) } };
  assert.ok(Buffer.byteLength(JSON.stringify(nearLimit)) > 31 * 1024);
  const res = await postTracking(sy.url, '/v1/track', nearLimit);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  // 15 events of ~31KB: ~470KB in one request.
  const batch = Array.from({ length: 15 }, (_, i) => item(`good-big-batch-${i}`, { properties: { blob: big(31_000) } }));
  const body = JSON.stringify({ batch });
  assert.ok(body.length > 450 * 1024 && body.length < 500 * 1024, `batch of ${body.length} bytes`);
  const batchRes = await postTracking(sy.url, '/v1/batch', body);
  assert.equal(batchRes.status, 200, JSON.stringify(batchRes.body));
  await sink.waitFor(before + 16);
  const got = sink.received.slice(before).map((r) => JSON.parse(r.body) as { messageId: string; properties: { blob: string } });
  const near = got.find((e) => e.messageId === 'good-near-limit');
  assert.equal(near?.properties.blob.length, pad, 'the large event arrives whole');
  assert.equal(got.filter((e) => e.messageId.startsWith('good-big-batch-')).length, 15);
});

test('a body streamed without Content-Length is refused once it passes 500KB; the answers carry the same headers as fastify gave them', async () => {
  // Chunked, so the limit is found while reading, not from the header.
  const refused = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request(`${sy.url}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`, origin: 'https://shop.example' },
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    // Writing on after the answer may fail (the server closes): the answer is what counts.
    req.on('error', () => {});
    req.on('socket', () => {});
    setTimeout(() => reject(new Error('no answer to an oversize chunked body')), 20_000).unref();
    const chunk = Buffer.alloc(64 * 1024, 'x');
    req.write('{"batch":[{"type":"track","userId":"u","event":"Big","properties":{"blob":"');
    let sent = 0;
    const pump = () => {
      while (sent < 700 * 1024) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end('"}}]}');
    };
    pump();
  });
  assert.equal(refused.status, 400);
  assert.deepEqual(JSON.parse(refused.body), { success: false, error: 'the request exceeds the 500KB limit', field: 'body', limit: '500KB per request' });
  assert.equal(refused.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(refused.headers['access-control-allow-origin'], 'https://shop.example');

  const ok = await postTracking(sy.url, '/v1/t', track('good-headers'), { headers: { origin: 'https://shop.example' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.equal(ok.headers.get('access-control-allow-origin'), 'https://shop.example');
  assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
  assert.equal(ok.headers.get('vary'), 'Origin');
  assert.equal(ok.headers.get('keep-alive'), 'timeout=72');
  // A query string does not change the call (analytics.js never sends one, proxies may add one).
  assert.equal((await postTracking(sy.url, '/v1/track?from=proxy', track('good-query'))).status, 200);
  await waitUntil('the event sent with a query string is delivered', () => messageIdCounts(sink.received).has('good-query'));
});
