import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DestinationsApi } from '@segment/public-api-sdk-typescript';
import { startSwitchyard, workspaceYaml } from './helpers/switchyard.js';
import { startSink } from './helpers/sink.js';

const AUTH = { authorization: `Basic ${Buffer.from('wk_web_prod:').toString('base64')}`, 'content-type': 'application/json' };

test('Event Delivery summary through the official SDK: successes (first attempt / after retries), failures, retries, filtered', async () => {
  const sink = await startSink();
  let flaky = 2;
  sink.respond((req) => {
    const e = (JSON.parse(req.body) as { event?: string }).event;
    if (e === 'Bad') return { status: 422 };
    if (e === 'Flaky' && flaky-- > 0) return { status: 500 };
    return { status: 200 };
  });
  const sy = await startSwitchyard({ workspace: workspaceYaml([sink.url]), env: { SWITCHYARD_RETRY_BASE_MS: '100', SWITCHYARD_RETRY_MAX_DELAY_MS: '200' } });
  try {
    for (const body of [{ event: 'Good' }, { event: 'Good' }, { event: 'Bad' }, { event: 'Flaky' }, { event: 'Muted', integrations: { Webhooks: false } }]) {
      const r = await fetch(`${sy.url}/v1/track`, { method: 'POST', headers: AUTH, body: JSON.stringify({ userId: 'u', ...body }) });
      assert.equal(r.status, 200);
    }
    await sink.waitFor(6); // Good ×2, Bad, Flaky ×3
    await new Promise((r) => setTimeout(r, 2000));
    const api = new DestinationsApi(sy.url);
    const summary = (await api.listDeliveryMetricsSummaryFromDestination('orders-webhook', 'web-prod')).body.data!.deliveryMetricsSummary;
    assert.equal(summary.sourceId, 'web-prod');
    assert.equal(summary.destinationMetadataId, 'webhook');
    // The SDK turns each entry into a class instance: compare plain copies.
    const metric = (name: string) => {
      const m = summary.metrics.find((x) => x.metricName === name)!;
      return { total: m.total, breakdown: (m.breakdown ?? []).map((b) => ({ metricName: b.metricName, value: b.value })) };
    };
    assert.equal(metric('successes').total, 3);
    assert.deepEqual(metric('successes').breakdown, [
      { metricName: 'delivered on first attempt', value: 2 },
      { metricName: 'delivered after retries', value: 1 },
    ]);
    assert.deepEqual([metric('failures').total, metric('failures').breakdown[0]], [1, { metricName: 'HTTP 422', value: 1 }]);
    assert.deepEqual([metric('retries').total, metric('retries').breakdown[0]], [2, { metricName: 'HTTP 500', value: 2 }]);
    assert.deepEqual(metric('filtered').breakdown, [{ metricName: 'integrations_disabled', value: 1 }]);
    // The errors table: grouped by error with words and a sample of what was sent, asked and answered.
    const detail = (await (await fetch(`${sy.url}/api/v1/destinations/orders-webhook/delivery?range=1h`)).json()) as {
      data: {
        latencyMs: { p95: number };
        latencyTrend: { time: string; p95Ms: number }[];
        failures: { reason: string; summary: string; actions: string; count: number; sample: { event: string; exchanges: { request: { headers: Record<string, string> }; response: { status: number } }[] } }[];
      };
    };
    const bad = detail.data.failures.find((f) => f.reason === 'HTTP 422')!;
    assert.equal(bad.summary, 'The destination rejected the request (422)');
    assert.match(bad.actions, /fix the mapping or the event/);
    assert.equal(JSON.parse(bad.sample.event).event, 'Bad', 'You sent');
    assert.equal(bad.sample.exchanges[0]!.request.headers['x-signature'], '[redacted]', 'Request to destination, secrets redacted');
    assert.equal(bad.sample.exchanges[0]!.response.status, 422, 'Response from destination');
    assert.ok(detail.data.latencyTrend.length >= 1 && detail.data.latencyTrend[0]!.p95Ms > 0, 'p95 latency trend');
    await assert.rejects(api.listDeliveryMetricsSummaryFromDestination('orders-webhook', 'other-source'), (e: { statusCode?: number }) => e.statusCode === 400);
  } finally {
    await sy.stop();
    await sink.close();
  }
});
