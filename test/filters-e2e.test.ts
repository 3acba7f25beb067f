import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startSwitchyard, workspaceYaml } from './helpers/switchyard.js';
import { startSink } from './helpers/sink.js';

const AUTH = { authorization: `Basic ${Buffer.from('wk_web_prod:').toString('base64')}`, 'content-type': 'application/json' };

const FILTERS = `    filters:
      - title: No debug events
        if: event = "Debug" or (type = "track" and not contains(event, " "))
        actions: [{ type: DROP }]
      - if: all
        actions: [{ type: DROP_PROPERTIES, fields: { properties: [email, products.price] } }]
`;

async function send(url: string, body: object): Promise<void> {
  const res = await fetch(`${url}/v1/track`, { method: 'POST', headers: AUTH, body: JSON.stringify(body) });
  assert.equal(res.status, 200);
}

async function deliveryStats(url: string): Promise<{ filtered: { reason: string; count: number }[] }> {
  for (let i = 0; i < 40; i++) {
    const r = (await (await fetch(`${url}/api/v1/destinations/orders-webhook/delivery?range=10m`)).json()) as {
      data: { filtered: { reason: string; count: number }[] };
    };
    if (r.data.filtered.length > 0) return r.data;
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error('no filtered counts appeared');
}

test('destination filters from the workspace file drop events and strip properties before delivery', async () => {
  const sink = await startSink();
  const sy = await startSwitchyard({ workspace: workspaceYaml([sink.url], FILTERS) });
  try {
    await send(sy.url, { userId: 'u1', event: 'Debug' });
    await send(sy.url, { userId: 'u1', event: 'Clicked' }); // no space: dropped by the parenthesised clause
    await send(sy.url, {
      userId: 'u1',
      event: 'Order Completed',
      properties: { email: 'a@b.c', total: 5, products: [{ sku: 'x', price: 1 }, { sku: 'y', price: 2 }] },
    });
    await sink.waitFor(1);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(sink.received.length, 1, 'only the event no filter drops arrives');
    const got = JSON.parse(sink.received[0]!.body) as { event: string; properties: Record<string, unknown> };
    assert.equal(got.event, 'Order Completed');
    assert.deepEqual(got.properties, { total: 5, products: [{ sku: 'x' }, { sku: 'y' }] }, 'email and every products[].price are gone');
    const stats = await deliveryStats(sy.url);
    assert.deepEqual(stats.filtered, [{ reason: 'destination_filter:orders-webhook-filter-1:filter_drop', count: 2 }]);
  } finally {
    await sy.stop();
    await sink.close();
  }
});

test('a bad filter in the workspace file is refused with its path', async () => {
  const sink = await startSink();
  const bad = FILTERS.replace('if: all', 'if: properties.total > ');
  await assert.rejects(startSwitchyard({ workspace: workspaceYaml([sink.url], bad) }), /destinations\[0\]\.filters\[1\]\.if/);
  await sink.close();
});

test('a filter saved after an event arrived does not apply to that event, even on its retries', async () => {
  const sink = await startSink();
  let failing = true;
  const okUsers: string[] = [];
  sink.respond((req) => {
    if (failing) return { status: 503 };
    okUsers.push((JSON.parse(req.body) as { userId: string }).userId);
    return { status: 200 };
  });
  const sy = await startSwitchyard({ workspace: workspaceYaml([sink.url]), env: { SWITCHYARD_RETRY_BASE_MS: '300', SWITCHYARD_RETRY_MAX_DELAY_MS: '600' } });
  try {
    await send(sy.url, { userId: 'u1', event: 'Early Bird' });
    await sink.waitFor(1);
    fs.writeFileSync(sy.configFile, workspaceYaml([sink.url], `    filters:\n      - if: event = "Early Bird"\n        actions: [{ type: DROP }]\n`));
    // The router picks up configuration within a second.
    await new Promise((r) => setTimeout(r, 1500));
    await send(sy.url, { userId: 'u2', event: 'Early Bird' });
    failing = false;
    const before = sink.received.length;
    await sink.waitFor(before + 1, 10_000);
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(okUsers, ['u1'], 'the early event is delivered; the one received after the filter is dropped');
  } finally {
    await sy.stop();
    await sink.close();
  }
});
