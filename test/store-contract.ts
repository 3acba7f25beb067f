/**
 * The control-plane store contract: both backends (SQLite, PostgreSQL) run
 * these tests through the same query layer. store.test.ts runs them on SQLite
 * files, store-postgres.test.ts on a throwaway PostgreSQL schema per test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWorkspaceFile } from '../src/config/workspace-file.js';
import { WEBHOOK_TYPES as types, YAML_FILE } from './helpers/workspace-fixture.js';
import type { WorkspacePlan } from '../src/store/plan.js';
import {
  ControlPlaneConflictError, ControlPlaneEmptyError, ControlPlaneFileOwnedError, ControlPlaneNotFoundError, type ControlPlane,
} from '../src/store/control-plane.js';

/** One fresh store location (a SQLite file, a PostgreSQL schema). */
export interface StoreLocation {
  /** Opens a store on this location (several may be open at once: other threads/processes). */
  open(opts?: { secretKey?: Buffer; pollMs?: number }): Promise<ControlPlane>;
  /** Raw SQL on the location, `?` placeholders. */
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Closes every store opened here and removes the location. */
  dispose(): Promise<void>;
}

export interface StoreFactory {
  create(): Promise<StoreLocation>;
  /**
   * False for SQLite: two connections in one thread cannot both hold a write
   * transaction across awaits (the second BEGIN IMMEDIATE blocks the thread the
   * first needs), so the test opens them one after the other there; threads and
   * processes, which is what the server runs, each have their own event loop.
   */
  concurrentOpens: boolean;
}

export function plan(text = YAML_FILE): WorkspacePlan {
  const parsed = parseWorkspaceFile(text, 'workspace.yaml', types);
  if (!parsed.ok) assert.fail(JSON.stringify(parsed.error));
  return parsed.value;
}

export const key = Buffer.alloc(32, 7);

const source = (id: string, slug: string, writeKey: string) => ({
  id, slug, name: slug, enabled: true, metadataId: 'javascript', settings: {}, writeKey, labels: [],
});

