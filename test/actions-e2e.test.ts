/**
 * End to end through a real Switchyard process: @segment/analytics-node sends to
 * the Tracking API, the router runs Segment's Webhooks (Actions) destination
 * (`actions-webhook`, whose URL is a mapping, so it can point at a local sink),
 * and the sink receives exactly what the action sends.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Analytics } from '@segment/analytics-node';
import { Harness } from './helpers/harness.js';
import type { Sink } from './helpers/sink.js';
import type { SwitchyardProcess } from './helpers/switchyard.js';
import { countOf, deliveryStats, sleep, waitUntil, WRITE_KEY } from './helpers/e2e.js';

const h = new Harness();
let sink: Sink;
let sy: SwitchyardProcess;

before(async () => {
  sink = await h.sink();
  sy = await h.start({
    workspace: `workspace: { slug: acme }
sources:
  - slug: web-prod
    writeKey: ${WRITE_KEY}
destinations:
  - name: Orders (Actions)
    type: actions-webhook
    sources: [web-prod]
    settings:
      settings: { sharedSecret: s3cret }
      subscriptions:
        - name: Orders
          partnerAction: send
          subscribe: type = "track" and event = "Order Completed"
          mapping:
            url: ${sink.url}
            method: POST
            headers: { X-Team: growth }
            data:
              order: { '@path': '$.properties.orderId' }
              total: { '@path': '$.properties.total' }
              user: { '@path': '$.userId' }
              id: { '@path': '$.messageId' }
`,
  });
});

after(() => h.cleanup());

test('analytics-node → Switchyard → actions-webhook: the subscribed event reaches the sink as mapped and signed; others are not sent', async () => {
  const analytics = new Analytics({ writeKey: WRITE_KEY, host: sy.url, flushAt: 10, flushInterval: 50 });
  const statuses: number[] = [];
  analytics.on('http_response', (r) => statuses.push(r.status));
  analytics.identify({ userId: 'user-1', traits: { email: 'ada@example.com' } });
  analytics.track({ userId: 'user-1', event: 'Order Completed', messageId: 'order-msg-1', properties: { orderId: 'o-1', total: 42.5 } });
  analytics.track({ userId: 'user-1', event: 'Product Viewed', properties: { sku: 'A' } });
  await analytics.closeAndFlush({ timeout: 30_000 });
  assert.deepEqual([...new Set(statuses)], [200]);

  await sink.waitFor(1, 15_000);
  const r = sink.received[0]!;
  const body = JSON.stringify({ order: 'o-1', total: 42.5, user: 'user-1', id: 'order-msg-1' });
  assert.deepEqual(
    { method: r.method, url: r.url, body: r.body, type: r.headers['content-type'], team: r.headers['x-team'], sig: r.headers['x-signature'], ua: r.headers['user-agent'] },
    { method: 'POST', url: '/hook', body, type: 'application/json', team: 'growth', sig: createHmac('sha1', 's3cret').update(body).digest('hex'), ua: 'Segment (Actions)' },
  );

  // The two unsubscribed events are counted as filtered ("no_matching_subscription") and never sent.
  const stats = await waitUntil('the router to settle all three events', async () => {
    const s = await deliveryStats(sy.url, 'orders-actions');
    return s.delivered === 1 && countOf(s.filtered, 'no_matching_subscription') === 2 ? s : undefined;
  }, { describe: () => deliveryStats(sy.url, 'orders-actions') });
  assert.equal(stats.destination.type, 'actions-webhook');
  await sleep(200);
  assert.equal(sink.received.length, 1);
});

test('the password setting (sharedSecret) is encrypted at rest in the control plane', () => {
  const db = new Database(path.join(sy.dataDir, 'control.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT settings, secret_settings FROM cp_destinations WHERE id = ?').get('orders-actions') as { settings: string; secret_settings: string };
    const stored = JSON.parse(row.settings) as { settings: unknown; secrets: unknown };
    assert.deepEqual(JSON.parse(row.secret_settings), ['secrets', 'oauth']);
    assert.deepEqual(stored.settings, {});
    assert.match(String(stored.secrets), /^enc:v1:/);
    assert.ok(!row.settings.includes('s3cret'));
  } finally {
    db.close();
  }
});
