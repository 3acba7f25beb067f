import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSwitchyard, workspaceYaml } from './helpers/switchyard.js';
import { startSink } from './helpers/sink.js';

interface TesterAnswer {
  data: {
    outcome: string;
    reason?: string;
    event: { messageId: string; type: string };
    exchanges: { request: { url: string; headers: Record<string, string>; body: string }; response?: { status: number; body: string } }[];
  };
}

test('the Event Tester sends one event now, shows the exchange, bypasses filters and is not counted', async () => {
  const sink = await startSink();
  const filters = `    filters:\n      - if: all\n        actions: [{ type: DROP }]\n`;
  const sy = await startSwitchyard({ workspace: workspaceYaml([sink.url], filters) });
  try {
    sink.respond(() => ({ status: 201, body: 'created it' }));
    const res = await fetch(`${sy.url}/api/v1/destinations/orders-webhook/test`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'track', userId: 'u-test', event: 'Tester Event', properties: { a: 1 } }),
    });
    assert.equal(res.status, 200);
    const answer = (await res.json()) as TesterAnswer;
    assert.equal(answer.data.outcome, 'delivered', 'the DROP-everything filter is bypassed');
    assert.equal(sink.received.length, 1);
    const [ex] = answer.data.exchanges;
    assert.equal(ex!.request.url, sink.url);
    assert.equal(ex!.request.headers['x-signature'], '[redacted]', 'secrets are not shown');
    assert.equal(ex!.request.headers['X-Token'], '[redacted]', 'configured headers are not shown');
    assert.equal(JSON.parse(ex!.request.body).event, 'Tester Event');
    assert.deepEqual([ex!.response!.status, ex!.response!.body], [201, 'created it']);

    sink.respond(() => ({ status: 500, body: 'boom' }));
    const failed = (await (
      await fetch(`${sy.url}/api/v1/destinations/orders-webhook/test`, {
        method: 'POST',
        body: JSON.stringify({ type: 'identify', userId: 'u-test', traits: { plan: 'pro' } }),
      })
    ).json()) as TesterAnswer;
    assert.equal(failed.data.outcome, 'retry');
    assert.equal(failed.data.reason, 'HTTP 500');
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(sink.received.length, 2, 'no retries');

    const bad = await fetch(`${sy.url}/api/v1/destinations/orders-webhook/test`, { method: 'POST', body: JSON.stringify({ type: 'track', userId: 'u' }) });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { errors: { field: string }[] }).errors[0]!.field, 'event.event');
    assert.equal((await fetch(`${sy.url}/api/v1/destinations/nope/test`, { method: 'POST', body: '{}' })).status, 404);

    const stats = (await (await fetch(`${sy.url}/api/v1/destinations/orders-webhook/delivery?range=10m`)).json()) as { data: { delivered: number; attemptsFailed: number } };
    assert.deepEqual([stats.data.delivered, stats.data.attemptsFailed], [0, 0], 'tests are not delivery metrics');
  } finally {
    await sy.stop();
    await sink.close();
  }
});
