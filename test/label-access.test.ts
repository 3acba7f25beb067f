/**
 * Label-based access (issue #7): a Source Admin or Source Read-only role on the
 * workspace, refined by labels, covers the sources carrying them, through the
 * official Public API client: tokens and invited users, a source labelled later,
 * several keys and values, and the bad inputs (labels on a SOURCE resource or on an
 * owner, a label that does not exist).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IAMUsersApi, LabelsApi, SourcesApi } from '@segment/public-api-sdk-typescript';
import { client, rejects, type ApiError } from './helpers/public-api.js';
import { Harness } from './helpers/harness.js';


test('a source role scoped by labels covers the sources carrying them, for tokens and invited users', async () => {
  const h = new Harness();
  try {
    const sy = await h.start({ workspace: { workspace: { slug: 'acme' }, sources: [], destinations: [] } });
    const post = async (path: string, body: unknown, token?: string) => fetch(`${sy.url}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body),
    });
    const created = await post('/tokens', { description: 'owner', permissions: [{ roleId: 'workspace-owner', resources: [{ type: 'WORKSPACE', id: 'acme' }] }] });
    const owner = ((await created.json()) as { data: { token: string } }).data.token;

    const labels = client(LabelsApi, sy.url, owner);
    // environment:prod and environment:dev exist in every workspace, as on Segment; team:growth is made here.
    await labels.createLabel({ label: { key: 'team', value: 'growth' } });
    const all = (await labels.listLabels()).body.data!.labels.map((l) => `${l.key}:${l.value}`);
    for (const l of ['environment:prod', 'environment:dev', 'team:growth']) assert.ok(all.includes(l), l);
    const sources = client(SourcesApi, sy.url, owner);
    const ids: Record<string, string> = {};
    const make = async (slug: string, l: { key: string; value: string }[]) => {
      ids[slug] = (await sources.createSource({ slug, enabled: true, metadataId: 'javascript' })).body.data!.source.id;
      if (l.length > 0) await sources.addLabelsToSource(ids[slug]!, { labels: l });
    };
    await make('web', [{ key: 'environment', value: 'prod' }]);
    await make('ios', [{ key: 'environment', value: 'dev' }]);
    await make('backend', [{ key: 'environment', value: 'prod' }, { key: 'team', value: 'growth' }]);
    await make('unlabelled', []);

    const token = async (roleId: string, resources: unknown[]) => {
      const r = await post('/tokens', { description: roleId, permissions: [{ roleId, resources }] }, owner);
      assert.equal(r.status, 201, await r.clone().text());
      return ((await r.json()) as { data: { token: string } }).data.token;
    };
    const visible = async (t: string) => (await client(SourcesApi, sy.url, t).listSources({ count: 50 })).body.data!.sources.map((s) => s.slug).sort();
    const prod = { key: 'environment', value: 'prod' };

    // environment:prod → web and backend; it edits them, and neither sees nor edits the others, nor creates sources.
    const prodAdmin = await token('source-admin', [{ type: 'WORKSPACE', id: 'acme', labels: [prod] }]);
    assert.deepEqual(await visible(prodAdmin), ['backend', 'web']);
    await client(SourcesApi, sy.url, prodAdmin).updateSource(ids.web!, { name: 'Website' });
    await rejects(client(SourcesApi, sy.url, prodAdmin).updateSource(ids.ios!, { enabled: false }), 404, (e) => e.type === 'not-found');
    await rejects(client(SourcesApi, sy.url, prodAdmin).createSource({ slug: 'new', enabled: true, metadataId: 'javascript' }), 403, (e) => e.type === 'forbidden');
    // Two keys: both must match. Two values of one key: either.
    assert.deepEqual(await visible(await token('source-read-only', [{ type: 'WORKSPACE', id: 'acme', labels: [prod, { key: 'team', value: 'growth' }] }])), ['backend']);
    const anyEnv = await token('source-read-only', [{ type: 'WORKSPACE', id: 'acme', labels: [prod, { key: 'environment', value: 'dev' }] }]);
    assert.deepEqual(await visible(anyEnv), ['backend', 'ios', 'web']);
    await rejects(client(SourcesApi, sy.url, anyEnv).updateSource(ids.ios!, { enabled: false }), 403, (e) => e.type === 'forbidden');
    // A label and a source: both covered.
    assert.deepEqual(await visible(await token('source-admin', [{ type: 'WORKSPACE', id: 'acme', labels: [{ key: 'environment', value: 'dev' }] }, { type: 'SOURCE', id: ids.unlabelled! }])), ['ios', 'unlabelled']);

    // A source labelled later is covered from the next request on; one that loses the label is not.
    await sources.replaceLabelsInSource(ids.unlabelled!, { labels: [prod] });
    await sources.replaceLabelsInSource(ids.web!, { labels: [{ key: 'environment', value: 'dev' }] });
    assert.deepEqual(await visible(prodAdmin), ['backend', 'unlabelled']);

    // Bad input: the field is named, nothing is created.
    const refused = async (permissions: unknown, status: number, field: RegExp) => {
      const r = await post('/tokens', { description: 'bad', permissions }, owner);
      assert.equal(r.status, status, JSON.stringify(permissions));
      const e = ((await r.json()) as { errors: { field?: string; message: string }[] }).errors[0]!;
      assert.match(e.field ?? '', field, e.message);
      return e.message;
    };
    assert.match(await refused([{ roleId: 'source-admin', resources: [{ type: 'SOURCE', id: ids.ios, labels: [prod] }] }], 400, /^permissions\.0\.resources\.0\.labels$/), /WORKSPACE resource only/);
    assert.match(await refused([{ roleId: 'workspace-owner', resources: [{ type: 'WORKSPACE', id: 'acme', labels: [prod] }] }], 400, /^permissions\.0\.resources$/), /source roles only/);
    assert.match(await refused([{ roleId: 'source-admin', resources: [{ type: 'WORKSPACE', id: 'acme', labels: [prod, { key: 'environment', value: 'staging' }] }] }], 404, /^permissions\.0\.resources\.0\.labels\.1$/), /environment:staging does not exist/);
    await refused([{ roleId: 'source-admin' }], 400, /^permissions\.0\.resources$/);

    // An invited user, labels on the permission as InvitePermissionV1 has them (no resources).
    const users = client(IAMUsersApi, sy.url, owner);
    const invite = await post('/invites', { invites: [{ email: 'ada@example.com', permissions: [{ roleId: 'source-admin', labels: [{ key: 'team', value: 'growth' }] }] }] }, owner);
    assert.equal(invite.status, 200, await invite.clone().text());
    const link = ((await invite.json()) as { data: { inviteUrls: string[] } }).data.inviteUrls[0]!;
    const accepted = await post('/auth/accept-invite', { token: decodeURIComponent(link.split('token=')[1]!), name: 'Ada', password: 'a-long-password-1' });
    assert.equal(accepted.status, 200, await accepted.clone().text());
    const cookie = accepted.headers.get('set-cookie')!.split(';')[0]!;
    const asAda = async () => ((await (await fetch(`${sy.url}/sources`, { headers: { cookie } })).json()) as { data: { sources: { slug: string }[] } }).data.sources.map((s) => s.slug).sort();
    assert.deepEqual(await asAda(), ['backend']);
    const ada = (await users.listUsers({ count: 10 })).body.data!.users.find((u) => u.email === 'ada@example.com')!;
    assert.deepEqual(ada.permissions![0]!.resources.map((r) => ({ type: r.type, labels: r.labels?.map((l) => ({ key: l.key, value: l.value })) })), [{ type: 'WORKSPACE', labels: [{ key: 'team', value: 'growth' }] }]);
    // The owner widens her scope with replacePermissionsForUser: labels on the resource.
    await users.replacePermissionsForUser(ada.id, { permissions: [{ roleId: 'source-admin', resources: [{ id: 'acme', type: 'WORKSPACE' as never, labels: [{ key: 'environment', value: 'dev' }] }] }] });
    assert.deepEqual(await asAda(), ['ios', 'web']);
    const again = (await users.getUser(ada.id)).body.data!.user;
    assert.deepEqual(again.permissions![0]!.resources[0]!.labels?.map((l) => ({ key: l.key, value: l.value })), [{ key: 'environment', value: 'dev' }]);
  } finally {
    await h.cleanup();
  }
});

test('sources the workspace file labels are covered by label-scoped roles; the export keeps their labels', async () => {
  const h = new Harness();
  try {
    const sy = await h.start({
      workspace: `workspace: { slug: acme }
sources:
  - slug: web
    writeKey: wk_web
    labels: [{ key: environment, value: prod }, { key: team, value: growth }]
  - slug: app
    writeKey: wk_app
destinations: []
`,
    });
    const post = async (path: string, body: unknown, token?: string) => fetch(`${sy.url}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body),
    });
    const owner = ((await (await post('/tokens', { description: 'owner', permissions: [{ roleId: 'workspace-owner', resources: [{ type: 'WORKSPACE', id: 'acme' }] }] })).json()) as { data: { token: string } }).data.token;
    // team:growth did not exist: the file made it.
    const labels = (await client(LabelsApi, sy.url, owner).listLabels()).body.data!.labels.map((l) => `${l.key}:${l.value}`);
    assert.ok(labels.includes('team:growth'), labels.join(', '));
    const r = await post('/tokens', { description: 'growth', permissions: [{ roleId: 'source-read-only', resources: [{ type: 'WORKSPACE', id: 'acme', labels: [{ key: 'team', value: 'growth' }] }] }] }, owner);
    const growth = ((await r.json()) as { data: { token: string } }).data.token;
    const seen = (await client(SourcesApi, sy.url, growth).listSources({ count: 10 })).body.data!.sources;
    assert.deepEqual(seen.map((s) => [s.slug, s.labels.map((l) => `${l.key}:${l.value}`)]), [['web', ['environment:prod', 'team:growth']]]);
    const exported = await (await fetch(`${sy.url}/api/v1/workspace/export`, { headers: { authorization: `Bearer ${owner}` } })).text();
    assert.match(exported, /slug: web[\s\S]*labels:[\s\S]*key: team[\s\S]*value: growth/);
  } finally {
    await h.cleanup();
  }
});