export function storeContract(name: string, factory: StoreFactory): void {
  /** Runs `fn` on a fresh location and always disposes of it. */
  const withLocation = (fn: (loc: StoreLocation) => Promise<void>) => async () => {
    const loc = await factory.create();
    try {
      await fn(loc);
    } finally {
      await loc.dispose();
    }
  };
  const t = (title: string, fn: (loc: StoreLocation) => Promise<void>) => test(`${name}: ${title}`, withLocation(fn));

  t('the example workspace file applies: ids derived, secret decrypted, write key resolves', async (loc) => {
    const store = await loc.open({ secretKey: key });
    const report = await store.applyWorkspaceFile(plan());
    assert.equal(report.changed, true);
    assert.equal(report.version, 1);
    assert.deepEqual(report.created, { workspaces: ['acme'], sources: ['web-prod'], destinations: ['orders-webhook'] });

    const snap = store.snapshot();
    assert.equal(snap.version, 1);
    assert.deepEqual(snap.workspace, { id: 'acme', slug: 'acme', name: 'acme', rateLimitPerSecond: 0 });
    assert.deepEqual(snap.sources, [
      {
        id: 'web-prod', workspaceId: 'acme', slug: 'web-prod', name: 'web-prod', enabled: true, writeKeys: ['wk_web_prod'],
        metadataId: 'http-api', settings: {}, labels: [], origin: 'file',
      },
    ]);
    assert.deepEqual(snap.destinations, [{
      id: 'orders-webhook', workspaceId: 'acme', name: 'Orders webhook', type: 'webhook', enabled: true, sourceIds: ['web-prod'],
      settings: { urls: ['http://127.0.0.1:9999/hook'], headers: { 'X-Token': 'abc' }, sharedSecret: 's3cret' },
      filters: [], origin: 'file',
    }]);
    assert.equal(store.sourceByWriteKey('wk_web_prod')?.id, 'web-prod');
    assert.equal(store.sourceByWriteKey('nope'), undefined);
  });

  t('re-applying the same file changes nothing; a changed setting bumps the version', async (loc) => {
    const store = await loc.open({ secretKey: key });
    await store.applyWorkspaceFile(plan());
    const first = store.snapshot();

    const again = await store.applyWorkspaceFile(plan());
    assert.equal(again.changed, false);
    assert.equal(again.version, 1);
    assert.equal(store.version(), 1);
    assert.equal(store.snapshot(), first, 'the cached snapshot is reused while the version holds');

    const changed = await store.applyWorkspaceFile(plan(YAML_FILE.replace('X-Token: abc', 'X-Token: xyz')));
    assert.equal(changed.changed, true);
    assert.equal(changed.version, 2);
    assert.deepEqual(changed.updated.destinations, ['orders-webhook']);
    assert.deepEqual(changed.updated.sources, []);
    assert.deepEqual(store.snapshot().destinations[0]!.settings.headers, { 'X-Token': 'xyz' });
  });

  t('removing a destination from the file deletes it but keeps one created through the API', async (loc) => {
    const store = await loc.open({ secretKey: key });
    await store.applyWorkspaceFile(plan());
    const now = Date.now();
    await loc.query(`INSERT INTO cp_destinations (id, workspace_id, name, type, enabled, settings, secret_settings, origin, created_at, updated_at)
      VALUES ('api-hook', 'acme', 'API hook', 'webhook', 1, '{"urls":["http://x.test/"]}', '[]', 'api', ?, ?)`, [now, now]);
    await loc.query(`INSERT INTO cp_destination_sources (destination_id, source_id, name) VALUES ('api-hook', 'web-prod', 'API hook')`);

    const withoutDestinations = YAML_FILE.slice(0, YAML_FILE.indexOf('destinations:'));
    const report = await store.applyWorkspaceFile(plan(withoutDestinations));
    assert.deepEqual(report.deleted.destinations, ['orders-webhook']);
    assert.deepEqual(store.snapshot().destinations.map((d) => [d.id, d.sourceIds]), [['api-hook', ['web-prod']]]);
  });

  t('secrets are encrypted in the table and decrypted in the snapshot', async (loc) => {
    const store = await loc.open({ secretKey: key });
    await store.applyWorkspaceFile(plan());
    const [row] = await loc.query<{ settings: string }>("SELECT settings FROM cp_destinations WHERE id = 'orders-webhook'");
    assert.match((JSON.parse(row!.settings) as { sharedSecret: string }).sharedSecret, /^enc:v1:/);
    assert.ok(!row!.settings.includes('s3cret'));
    assert.equal(store.snapshot().destinations[0]!.settings.sharedSecret, 's3cret');
  });

  t('another store on the same location sees an apply after refresh()', async (loc) => {
    const reader = await loc.open({ secretKey: key, pollMs: 0 });
    const writer = await loc.open({ secretKey: key, pollMs: 0 });
    await writer.applyWorkspaceFile(plan());
    await reader.refresh();
    assert.equal(reader.snapshot().version, 1);
    await writer.applyWorkspaceFile(plan(YAML_FILE.replace('wk_web_prod', 'wk_rotated')));
    await reader.refresh();
    assert.equal(reader.version(), 2);
    assert.equal(reader.sourceByWriteKey('wk_web_prod'), undefined);
    assert.equal(reader.sourceByWriteKey('wk_rotated')?.id, 'web-prod');
  });

  t('another store hears of a change by itself (polling or notification) and calls onChange', async (loc) => {
    const reader = await loc.open({ secretKey: key, pollMs: 50 });
    const writer = await loc.open({ secretKey: key, pollMs: 0 });
    const seen: number[] = [];
    const heard = new Promise<void>((resolve) => reader.onChange((v) => {
      seen.push(v);
      resolve();
    }));
    await writer.applyWorkspaceFile(plan());
    await Promise.race([heard, new Promise((_, reject) => setTimeout(() => reject(new Error('no change within 2 s')), 2000))]);
    assert.deepEqual(seen, [1]);
    assert.equal(reader.sourceByWriteKey('wk_web_prod')?.id, 'web-prod');
  });

  t('an empty store says so; migrations are idempotent and leave other tables alone', async (loc) => {
    await loc.query('CREATE TABLE log_events (seq INTEGER PRIMARY KEY)');
    const store = await loc.open({ secretKey: key });
    assert.throws(() => store.snapshot(), ControlPlaneEmptyError);
    assert.equal(store.sourceByWriteKey('wk_web_prod'), undefined);
    await loc.open({ secretKey: key });
    const migrations = await loc.query<{ version: number }>("SELECT version FROM schema_migrations WHERE component = 'control_plane' ORDER BY version");
    assert.deepEqual(migrations.map((m) => Number(m.version)), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(await loc.query('SELECT seq FROM log_events'), []);
  });

  t('stores opened at the same time migrate once', async (loc) => {
    const stores = [];
    if (factory.concurrentOpens) stores.push(...await Promise.all([1, 2, 3].map(() => loc.open({ secretKey: key }))));
    else for (let i = 0; i < 3; i++) stores.push(await loc.open({ secretKey: key }));
    assert.deepEqual(stores.map((s) => s.version()), [0, 0, 0]);
    const migrations = await loc.query<{ version: number }>("SELECT version FROM schema_migrations WHERE component = 'control_plane' ORDER BY version");
    assert.deepEqual(migrations.map((m) => Number(m.version)), [1, 2, 3, 4, 5, 6]);
  });

  t('renaming the workspace id moves its sources and destinations', async (loc) => {
    const store = await loc.open({ secretKey: key });
    await store.applyWorkspaceFile(plan());
    const report = await store.applyWorkspaceFile(plan(YAML_FILE.replace('{ slug: acme }', '{ id: ws_acme, slug: acme }')));
    assert.deepEqual(report.deleted.workspaces, ['acme']);
    assert.deepEqual(report.created.workspaces, ['ws_acme']);
    const snap = store.snapshot();
    assert.equal(snap.workspace.id, 'ws_acme');
    assert.deepEqual(snap.sources.map((s) => s.workspaceId), ['ws_acme']);
    assert.deepEqual(snap.destinations.map((d) => [d.workspaceId, d.sourceIds]), [['ws_acme', ['web-prod']]]);
  });

  t('a write key moves between sources in one apply', async (loc) => {
    const store = await loc.open({ secretKey: key });
    const two = (a: string, b: string) => `workspace: { slug: acme }
sources:
  - { slug: one, writeKey: ${a} }
  - { slug: two, writeKey: ${b} }
`;
    await store.applyWorkspaceFile(plan(two('k1', 'k2')));
    await store.applyWorkspaceFile(plan(two('k2', 'k1')));
    assert.equal(store.sourceByWriteKey('k1')?.id, 'two');
    assert.equal(store.sourceByWriteKey('k2')?.id, 'one');
  });

  t('conflicts with API-created entities fail clearly and apply nothing', async (loc) => {
    const store = await loc.open({ secretKey: key });
    await store.applyWorkspaceFile(plan(YAML_FILE.slice(0, YAML_FILE.indexOf('destinations:'))));
    const now = Date.now();
    await loc.query(`INSERT INTO cp_sources (id, workspace_id, slug, name, enabled, origin, created_at, updated_at)
      VALUES ('api-src', 'acme', 'api-src', 'API source', 1, 'api', ?, ?)`, [now, now]);
    await loc.query("INSERT INTO cp_write_keys (write_key, source_id) VALUES ('wk_taken', 'api-src')");
    await loc.query(`INSERT INTO cp_destinations (id, workspace_id, name, type, enabled, settings, secret_settings, origin, created_at, updated_at)
      VALUES ('api-hook', 'acme', 'Orders webhook', 'webhook', 1, '{}', '[]', 'api', ?, ?)`, [now, now]);
    await loc.query(`INSERT INTO cp_destination_sources (destination_id, source_id, name) VALUES ('api-hook', 'web-prod', 'Orders webhook')`);
    const version = store.version();

    await assert.rejects(store.applyWorkspaceFile(plan(YAML_FILE)), (err: Error) =>
      err instanceof ControlPlaneConflictError && /instance named "Orders webhook".*api-hook/.test(err.message));
    await assert.rejects(store.applyWorkspaceFile(plan(YAML_FILE.replace('wk_web_prod', 'wk_taken'))), (err: Error) =>
      err instanceof ControlPlaneConflictError && /write key "wk_taken".*"api-src"/.test(err.message));
    await store.refresh();
    assert.equal(store.version(), version);
    assert.equal(store.sourceByWriteKey('wk_web_prod')?.id, 'web-prod');
  });

  t('API writes create, change and delete sources and destinations, bumping the version each time', async (loc) => {
    const store = await loc.open({ secretKey: key });
    await store.admin.ensureWorkspace({ id: 'default', slug: 'default', name: 'Default' });
    const v0 = store.version();
    await store.admin.createSource(source('s1', 'web', 'wk1'));
    assert.equal(store.version(), v0 + 1);
    assert.equal(store.sourceByWriteKey('wk1')?.origin, 'api');

    await assert.rejects(store.admin.createSource(source('s2', 'web', 'wk2')), ControlPlaneConflictError, 'duplicate slug');
    await assert.rejects(store.admin.createSource(source('s2', 'app', 'wk1')), /write key "wk1" is already used by source "s1"/);
    // A failed write leaves nothing half-done.
    await store.refresh();
    assert.equal(store.snapshot().sources.length, 1);
    assert.equal(store.version(), v0 + 1);

    await store.admin.addWriteKey('s1', 'wk1b');
    await store.admin.removeWriteKey('s1', 'wk1');
    assert.deepEqual(store.snapshot().sources[0]!.writeKeys, ['wk1b']);
    await assert.rejects(store.admin.removeWriteKey('s1', 'wk1b'), /last one/);

    await assert.rejects(store.admin.updateSource('s1', { labels: [{ key: 'team', value: 'x' }] }), ControlPlaneNotFoundError);
    await store.admin.updateSource('s1', { labels: [{ key: 'environment', value: 'prod' }], enabled: false });
    assert.deepEqual(store.snapshot().sources[0]!.labels, [{ key: 'environment', value: 'prod' }]);
    assert.equal(store.snapshot().sources[0]!.enabled, false);

    const hook = { id: 'd1', name: 'Hook', type: 'webhook', enabled: true, sourceIds: ['s1'], settings: { urls: ['http://x'], sharedSecret: 'p' }, secretSettings: ['sharedSecret'] };
    await store.admin.createDestination(hook);
    await assert.rejects(store.admin.createDestination({ ...hook, id: 'd2' }), /already has a destination instance named "Hook"/);
    // The secret is encrypted at rest and decrypted in the snapshot.
    const [raw] = await loc.query<{ settings: string }>("SELECT settings FROM cp_destinations WHERE id = 'd1'");
    assert.ok(!raw!.settings.includes('"p"'));
    assert.equal(store.snapshot().destinations[0]!.settings.sharedSecret, 'p');

    await store.admin.setDestinationFilters('d1', [{ id: 'f1', sourceId: 's1', destinationId: 'd1', title: 'no tests', enabled: true, if: 'event = "Test"', actions: [{ type: 'DROP' }] }]);
    const savedAt = store.snapshot().destinations[0]!.filters[0]!.savedAt;
    await store.admin.updateDestination('d1', { name: 'Hook 2' });
    assert.equal(store.snapshot().destinations[0]!.name, 'Hook 2');
    assert.equal(store.snapshot().destinations[0]!.settings.sharedSecret, 'p', 'settings kept when not patched');
    assert.equal(store.snapshot().destinations[0]!.filters[0]!.savedAt, savedAt);

    // Instance names stay unique per source when a rename would collide.
    await store.admin.createDestination({ ...hook, id: 'd3', name: 'Other' });
    await assert.rejects(store.admin.updateDestination('d3', { name: 'Hook 2' }), ControlPlaneConflictError);
    await store.admin.deleteDestination('d3');

    // Labels: listed, created, deleted (and taken off the sources that carried them).
    assert.deepEqual((await store.admin.listLabels()).map((l) => `${l.key}:${l.value}`), ['environment:dev', 'environment:prod', 'environment:qa']);
    await store.admin.createLabel({ key: 'team', value: 'growth', description: 'Growth' });
    await assert.rejects(store.admin.createLabel({ key: 'team', value: 'growth' }), /already exists/);
    await store.admin.deleteLabel('environment', 'prod');
    assert.deepEqual(store.snapshot().sources[0]!.labels, []);

    // Deleting the source takes its only-source API destinations with it.
    assert.deepEqual(await store.admin.deleteSource('s1'), { deletedDestinations: ['d1'] });
    assert.equal(store.snapshot().destinations.length, 0);
    assert.equal(store.sourceByWriteKey('wk1b'), undefined);
  });

  t('entities defined in the workspace file cannot be changed through the API', async (loc) => {
    const store = await loc.open({ secretKey: key });
    const filePlan: WorkspacePlan = {
      workspace: { id: 'acme', slug: 'acme', name: 'acme', rateLimitPerSecond: 0 },
      sources: [{ id: 'web', slug: 'web', name: 'web', enabled: true, writeKeys: ['wk'], labels: [{ key: 'team', value: 'growth' }, { key: 'environment', value: 'prod' }] }],
      destinations: [],
    };
    await store.applyWorkspaceFile(filePlan);
    // The file's labels are the source's, and a label the workspace lacked is created.
    assert.deepEqual(store.snapshot().sources[0]!.labels, [{ key: 'team', value: 'growth' }, { key: 'environment', value: 'prod' }]);
    assert.ok((await store.admin.listLabels()).some((l) => l.key === 'team' && l.value === 'growth'));
    await assert.rejects(store.admin.updateSource('web', { enabled: false }), ControlPlaneFileOwnedError);
    await assert.rejects(store.admin.deleteSource('web'), /defined in the workspace file/);
    // An API source survives a later apply of the file.
    await store.admin.createSource(source('api-src', 'api', 'wk-api'));
    await store.applyWorkspaceFile(filePlan);
    assert.deepEqual(store.snapshot().sources.map((s) => [s.id, s.origin]), [['api-src', 'api'], ['web', 'file']]);
  });

  t('updateDestinationSecret re-encrypts one secret and bumps the version; refuses what it must not write', async (loc) => {
    const store = await loc.open({ secretKey: key });
    await store.applyWorkspaceFile(plan());
    const version = await store.updateDestinationSecret('orders-webhook', 'sharedSecret', 'rotated');
    assert.equal(version, 2);
    assert.equal(store.snapshot().destinations[0]!.settings.sharedSecret, 'rotated');
    await assert.rejects(store.updateDestinationSecret('nope', 'sharedSecret', 'x'), /destination "nope" does not exist/);
    await assert.rejects(store.updateDestinationSecret('orders-webhook', 'headers', {}), /"headers" is not a secret setting/);
    await store.refresh();
    assert.equal(store.version(), 2);
  });

  t('API warehouses are kept encrypted, versioned, and unlinked from sources the file or the API deletes', async (loc) => {
    const store = await loc.open({ secretKey: key });
    const filePlan = (sources: string[]): WorkspacePlan => ({
      workspace: { id: 'acme', slug: 'acme', name: 'acme', rateLimitPerSecond: 0 },
      sources: sources.map((id) => ({ id, slug: id, name: id, enabled: true, writeKeys: [`wk-${id}`], labels: [] })),
      destinations: [],
    });
    await store.applyWorkspaceFile(filePlan(['web', 'app']));
    await store.admin.createSource({ id: 'api-src', slug: 'api-src', name: 'api-src', enabled: true, metadataId: 'node-js', settings: {}, writeKey: 'wk-api', labels: [] });
    const v0 = store.version();
    await store.admin.createWarehouse({ id: 'w1', name: 'PG', type: 'postgres', enabled: true, settings: { url: 'postgres://u:pw@h/db' }, secretSettings: ['url'] });
    assert.equal(store.version(), v0 + 1);
    const [row] = await loc.query<{ settings: string }>('SELECT settings FROM cp_warehouses');
    assert.doesNotMatch(row!.settings, /pw@/);
    for (const s of ['web', 'app', 'api-src']) assert.equal(await store.admin.connectWarehouseSource('w1', s), true);
    assert.equal(await store.admin.connectWarehouseSource('w1', 'web'), false);
    await assert.rejects(store.admin.connectWarehouseSource('w1', 'nope'), ControlPlaneNotFoundError);
    await store.admin.setWarehouseSyncOverrides('w1', [{ sourceId: 'app', collection: 'pages', enabled: false }]);
    await store.admin.setWarehouseSchedule('w1', { enabled: true, timezone: 'UTC', times: [{ hourOfDay: 3, enabled: true }] });
    const w = store.snapshot().warehouses[0]!;
    assert.deepEqual({ ...w, sourceIds: [...w.sourceIds].sort() }, {
      id: 'w1', workspaceId: 'acme', name: 'PG', type: 'postgres', enabled: true, sourceIds: ['api-src', 'app', 'web'],
      settings: { url: 'postgres://u:pw@h/db' }, syncOverrides: [{ sourceId: 'app', collection: 'pages', enabled: false }],
      schedule: { enabled: true, timezone: 'UTC', times: [{ hourOfDay: 3, enabled: true }] }, origin: 'api',
    });
    // The file drops `web`, the API deletes its source: the warehouse survives and loses both.
    await store.applyWorkspaceFile(filePlan(['app']));
    await store.admin.deleteSource('api-src');
    assert.deepEqual(store.snapshot().warehouses[0]!.sourceIds, ['app']);
    await store.admin.disconnectWarehouseSource('w1', 'app');
    assert.deepEqual(store.snapshot().warehouses[0]!.syncOverrides, [], 'the source\'s overrides go with it');
    await store.admin.updateWarehouse('w1', { enabled: false });
    assert.equal(store.snapshot().warehouses[0]!.settings.url, 'postgres://u:pw@h/db', 'an update without settings keeps them');
    await store.admin.deleteWarehouse('w1');
    assert.deepEqual(store.snapshot().warehouses, []);
    await assert.rejects(store.admin.deleteWarehouse('w1'), ControlPlaneNotFoundError);
  });

  t('functions: versions, deploys, restores; insert-function instances keep secrets sealed, one per destination', async (loc) => {
    const store = await loc.open({ secretKey: key });
    await store.applyWorkspaceFile(plan());
    const admin = store.admin;
    const secret = { name: 'token', label: 'Token', description: '', type: 'STRING' as const, required: true, sensitive: true };
    await admin.createFunction({
      id: 'ifnd_1', kind: 'INSERT_DESTINATION', displayName: 'Enrich', description: '', logoUrl: '',
      code: 'async function onTrack(e) { return e }', settings: [secret], createdBy: 'ann',
    });
    let f = store.snapshot().functions[0]!;
    assert.deepEqual([f.latest.version, f.deployed?.version, f.latest.settings], [1, 1, [secret]], 'a new function is deployed at once');
    await admin.updateFunction('ifnd_1', { code: 'async function onTrack(e) { e.x = 1; return e }', by: 'bob' });
    await admin.updateFunction('ifnd_1', { displayName: 'Enrich v2', by: 'bob' });
    f = store.snapshot().functions[0]!;
    assert.deepEqual([f.displayName, f.latest.version, f.latest.createdBy, f.deployed?.version], ['Enrich v2', 2, 'bob', 1], 'a rename adds no version; saved code is not deployed');
    assert.match(f.deployed!.code, /return e }$/);
    assert.equal(await admin.deployFunction('ifnd_1'), 2);
    assert.equal(store.snapshot().functions[0]!.deployed!.version, 2);
    assert.equal(await admin.restoreFunctionVersion('ifnd_1', 1, 'cy'), 3);
    assert.deepEqual((await admin.listFunctionVersions('ifnd_1')).map((v) => [v.version, v.createdBy]), [[3, 'cy'], [2, 'bob'], [1, 'ann']]);
    assert.equal(store.snapshot().functions[0]!.latest.code, 'async function onTrack(e) { return e }');
    await assert.rejects(admin.restoreFunctionVersion('ifnd_1', 9, 'cy'), ControlPlaneNotFoundError);

    await admin.createInsertFunction({ id: 'i1', functionId: 'ifnd_1', destinationId: 'orders-webhook', name: 'enrich', enabled: true, settings: { token: 'very-secret' } });
    const [row] = await loc.query<{ settings: string }>("SELECT settings FROM cp_insert_functions WHERE id = 'i1'");
    assert.doesNotMatch(row!.settings, /very-secret/, 'a sensitive setting is encrypted at rest');
    assert.deepEqual(store.snapshot().insertFunctions.map((i) => [i.id, i.destinationId, i.settings.token]), [['i1', 'orders-webhook', 'very-secret']]);
    await assert.rejects(admin.createInsertFunction({ id: 'i2', functionId: 'ifnd_1', destinationId: 'orders-webhook', name: 'again', enabled: true, settings: {} }), /one per destination/);
    await assert.rejects(admin.deleteFunction('ifnd_1'), /in use by insert function instance i1/);
    await admin.updateInsertFunction('i1', { enabled: false });
    assert.equal(store.snapshot().insertFunctions[0]!.settings.token, 'very-secret', 'an update without settings keeps them');
    // The file drops the destination: its insert function instance goes with it.
    await store.applyWorkspaceFile({ ...plan(), destinations: [] });
    assert.deepEqual(store.snapshot().insertFunctions, []);
    await admin.deleteFunction('ifnd_1');
    assert.deepEqual(store.snapshot().functions, []);
    assert.deepEqual(await loc.query('SELECT * FROM cp_function_versions'), [], 'versions go with the function');
  });

  t('users, sessions, invites, tokens and the audit trail store only hashes of secrets', async (loc) => {
    const store = await loc.open({ secretKey: key });
    const iam = store.iam;
    assert.equal(await iam.userCount(), 0);
    const owner = await iam.createUser({ email: 'Ada@example.com', name: 'Ada', password: 'correct horse', permissions: [{ roleId: 'workspace-owner', resources: [{ type: 'WORKSPACE', id: 'default' }] }] });
    await assert.rejects(iam.createUser({ email: 'ada@example.com', name: 'x', password: 'whatever1', permissions: [] }), /already exists/);
    assert.equal((await iam.verifyPassword('ada@example.com', 'correct horse'))?.id, owner.id);
    assert.equal(await iam.verifyPassword('ada@example.com', 'wrong'), undefined);
    assert.equal(await iam.verifyPassword('nobody@example.com', 'correct horse'), undefined);
    const [user] = await loc.query<{ password_hash: string }>('SELECT password_hash FROM cp_users');
    assert.match(user!.password_hash, /^scrypt\$32768\$8\$1\$/);
    assert.equal((await iam.getUser(owner.id))?.email, 'Ada@example.com');
    assert.deepEqual((await iam.listUsers(0, 10)).total, 1);

    const { sessionId, csrfToken } = await iam.createSession(owner.id, 60_000);
    assert.equal((await iam.session(sessionId))?.csrfToken, csrfToken);
    assert.deepEqual(await loc.query('SELECT id_hash FROM cp_sessions WHERE id_hash = ?', [sessionId]), [], 'the raw session id is not stored');
    await iam.deleteSession(sessionId);
    assert.equal(await iam.session(sessionId), undefined);

    const invite = await iam.createInvite('bob@example.com', [{ roleId: 'source-read-only', resources: [{ type: 'SOURCE', id: 's1' }] }], owner.id, 60_000);
    assert.deepEqual((await iam.listInvites()).map((i) => i.email), ['bob@example.com']);
    const bob = await iam.acceptInvite(invite, 'Bob', 'bobs password');
    assert.equal(bob?.permissions[0]?.roleId, 'source-read-only');
    assert.equal(await iam.acceptInvite(invite, 'Eve', 'eves password'), undefined, 'an invite works once');
    await iam.setPermissions(bob!.id, []);
    assert.deepEqual((await iam.getUser(bob!.id))?.permissions, []);
    assert.equal(await iam.deleteUsers([bob!.id]), 1);

    const { token, record } = await iam.createToken('ci', [{ roleId: 'workspace-owner', resources: [{ type: 'WORKSPACE', id: 'default' }] }], owner.id);
    assert.equal((await iam.tokenByValue(token))?.id, record.id);
    assert.equal(await iam.activeTokenCount(), 1);
    await iam.revokeToken(record.id);
    assert.equal(await iam.tokenByValue(token), undefined);
    assert.equal(await iam.activeTokenCount(), 0);
    await assert.rejects(iam.revokeToken(record.id), ControlPlaneNotFoundError);

    for (let i = 0; i < 5; i++) await iam.audit({ type: 'Source Modified', actor: 'ada@example.com', resourceId: `s${i % 2}`, resourceType: 'source', resourceName: 'web', before: { enabled: true }, after: { enabled: false } });
    const page = await iam.listAudit({ resourceId: 's1', offset: 0, count: 10 });
    assert.equal(page.total, 2);
    assert.deepEqual(page.entries[0]!.after, { enabled: false });
  });

  t('alert rules, their states and notifications are shared by every store on the location', async (loc) => {
    const a = await loc.open({ secretKey: key });
    const b = await loc.open({ secretKey: key });
    const at = '2026-01-01T00:00:00.000Z';
    const rule = {
      kind: 'delivery_rate' as const, destinationId: 'orders-webhook', belowPercent: 90, channels: [{ type: 'in_app' as const }], enabled: true,
      id: 'alert_b', createdBy: 'admin token', createdAt: at, updatedAt: at,
    };
    const volume = {
      kind: 'source_volume' as const, sourceId: 'web-prod', percentChange: 50, direction: 'any' as const,
      channels: [{ type: 'slack' as const, webhookUrl: 'https://hooks.example.com/x' }], enabled: false,
      id: 'alert_a', createdBy: 'ada', createdAt: at, updatedAt: at,
    };
    assert.deepEqual(await b.listAlertRules(), []);
    await a.putAlertRule(rule);
    await a.putAlertRule(volume);
    // No cache, no refresh(): the other store reads the rule at once.
    assert.deepEqual(await b.listAlertRules(), [{ rule: volume, state: 'ok' }, { rule, state: 'ok' }], 'ordered by id, new rules start ok');
    await b.setAlertRuleState('alert_b', 'firing');
    const edited = { ...rule, belowPercent: 50, updatedAt: '2026-01-02T00:00:00.000Z' };
    await a.putAlertRule(edited);
    assert.deepEqual(await b.getAlertRule('alert_b'), { rule: edited, state: 'firing' }, 'an edit keeps the state');
    assert.equal(await b.getAlertRule('nope'), undefined);
    assert.equal(a.version(), 0, 'alert writes are not configuration: no version bump');

    const first = await a.addAlertNotification({ alertId: 'alert_b', at: 1_767_225_600_000, status: 'firing', message: 'rate 0%' });
    const second = await b.addAlertNotification({ alertId: 'alert_b', at: 1_767_225_660_000, status: 'resolved', message: 'rate 100%' });
    assert.ok(second > first, 'ids increase');
    await a.addAlertNotification({ alertId: 'alert_a', at: 1_767_225_720_000, status: 'firing', message: 'volume +80%' });
    assert.deepEqual(await b.listAlertNotifications(2), [
      { id: second + 1, alertId: 'alert_a', at: 1_767_225_720_000, status: 'firing', message: 'volume +80%' },
      { id: second, alertId: 'alert_b', at: 1_767_225_660_000, status: 'resolved', message: 'rate 100%' },
    ], 'the latest first, at most the limit');
    assert.equal((await a.listAlertNotifications(10)).length, 3);

    assert.equal(await b.deleteAlertRule('alert_b'), true);
    assert.equal(await a.deleteAlertRule('alert_b'), false, 'already gone');
    assert.deepEqual((await a.listAlertRules()).map((r) => r.rule.id), ['alert_a']);
    assert.equal((await a.listAlertNotifications(10)).length, 3, 'a deleted rule\'s notifications stay');
  });

  t('failure-log collections: one per destination, its id kept across toggles, found by id, enabled ones listed', async (loc) => {
    const a = await loc.open({ secretKey: key });
    const b = await loc.open({ secretKey: key });
    assert.equal(await a.getFailureLogCollection('orders-webhook'), undefined);
    assert.deepEqual(await b.enabledFailureLogCollections(), new Map());
    const on = await a.putFailureLogCollection({ destinationId: 'orders-webhook', collectionId: 'col_1', enabled: true, updatedAt: 1000 });
    assert.deepEqual(on, { destinationId: 'orders-webhook', collectionId: 'col_1', enabled: true, updatedAt: 1000 });
    await a.putFailureLogCollection({ destinationId: 'other-hook', collectionId: 'col_2', enabled: true, updatedAt: 1500 });
    assert.deepEqual(await b.enabledFailureLogCollections(), new Map([['orders-webhook', 'col_1'], ['other-hook', 'col_2']]));

    // Turned off on another store with a fresh id: the destination keeps its collection id.
    const off = await b.putFailureLogCollection({ destinationId: 'orders-webhook', collectionId: 'col_new', enabled: false, updatedAt: 2000 });
    assert.deepEqual(off, { destinationId: 'orders-webhook', collectionId: 'col_1', enabled: false, updatedAt: 2000 });
    assert.deepEqual(await a.getFailureLogCollection('orders-webhook'), off);
    assert.deepEqual(await a.enabledFailureLogCollections(), new Map([['other-hook', 'col_2']]));
    assert.deepEqual(await a.failureLogCollectionById('col_1'), off, 'a collection turned off is still found (its files stay downloadable)');
    assert.equal(await a.failureLogCollectionById('col_new'), undefined);
    assert.equal(a.version(), 0, 'no version bump');
  });

  t('rows of an older stats.db are imported once, into store tables that are still empty', async (loc) => {
    const store = await loc.open({ secretKey: key });
    const body = (id: string) => JSON.stringify({ kind: 'delivery_rate', destinationId: 'd', belowPercent: 90, channels: [{ type: 'in_app' }], enabled: true, id, createdBy: 'x', createdAt: 'c', updatedAt: 'u' });
    const legacy = {
      alertRules: [{ id: 'alert_1', body: body('alert_1'), state: 'firing' }, { id: 'alert_2', body: body('alert_2'), state: 'ok' }],
      alertNotifications: Array.from({ length: 450 }, (_, i) => ({ alert_id: 'alert_1', at: 1000 + i, status: i % 2 ? 'resolved' : 'firing', message: `n${i}` })),
      failureLogCollections: [{ destination_id: 'd', collection_id: 'col_old', enabled: 1, updated_at: 5 }],
    };
    assert.deepEqual(await store.importLegacyObservability(legacy), { alertRules: 2, alertNotifications: 450, failureLogCollections: 1 });
    assert.deepEqual((await store.listAlertRules()).map((r) => [r.rule.id, r.state]), [['alert_1', 'firing'], ['alert_2', 'ok']]);
    const notes = await store.listAlertNotifications(500);
    assert.equal(notes.length, 450);
    assert.deepEqual(notes.slice(0, 2).map((n) => [n.message, n.at]), [['n449', 1449], ['n448', 1448]], 'the old order is kept');
    assert.deepEqual(await store.enabledFailureLogCollections(), new Map([['d', 'col_old']]));

    // Another process's stats.db: the store's tables have rows now, nothing more comes in.
    await store.deleteAlertRule('alert_2');
    const other = { alertRules: [{ id: 'alert_9', body: body('alert_9'), state: 'ok' }], alertNotifications: [], failureLogCollections: [] };
    assert.deepEqual(await store.importLegacyObservability(other), { alertRules: 0, alertNotifications: 0, failureLogCollections: 0 });
    assert.deepEqual((await store.listAlertRules()).map((r) => r.rule.id), ['alert_1']);
  });
}
