/**
 * The official Public API client (`@segment/public-api-sdk-typescript`) against a
 * real Switchyard: create a source, a destination and a filter, list with
 * pagination, Segment-shaped errors for bad input and missing permissions, tokens
 * and roles, secrets never returned, and the audit trail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AuditTrailApi, DestinationFilterActionV1, DestinationFiltersApi, DestinationsApi, IAMRolesApi, SourcesApi, WorkspacesApi,
} from '@segment/public-api-sdk-typescript';
import { client, rejects, type ApiError } from './helpers/public-api.js';
import { Harness } from './helpers/harness.js';
import { parseWorkspaceFile } from '../src/config/workspace-file.js';
import { destinationTypes } from '../src/destinations/registry.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/switchyard.js', import.meta.url));


test('the official SDK manages sources, destinations and filters with tokens, roles, pagination, errors and an audit trail', async () => {
  const h = new Harness();
  try {
    const sink = await h.sink();
    const sy = await h.start({ workspace: { workspace: { slug: 'acme' }, sources: [], destinations: [] } });

    // First run: the API is open until an owner or a token exists. Make an owner token.
    const created = await fetch(`${sy.url}/tokens`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ description: 'automation', permissions: [{ roleId: 'workspace-owner', resources: [{ type: 'WORKSPACE', id: 'acme' }] }] }),
    });
    assert.equal(created.status, 201);
    const owner = ((await created.json()) as { data: { token: string } }).data.token;
    // From now on the API needs a token.
    const anonymous = await fetch(`${sy.url}/sources`);
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as { errors: { type: string }[] }).errors[0]!.type, 'unauthorized');

    const ws = (await client(WorkspacesApi, sy.url, owner).getWorkspace()).body.data!.workspace;
    assert.deepEqual({ ...ws }, { id: 'acme', slug: 'acme', name: 'acme' });

    const sources = client(SourcesApi, sy.url, owner);
    const ids: string[] = [];
    for (const slug of ['web', 'ios', 'backend']) {
      const s = (await sources.createSource({ slug, enabled: true, metadataId: slug === 'ios' ? 'ios' : 'javascript' })).body.data!.source;
      assert.equal(s.slug, slug);
      assert.equal(s.writeKeys.length, 1);
      ids.push(s.id);
    }
    await rejects(sources.createSource({ slug: 'web', enabled: true, metadataId: 'javascript' }), 409, (e) => /slug "web"/.test(e.message));
    await rejects(sources.createSource({ slug: 'Bad Slug', enabled: true, metadataId: 'javascript' }), 400, (e) => e.field === 'slug');
    await rejects(sources.createSource({ slug: 'x', enabled: true, metadataId: 'cobol' }), 400, (e) => e.field === 'metadataId');

    // Pagination: 2 + 1, with cursors.
    const p1 = (await sources.listSources({ count: 2 })).body.data!;
    assert.equal(p1.sources.length, 2);
    assert.equal(p1.pagination.totalEntries, 3);
    const p2 = (await sources.listSources({ count: 2, cursor: p1.pagination.next! })).body.data!;
    assert.equal(p2.sources.length, 1);
    assert.equal(p2.pagination.next ?? null, null);
    assert.deepEqual([...p1.sources, ...p2.sources].map((s) => s.id).sort(), [...ids].sort());
    await rejects(sources.listSources({ count: 500 }), 400, (e) => e.field === 'pagination.count');

    const web = (await sources.getSource(ids[0]!)).body.data!.source;
    await sources.updateSource(web.id, { name: 'Website' });
    await rejects(sources.getSource('nope'), 404, (e) => e.type === 'not-found');

    // A webhook destination: settings validated with the field named; the secret never comes back.
    const destinations = client(DestinationsApi, sy.url, owner);
    await rejects(destinations.createDestination({ sourceId: web.id, metadataId: 'webhook', settings: { sharedSecret: 'x' } }), 400,
      (e) => (e.field ?? '').startsWith('settings.urls'));
    const d = (await destinations.createDestination({
      sourceId: web.id, metadataId: 'webhook', name: 'Orders hook', enabled: true, settings: { urls: [sink.url], sharedSecret: 'a-long-shared-secret' },
    })).body.data!.destination;
    assert.equal(d.settings.sharedSecret, '••••••••cret');
    await rejects(destinations.createDestination({ sourceId: web.id, metadataId: 'webhook', name: 'Orders hook', settings: { urls: [sink.url] } }), 409,
      (e) => /unique per source/.test(e.message));

    // A filter that drops test events, created through DestinationFiltersApi.
    const filters = client(DestinationFiltersApi, sy.url, owner);
    await rejects(filters.createFilterForDestination(d.id, { sourceId: web.id, if: 'event = ', actions: [{ type: DestinationFilterActionV1.TypeEnum.DROP }], title: 'bad', enabled: true }), 400,
      (e) => e.field === 'if');
    const f = (await filters.createFilterForDestination(d.id, {
      sourceId: web.id, if: 'event = "Test"', actions: [{ type: DestinationFilterActionV1.TypeEnum.DROP }], title: 'No tests', enabled: true,
    })).body.data!.filter;
    assert.equal((await filters.listFiltersFromDestination(d.id, { count: 10 })).body.data!.filters[0]!.id, f.id);

    // Events sent now reach the webhook, minus the filtered one.
    const auth = `Basic ${Buffer.from(`${web.writeKeys[0]}:`).toString('base64')}`;
    await new Promise((r) => setTimeout(r, 1500)); // the router picks the new instance up on its next poll
    for (const event of ['Test', 'Order Completed']) {
      const res = await fetch(`${sy.url}/v1/track`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'u1', event }) });
      assert.equal(res.status, 200);
    }
    await sink.waitFor(1);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(sink.received.map((r) => (JSON.parse(r.body) as { event: string }).event), ['Order Completed']);

    // A read-only token can look but not save; a source admin scoped to one source sees only it.
    const mk = async (roleId: string, resources: { type: string; id: string }[]) => {
      const r = await fetch(`${sy.url}/tokens`, {
        method: 'POST', headers: { authorization: `Bearer ${owner}`, 'content-type': 'application/json' },
        body: JSON.stringify({ description: roleId, permissions: [{ roleId, resources }] }),
      });
      return ((await r.json()) as { data: { token: string } }).data.token;
    };
    const readOnly = await mk('workspace-read-only', [{ type: 'WORKSPACE', id: 'acme' }]);
    assert.equal((await client(SourcesApi, sy.url, readOnly).listSources({ count: 10 })).body.data!.sources.length, 3);
    await rejects(client(SourcesApi, sy.url, readOnly).updateSource(web.id, { enabled: false }), 403, (e) => e.type === 'forbidden');
    await rejects(client(DestinationFiltersApi, sy.url, readOnly).removeFilterFromDestination(d.id, f.id), 403, (e) => e.type === 'forbidden');
    const scoped = await mk('source-admin', [{ type: 'SOURCE', id: ids[1]! }]);
    const scopedList = (await client(SourcesApi, sy.url, scoped).listSources({ count: 10 })).body.data!.sources;
    assert.deepEqual(scopedList.map((s) => s.id), [ids[1]]);
    await rejects(client(SourcesApi, sy.url, scoped).updateSource(web.id, { enabled: false }), 404, (e) => e.type === 'not-found');
    await client(SourcesApi, sy.url, scoped).updateSource(ids[1]!, { enabled: false });
    await rejects(client(AuditTrailApi, sy.url, scoped).listAuditEvents({ count: 10 }), 403, (e) => e.type === 'forbidden');

    const roles = (await client(IAMRolesApi, sy.url, owner).listRoles({ count: 10 })).body.data!.roles;
    assert.ok(roles.some((r) => r.name === 'Workspace Owner') && roles.some((r) => r.name === 'Source Admin'));

    // The audit trail: who did what, newest first, filterable by resource.
    const audit = client(AuditTrailApi, sy.url, owner);
    const events = (await audit.listAuditEvents({ count: 50 }, undefined, undefined, web.id)).body.data!.events;
    assert.deepEqual(events.map((e) => e.type).reverse(), ['Source Created', 'Source Modified']);
    assert.equal(events[0]!.actor, 'token automation');
    const all = (await audit.listAuditEvents({ count: 200 })).body.data!.events.map((e) => e.type);
    for (const t of ['Access Token Created', 'Destination Created', 'Destination Filter Created']) assert.ok(all.includes(t), `${t} in ${all.join(', ')}`);
    assert.ok(!JSON.stringify(all).includes('a-long-shared-secret'));

    // The configuration exported as a workspace file parses back; secrets only on request.
    const exported = await (await fetch(`${sy.url}/api/v1/workspace/export`, { headers: { authorization: `Bearer ${owner}` } })).text();
    assert.ok(!exported.includes('a-long-shared-secret'));
    assert.match(exported, /# Secrets left out[\s\S]*settings\.sharedSecret/);
    const withSecrets = await (await fetch(`${sy.url}/api/v1/workspace/export?includeSecrets=true`, { headers: { authorization: `Bearer ${owner}` } })).text();
    const reparsed = parseWorkspaceFile(withSecrets, 'export.yaml', destinationTypes);
    assert.ok(reparsed.ok, JSON.stringify(!reparsed.ok && reparsed.error));
    assert.equal(reparsed.value.destinations.find((x) => x.id === d.id)?.settings.sharedSecret, 'a-long-shared-secret');
    assert.equal(reparsed.value.destinations.find((x) => x.id === d.id)?.filters[0]?.if, 'event = "Test"');
    assert.equal((await fetch(`${sy.url}/api/v1/workspace/export`, { headers: { authorization: `Bearer ${readOnly}` } })).status, 403);

    // The CLI makes a token without a browser, against the same data dir, while the server runs.
    const cli = spawnSync(process.execPath, [BIN, 'tokens', 'create', '--role', 'owner', '--description', 'ops', '--data-dir', sy.dataDir], { encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    const cliToken = cli.stdout.trim();
    assert.deepEqual({ ...(await client(WorkspacesApi, sy.url, cliToken).getWorkspace()).body.data!.workspace }, { id: 'acme', slug: 'acme', name: 'acme' });
    assert.notEqual(spawnSync(process.execPath, [BIN, 'tokens', 'create', '--role', 'king', '--data-dir', sy.dataDir], { encoding: 'utf8' }).status, 0);

    // Deleting the source removes its destination with it.
    await sources.deleteSource(web.id);
    await rejects(destinations.getDestination(d.id), 404, (e) => e.type === 'not-found');
  } finally {
    await h.cleanup();
  }
});
