/**
 * Batching through the lanes: an Actions subscription with `enable_batching` gets
 * the events the lane fetched together in one performBatch request.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from './helpers/harness.js';
import { WRITE_KEY, deliveryStats, waitUntil } from './helpers/e2e.js';

const h = new Harness();
after(() => h.cleanup());

/** One Webhooks (Actions) instance whose subscription batches up to 100 events per request. */
function batchedWorkspace(url: string): string {
  return `workspace: { slug: acme }
sources:
  - slug: web-prod
    writeKey: ${WRITE_KEY}
destinations:
  - name: Batched hook
    type: actions-webhook
    sources: [web-prod]
    settings:
      subscriptions:
        - partnerAction: send
          subscribe: type = "track"
          mapping:
            url: ${url}
            method: POST
            data: { id: { '@path': '$.messageId' } }
            enable_batching: true
            batch_size: 100
`;
}

test('actions-webhook with batching enabled sends the lane\'s events in batches, each event settled', async () => {
  const sink = await h.sink();
  // Hold the first request briefly so the backlog builds and the next fetch is a full batch.
  let first = true;
  sink.respond(() => (first ? ((first = false), { status: 200, delayMs: 300 }) : { status: 200 }));
  const sy = await h.start({
    workspace: batchedWorkspace(sink.url),
  });
  const auth = { authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`, 'content-type': 'application/json' };
  for (let b = 0; b < 3; b++) {
    const batch = Array.from({ length: 100 }, (_, i) => ({ type: 'track', userId: 'u', event: 'E', messageId: `m-${b}-${i}` }));
    const res = await fetch(`${sy.url}/v1/batch`, { method: 'POST', headers: auth, body: JSON.stringify({ batch }) });
    assert.equal(res.status, 200);
  }
  const stats = await waitUntil('all 300 events delivered', async () => {
    const s = await deliveryStats(sy.url, 'batched-hook');
    return s.delivered === 300 ? s : undefined;
  });
  const ids = sink.received.flatMap((r) => {
    const body = JSON.parse(r.body) as { id: string } | { id: string }[];
    return Array.isArray(body) ? body.map((x) => x.id) : [body.id];
  });
  assert.equal(new Set(ids).size, 300, 'every event sent once');
  assert.ok(sink.received.length < 30, `sent in batches (${sink.received.length} requests for 300 events)`);
  assert.ok(sink.received.some((r) => Array.isArray(JSON.parse(r.body))), 'performBatch sends arrays');
  assert.equal(stats.deliveredFirstAttempt, 300);
});

test('with SWITCHYARD_BATCH_WAIT_MS, events sent one by one are gathered into batches', async () => {
  const sink = await h.sink();
  const sy = await h.start({
    env: { SWITCHYARD_BATCH_WAIT_MS: '400' },
    workspace: batchedWorkspace(sink.url),
  });
  const auth = { authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`, 'content-type': 'application/json' };
  for (let i = 0; i < 10; i++) {
    const res = await fetch(`${sy.url}/v1/track`, { method: 'POST', headers: auth, body: JSON.stringify({ userId: 'u', event: 'One', messageId: `one-${i}` }) });
    assert.equal(res.status, 200);
  }
  await waitUntil('all 10 events delivered', async () => ((await deliveryStats(sy.url, 'batched-hook')).delivered === 10 ? true : undefined));
  const ids = sink.received.flatMap((r) => (JSON.parse(r.body) as { id: string }[]).map((x) => x.id));
  assert.equal(new Set(ids).size, 10);
  assert.ok(sink.received.length <= 3, `gathered into few requests (${sink.received.length} for 10 events)`);
});
