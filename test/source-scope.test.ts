/**
 * The operational routes (source debugger, ingest figures, Delivery Overview, Event
 * Delivery, destination overview, filters, failure logs, the Event Tester, alerts)
 * follow the Public API's roles: a role scoped to one source (by id or by label) sees
 * that source's figures and events and nothing of another's (404), and a Source Admin
 * changes only what belongs to its sources (403). Owners see everything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from './helpers/harness.js';


test('a role scoped to one source sees and changes only what belongs to it on the operational routes', async () => {
  const h = new Harness();
  try {
    const sy = await h.start({ workspace: { workspace: { slug: 'acme' }, sources: [], destinations: [] } });
    const call = async (token: string, method: string, path: string, body?: unknown) => {
      const res = await fetch(`${sy.url}${path}`, {
        method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json().catch(() => null)) as any };
    };
    const made = await fetch(`${sy.url}/tokens`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ description: 'owner', permissions: [{ roleId: 'workspace-owner', resources: [{ type: 'WORKSPACE', id: 'acme' }] }] }),
    });
    const owner = ((await made.json()) as { data: { token: string } }).data.token;
    const token = async (roleId: string, resources: unknown[]) => (await call(owner, 'POST', '/tokens', { description: roleId, permissions: [{ roleId, resources }] })).body.data.token as string;

    // Two sources (web labelled environment:prod), each with a webhook destination, through the Public API.
    const source = async (slug: string, labels: unknown[]) => {
      const r = await call(owner, 'POST', '/sources', { slug, enabled: true, metadataId: 'javascript', labels });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.data.source as { id: string; writeKeys: string[] };
    };
    const hook = async (sourceId: string, name: string) => {
      const r = await call(owner, 'POST', '/destinations', { sourceId, metadataId: 'webhook', name, enabled: true, settings: { urls: ['http://127.0.0.1:9/hook'] } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.data.destination.id as string;
    };
    const webSource = await source('web', [{ key: 'environment', value: 'prod' }]);
    const appSource = await source('app', []);
    const web = webSource.id;
    const app = appSource.id;
    const webHook = await hook(web, 'Web hook');
    const appHook = await hook(app, 'App hook');

    for (const [key, event] of [[webSource.writeKeys[0], 'Web Event'], [appSource.writeKeys[0], 'App Event']]) {
      const res = await fetch(`${sy.url}/v1/track`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` },
        body: JSON.stringify({ userId: 'u1', event }),
      });
      assert.equal(res.status, 200);
    }

    const now = Date.now();
    const window = `startTime=${new Date(now - 3_600_000).toISOString()}&endTime=${new Date(now + 60_000).toISOString()}&granularity=hour`;
    const reads = (source: string, hook: string) => [
      `/api/v1/sources/${source}/debugger/recent`,
      `/api/v1/sources/${source}/ingest`,
      `/api/v1/destinations/${hook}/delivery`,
      `/api/v1/destinations/${hook}/overview`,
      `/api/v1/destinations/${hook}/log-collection`,
      `/destinations/${hook}/delivery-metrics?sourceId=${source}&${window}`,
      `/destination/${hook}/filters`,
      `/delivery-overview/successfully-received?sourceId=${source}&${window}`,
    ];
    // Scoped to web by id, and by its label: the same answers.
    const scoped = [
      await token('source-read-only', [{ type: 'SOURCE', id: web }]),
      await token('source-read-only', [{ type: 'WORKSPACE', id: 'acme', labels: [{ key: 'environment', value: 'prod' }] }]),
    ];
    for (const t of scoped) {
      for (const path of reads(web, webHook)) assert.equal((await call(t, 'GET', path)).status, 200, path);
      for (const path of reads(app, appHook)) {
        const r = await call(t, 'GET', path);
        assert.equal(r.status, 404, path);
        assert.match(r.body.errors[0].message, /among the sources your role covers/, path);
      }
      assert.deepEqual((await call(t, 'GET', '/api/v1/destinations')).body.data.destinations.map((d: { id: string }) => d.id), [webHook]);
    }
    const recent = (await call(scoped[0]!, 'GET', `/api/v1/sources/${web}/debugger/recent`)).body.data.events as { event: string }[];
    assert.deepEqual(recent.map((e) => e.event), ['Web Event']);
    // The owner sees both.
    for (const path of [...reads(web, webHook), ...reads(app, appHook)]) assert.equal((await call(owner, 'GET', path)).status, 200, path);

    // Alerts: each role sees the alerts on its sources, and a Source Admin makes them only there.
    const appAlert = (await call(owner, 'POST', '/api/v1/alerts', { kind: 'source_volume', sourceId: app, percentChange: 50, channels: [{ type: 'in_app' }] }));
    assert.equal(appAlert.status, 201, JSON.stringify(appAlert.body));
    const admin = await token('source-admin', [{ type: 'SOURCE', id: web }]);
    assert.equal((await call(admin, 'GET', `/api/v1/alerts/${appAlert.body.data.alert.id}`)).status, 404);
    assert.equal((await call(admin, 'DELETE', `/api/v1/alerts/${appAlert.body.data.alert.id}`)).status, 404);
    assert.equal((await call(admin, 'POST', '/api/v1/alerts', { kind: 'source_volume', sourceId: app, percentChange: 50, channels: [{ type: 'in_app' }] })).status, 404);
    const webAlert = await call(admin, 'POST', '/api/v1/alerts', { kind: 'source_volume', sourceId: web, percentChange: 50, channels: [{ type: 'in_app' }] });
    assert.equal(webAlert.status, 201, JSON.stringify(webAlert.body));
    assert.deepEqual((await call(admin, 'GET', '/api/v1/alerts')).body.data.alerts.map((a: { id: string }) => a.id), [webAlert.body.data.alert.id]);
    assert.equal((await call(owner, 'GET', '/api/v1/alerts')).body.data.alerts.length, 2);
    const moved = await call(admin, 'PATCH', `/api/v1/alerts/${webAlert.body.data.alert.id}`, { sourceId: app });
    assert.equal(moved.status, 403, JSON.stringify(moved.body));
    // Writes on the other source's destination: not found; on its own: allowed. Read-only: refused.
    assert.equal((await call(admin, 'PUT', `/api/v1/destinations/${appHook}/log-collection`, { enabled: true })).status, 404);
    assert.equal((await call(admin, 'PUT', `/api/v1/destinations/${webHook}/log-collection`, { enabled: true })).status, 200);
    assert.equal((await call(admin, 'POST', `/api/v1/destinations/${appHook}/test`, { type: 'track', event: 'x', userId: 'u' })).status, 404);
    assert.equal((await call(scoped[0]!, 'PUT', `/api/v1/destinations/${webHook}/log-collection`, { enabled: false })).status, 403);
  } finally {
    await h.cleanup();
  }
});
