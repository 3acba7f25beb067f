import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeliveryOverviewApi } from '@segment/public-api-sdk-typescript';
import { startSwitchyard, workspaceYaml } from './helpers/switchyard.js';
import { startSink } from './helpers/sink.js';

const AUTH = { authorization: `Basic ${Buffer.from('wk_web_prod:').toString('base64')}`, 'content-type': 'application/json' };
const FILTERS = `    filters:\n      - if: event = "Dropped"\n        actions: [{ type: DROP }]\n`;

test('Delivery Overview answers the official Public API SDK with every step, grouped and filtered', async () => {
  const sink = await startSink();
  let flaky = 1;
  sink.respond((req) => {
    const e = JSON.parse(req.body) as { event?: string };
    if (e.event === 'Bad') return { status: 400 };
    if (e.event === 'Flaky' && flaky-- > 0) return { status: 503 };
    return { status: 200 };
  });
  const sy = await startSwitchyard({
    workspace: workspaceYaml([sink.url], FILTERS),
    env: { SWITCHYARD_ADMIN_TOKEN: 'tok', SWITCHYARD_RETRY_BASE_MS: '100', SWITCHYARD_RETRY_MAX_DELAY_MS: '200' },
  });
  try {
    const send = (body: object) => fetch(`${sy.url}/v1/track`, { method: 'POST', headers: AUTH, body: JSON.stringify(body) });
    for (let i = 0; i < 3; i++) await send({ userId: 'u', event: 'Order Completed' });
    for (let i = 0; i < 2; i++) await send({ userId: 'u', event: 'Viewed' });
    await send({ userId: 'u', event: 'Bad' });
    await send({ userId: 'u', event: 'Dropped' });
    await send({ userId: 'u', event: 'Flaky' });
    await send({ userId: 'u', event: 'Muted', integrations: { All: false } });
    await fetch(`${sy.url}/v1/track`, { method: 'POST', headers: AUTH, body: '{not json' });
    await sink.waitFor(8);
    await new Promise((r) => setTimeout(r, 2500)); // stats are flushed each second

    const api = new DeliveryOverviewApi(sy.url);
    api.accessToken = 'tok';
    const start = new Date(Date.now() - 3_600_000).toISOString();
    const end = new Date(Date.now() + 60_000).toISOString();
    const page = { count: 10 };

    const received = (await api.getIngressSuccessMetricsFromDeliveryOverview('web-prod', start, end, 'hour', page, ['eventName'])).body.data!;
    assert.equal(received.total, 9);
    const byName = Object.fromEntries(received.dataset.map((d) => [d.eventName, d.total]));
    assert.deepEqual(byName, { 'Order Completed': 3, Viewed: 2, Bad: 1, Dropped: 1, Flaky: 1, Muted: 1 });
    assert.equal(received.dataset[0]!.series.length, 1, 'one hour bucket');
    assert.equal(received.pagination.totalEntries, 6);

    const failedIngest = (await api.getIngressFailedMetricsFromDeliveryOverview('web-prod', start, end, 'minute', page, ['discardReason'])).body.data!;
    assert.deepEqual(failedIngest.dataset.map((d) => [d.discardReason, d.total]), [['malformed_json', 1]]);

    const filtered = (await api.getFilteredAtDestinationMetricsFromDeliveryOverview('web-prod', 'orders-webhook', start, end, 'day', page, ['discardReason'])).body.data!;
    assert.deepEqual(
      Object.fromEntries(filtered.dataset.map((d) => [d.discardReason, d.total])),
      { integrations_all_false: 1, 'destination_filter:orders-webhook-filter-1:filter_drop': 1 },
    );

    const failed = (await api.getEgressFailedMetricsFromDeliveryOverview('web-prod', 'orders-webhook', start, end, 'hour', page, ['discardReason', 'eventName'])).body.data!;
    assert.deepEqual(failed.dataset.map((d) => [d.discardReason, d.eventName, d.total]), [['HTTP 400', 'Bad', 1]]);

    const delivered = (await api.getEgressSuccessMetricsFromDeliveryOverview('web-prod', 'orders-webhook', start, end, 'hour', page, ['eventName'])).body.data!;
    assert.equal(delivered.total, 6);
    const flakyRow = delivered.dataset.find((d) => d.eventName === 'Flaky')!;
    assert.equal(flakyRow.totalRetryCount, 1, 'delivered after one retry');

    const onlyViewed = (await api.getEgressSuccessMetricsFromDeliveryOverview('web-prod', 'orders-webhook', start, end, 'hour', page, undefined, { eventName: ['Viewed'] })).body.data!;
    assert.equal(onlyViewed.total, 2);

    const paged = (await api.getIngressSuccessMetricsFromDeliveryOverview('web-prod', start, end, 'hour', { count: 4 }, ['eventName'])).body.data!;
    assert.equal(paged.dataset.length, 4);
    const rest = (await api.getIngressSuccessMetricsFromDeliveryOverview('web-prod', start, end, 'hour', { count: 4, cursor: paged.pagination.next! }, ['eventName'])).body.data!;
    assert.equal(rest.dataset.length, 2);
    assert.equal(rest.pagination.next, null);

    await assert.rejects(
      api.getEgressSuccessMetricsFromDeliveryOverview('web-prod', 'orders-webhook', start, end, 'week' as 'day', page),
      (err: { statusCode?: number; body?: { errors: { field: string }[] } }) => err.statusCode === 400 && err.body!.errors[0]!.field === 'granularity',
    );
    // The console's view: every step with share, change against the previous period,
    // breakdowns, and discard tables with how to fix.
    const overview = (await (await fetch(`${sy.url}/api/v1/destinations/orders-webhook/overview?range=1h`, { headers: { authorization: 'Bearer tok' } })).json()) as {
      data: { steps: { step: string; count: number; percentOfReceived: number | null; change: number | null; byEventName: Record<string, number>; discards?: { reason: string; count: number; howToFix: string }[] }[] };
    };
    const step = (name: string) => overview.data.steps.find((s) => s.step === name)!;
    assert.deepEqual(overview.data.steps.map((s) => s.step), ['successfully_received', 'failed_on_ingest', 'filtered_at_source', 'filtered_at_destination', 'failed_delivery', 'pending_retry', 'successful_delivery']);
    assert.equal(step('pending_retry').count, 0, 'nothing waits for a retry once Flaky got through');
    assert.equal(step('successfully_received').count, 9);
    assert.equal(step('successfully_received').change, null, 'nothing in the previous hour: no percentage change');
    assert.equal(step('successful_delivery').count, 6);
    assert.equal(step('successful_delivery').percentOfReceived, 66.7);
    assert.equal(step('failed_delivery').byEventName.Bad, 1);
    assert.match(step('failed_delivery').discards![0]!.howToFix, /rejected the payload/);
    assert.match(step('failed_on_ingest').discards![0]!.howToFix, /not JSON/);
    assert.equal(step('filtered_at_destination').discards!.length, 2);

    const noAuth = new DeliveryOverviewApi(sy.url);
    await assert.rejects(noAuth.getIngressSuccessMetricsFromDeliveryOverview('web-prod', start, end, 'hour', page), (err: { statusCode?: number }) => err.statusCode === 401);
  } finally {
    await sy.stop();
    await sink.close();
  }
});
