import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DestinationFilterActionV1, DestinationFiltersApi } from '@segment/public-api-sdk-typescript';
import { startSwitchyard, workspaceYaml } from './helpers/switchyard.js';
import { startSink } from './helpers/sink.js';

const FILTERS = `    filters:
      - title: No PII
        description: strip emails
        if: all
        actions: [{ type: DROP_PROPERTIES, fields: { properties: [email] } }]
`;

test('destination filters through the official SDK: list, get, preview; writes to file-defined ones are refused with why', async () => {
  const sink = await startSink();
  const sy = await startSwitchyard({ workspace: workspaceYaml([sink.url], FILTERS), env: { SWITCHYARD_ADMIN_TOKEN: 'tok' } });
  try {
    const api = new DestinationFiltersApi(sy.url);
    api.accessToken = 'tok';
    const list = (await api.listFiltersFromDestination('orders-webhook', { count: 10 })).body.data!;
    assert.equal(list.filters.length, 1);
    const f = list.filters[0]!;
    assert.deepEqual([f.id, f.title, f.description, f.if, f.enabled, f.sourceId], ['orders-webhook-filter-1', 'No PII', 'strip emails', 'all', true, 'web-prod']);
    assert.ok(!Number.isNaN(Date.parse(f.createdAt)));
    const got = (await api.getFilterInDestination('orders-webhook', f.id)).body.data!;
    assert.equal(got.filter.id, f.id);

    const kept = (
      await api.previewDestinationFilter({
        filter: { if: 'event = "Signed Up"', actions: [{ type: DestinationFilterActionV1.TypeEnum.ALLOW_PROPERTIES, fields: { properties: ['plan'] } }] },
        payload: { type: 'track', event: 'Signed Up', userId: 'u', properties: { plan: 'pro', email: 'a@b.c' } },
      })
    ).body.data!;
    assert.deepEqual((kept.result as { properties: unknown }).properties, { plan: 'pro' });
    assert.deepEqual((kept.inputPayload as { properties: unknown }).properties, { plan: 'pro', email: 'a@b.c' });
    const dropped = (
      await api.previewDestinationFilter({
        filter: { if: 'not (properties.total > 100)', actions: [{ type: DestinationFilterActionV1.TypeEnum.DROP }] },
        payload: { type: 'track', event: 'Order', userId: 'u', properties: { total: 5 } },
      })
    ).body.data!;
    assert.equal(dropped.result, null);

    await assert.rejects(
      api.previewDestinationFilter({ filter: { if: 'properties.total >', actions: [{ type: DestinationFilterActionV1.TypeEnum.DROP }] }, payload: { type: 'track' } }),
      (err: { statusCode?: number; body?: { errors: { field: string; message: string }[] } }) =>
        err.statusCode === 400 && err.body!.errors[0]!.field === 'filter.if' && /position/.test(err.body!.errors[0]!.message),
    );
    await assert.rejects(
      api.createFilterForDestination('orders-webhook', { sourceId: 'web-prod', if: 'all', actions: [{ type: DestinationFilterActionV1.TypeEnum.DROP }], title: 'x', enabled: true }),
      (err: { statusCode?: number; body?: { errors: { message: string }[] } }) => err.statusCode === 409 && /workspace file/.test(err.body!.errors[0]!.message),
    );
    await assert.rejects(api.getFilterInDestination('orders-webhook', 'nope'), (err: { statusCode?: number }) => err.statusCode === 404);
    await assert.rejects(new DestinationFiltersApi(sy.url).listFiltersFromDestination('orders-webhook', { count: 10 }), (err: { statusCode?: number }) => err.statusCode === 401);
  } finally {
    await sy.stop();
    await sink.close();
  }
});
