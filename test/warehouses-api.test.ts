/**
 * Warehouses through the official Public API client (`WarehousesApi`,
 * `SelectiveSyncApi`, `CatalogApi` of @segment/public-api-sdk-typescript) against a
 * running Switchyard: create a DuckDB and a PostgreSQL warehouse, connect sources,
 * send events with @segment/analytics-node, sync and read the rows back; validation
 * that really connects; selective sync and the advanced schedule; file-declared
 * warehouses answer 409 to writes; bad input names the field. PostgreSQL runs on
 * 127.0.0.1:5432 (database `test`); missing, the test fails.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Analytics } from '@segment/analytics-node';
import Database from 'better-sqlite3';
import { duckQuery } from './helpers/duckdb.js';
import { PG_URL, pgQuery } from './helpers/pg.js';
import { parse as parseYaml } from 'yaml';
import {
  AuditTrailApi, CatalogApi, SelectiveSyncApi, SourcesApi, WarehousesApi,
} from '@segment/public-api-sdk-typescript';
import { Harness } from './helpers/harness.js';

const SLUG = `wh-api-${process.pid}`;
const SCHEMA = SLUG.replace(/-/g, '_');

type ApiError = { statusCode?: number; body?: { errors: { type: string; message: string; field?: string }[] } };
const rejects = (p: Promise<unknown>, status: number, check: (e: NonNullable<ApiError['body']>['errors']) => boolean) =>
  assert.rejects(p, (err: ApiError) => {
    assert.equal(err.statusCode, status, JSON.stringify(err.body));
    assert.ok(err.body?.errors?.length && check(err.body.errors), JSON.stringify(err.body));
    return true;
  });
const hasField = (field: string) => (errors: { field?: string }[]) => errors.some((e) => e.field === field);

function client<T extends { accessToken: string | (() => string) }>(Api: new (basePath?: string) => T, url: string, token: string): T {
  const api = new Api(url);
  api.accessToken = token;
  return api;
}

const duckCount = async (file: string, sql: string) => Number((await duckQuery<{ n: unknown }>(sql, { file }))[0]!.n);

/** The raw JSON body the SDK received (its models drop fields they do not declare, like `message`). */
const rawBody = (r: { response: unknown }) => (r.response as { body: { data: Record<string, unknown> } }).body.data;

after(async () => {
  await pgQuery(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
});

test('the official SDK creates, connects, validates, syncs, schedules and deletes warehouses', async () => {
  const h = new Harness();
  try {
    await pgQuery(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
    const sy = await h.start({
      workspace: `workspace: { slug: acme }
sources:
  - slug: file-src
    writeKey: wk_file_src
warehouses:
  - id: filewh
    type: duckdb
    sources: [file-src]
    settings: { path: file.duckdb, syncIntervalSeconds: 3600 }
`,
    });
    const mkToken = async (roleId: string) => {
      const r = await fetch(`${sy.url}/tokens`, {
        method: 'POST', headers: { 'content-type': 'application/json', ...(roleId === 'workspace-owner' ? {} : { authorization: `Bearer ${owner}` }) },
        body: JSON.stringify({ description: roleId, permissions: [{ roleId, resources: [{ type: 'WORKSPACE', id: 'acme' }] }] }),
      });
      assert.equal(r.status, 201);
      return ((await r.json()) as { data: { token: string } }).data.token;
    };
    let owner = '';
    owner = await mkToken('workspace-owner');
    const readOnly = await mkToken('workspace-read-only');
    const warehouses = client(WarehousesApi, sy.url, owner);
    const selective = client(SelectiveSyncApi, sy.url, owner);
    const sources = client(SourcesApi, sy.url, owner);
    const syncNow = async (id: string) => {
      const r = await fetch(`${sy.url}/api/v1/warehouses/${id}/sync`, { method: 'POST', headers: { authorization: `Bearer ${owner}` } });
      assert.equal(r.status, 200, await r.text());
    };

    // The catalog: DuckDB and PostgreSQL.
    const catalog = (await client(CatalogApi, sy.url, owner).getWarehousesCatalog({ count: 10 })).body.data!;
    assert.deepEqual(catalog.warehousesCatalog.map((w) => w.id), ['duckdb', 'postgres']);
    const duckMeta = (await client(CatalogApi, sy.url, owner).getWarehouseMetadata('duckdb')).body.data!.warehouseMetadata;
    assert.ok(duckMeta.options.some((o) => o.name === 'path' && o.required));

    const web = (await sources.createSource({ slug: SLUG, enabled: true, metadataId: 'node-js' })).body.data!.source;

    // Validation really connects.
    const ok = await warehouses.createValidationInWarehouse({ metadataId: 'duckdb', settings: { path: 'probe.duckdb' } });
    assert.equal(String(ok.body.data!.status), 'CONNECTED');
    assert.equal(fs.existsSync(path.join(sy.dataDir, 'probe.duckdb')), false, 'a validation leaves no file behind');
    const noDir = await warehouses.createValidationInWarehouse({ metadataId: 'duckdb', settings: { path: '/nonexistent-dir/x.duckdb' } });
    assert.equal(String(noDir.body.data!.status), 'FAILED');
    assert.match(String(rawBody(noDir).message), /\/nonexistent-dir does not exist/);
    const pgGood = await warehouses.createValidationInWarehouse({ metadataId: 'postgres', settings: { hostname: '127.0.0.1', port: 5432, database: 'test', username: 'postgres' } });
    assert.equal(String(pgGood.body.data!.status), 'CONNECTED', JSON.stringify(rawBody(pgGood)));
    const pgBad = await warehouses.createValidationInWarehouse({ metadataId: 'postgres', settings: { hostname: '127.0.0.1', port: 1, database: 'test', username: 'postgres' } });
    assert.equal(String(pgBad.body.data!.status), 'FAILED');
    assert.match(String(rawBody(pgBad).message), /could not connect to PostgreSQL at 127\.0\.0\.1:1\/test: .*ECONNREFUSED/);

    // Bad input: 400 naming the field.
    await rejects(warehouses.createWarehouse({ metadataId: 'snowflake', settings: {} }), 400, hasField('metadataId'));
    await rejects(warehouses.createWarehouse({ metadataId: 'duckdb', settings: {} }), 400, hasField('settings.path'));
    await rejects(warehouses.createWarehouse({ metadataId: 'postgres', settings: { port: 5432 } }), 400, hasField('settings.hostname'));
    await rejects(warehouses.createWarehouse({ metadataId: 'postgres', settings: { hostname: 'db', database: 'x', port: 99999 } }), 400, hasField('settings.port'));
    await rejects(warehouses.createWarehouse({ metadataId: 'duckdb', settings: { path: 'x.duckdb', colour: 'red' } }), 400, (e) => /colour/.test(e[0]!.message));
    await rejects(client(WarehousesApi, sy.url, readOnly).createWarehouse({ metadataId: 'duckdb', settings: { path: 'ro.duckdb' } }), 403, (e) => e[0]!.type === 'forbidden');

    // Create a DuckDB warehouse, connect the source, send events, sync, read the rows.
    const created = await warehouses.createWarehouse({ metadataId: 'duckdb', name: 'Local API', settings: { path: 'api.duckdb', syncIntervalSeconds: 3600 } });
    assert.equal(created.response.statusCode, 201);
    const wh = created.body.data!.warehouse;
    assert.deepEqual({ ...wh.settings }, { name: 'Local API', path: 'api.duckdb', syncIntervalSeconds: 3600 });
    assert.equal(wh.metadata.id, 'duckdb');
    assert.equal(wh.enabled, true);
    assert.equal(String((await warehouses.addConnectionFromSourceToWarehouse(wh.id, web.id)).body.data!.status), 'CONNECTED');
    await rejects(warehouses.addConnectionFromSourceToWarehouse(wh.id, 'nope'), 404, hasField('sourceId'));

    const send = async (n: number, extra: (a: Analytics) => void = () => {}) => {
      const a = new Analytics({ writeKey: web.writeKeys[0]!, host: sy.url, flushAt: 50, flushInterval: 50 });
      a.identify({ userId: 'u1', traits: { plan: 'pro' } });
      for (let i = 0; i < n; i++) a.track({ userId: 'u1', event: 'Order Completed', properties: { revenue: i } });
      extra(a);
      await a.closeAndFlush();
    };
    await send(5, (a) => a.page({ userId: 'u1', name: 'Home' }));
    await syncNow(wh.id);
    const duckFile = path.join(sy.dataDir, 'api.duckdb');
    assert.equal(await duckCount(duckFile, `SELECT count(*) AS n FROM "${SCHEMA}".tracks`), 5);
    assert.equal(await duckCount(duckFile, `SELECT count(*) AS n FROM "${SCHEMA}".pages`), 1);
    assert.equal(await duckCount(duckFile, `SELECT count(*) AS n FROM "${SCHEMA}".users`), 1);
    const reports = (await selective.listSyncsFromWarehouseAndSource(wh.id, web.id, { count: 10 })).body.data!.reports;
    assert.equal(reports.reduce((n, r) => n + r.count, 0) >= 7, true, JSON.stringify(reports));
    assert.equal(String(reports[0]!.status), 'SUCCESS');

    // List (paginated: the file's warehouse and the API's), get, update.
    const p1 = (await warehouses.listWarehouses({ count: 1 })).body.data!;
    assert.equal(p1.pagination.totalEntries, 2);
    const p2 = (await warehouses.listWarehouses({ count: 1, cursor: p1.pagination.next! })).body.data!;
    assert.deepEqual([...p1.warehouses, ...p2.warehouses].map((w) => w.id), ['filewh', wh.id]);
    assert.equal((await client(WarehousesApi, sy.url, readOnly).listWarehouses({ count: 10 })).body.data!.warehouses.length, 2);
    const updated = (await warehouses.updateWarehouse(wh.id, { name: 'Renamed', settings: { syncIntervalSeconds: 7200 } })).body.data!.warehouse;
    assert.deepEqual({ ...updated.settings }, { name: 'Renamed', path: 'api.duckdb', syncIntervalSeconds: 7200 });
    assert.equal((await warehouses.getWarehouse(wh.id)).body.data!.warehouse.settings.name, 'Renamed');
    await rejects(warehouses.updateWarehouse(wh.id, { settings: { path: null } }), 400, hasField('settings.path'));
    await rejects(warehouses.getWarehouse('nope'), 404, (e) => e[0]!.type === 'not-found');
    const connected = (await warehouses.listConnectedSourcesFromWarehouse(wh.id, { count: 10 })).body.data!.sources;
    assert.deepEqual(connected.map((s) => s.slug), [SLUG]);
    const ofSource = (await sources.listConnectedWarehousesFromSource(web.id, { count: 10 })).body.data!.warehouses;
    assert.deepEqual(ofSource.map((w) => w.id), [wh.id]);
    assert.equal(String((await warehouses.getConnectionStateFromWarehouse(wh.id)).body.data!.connectionState), 'CONNECTED');

    // Selective sync: turn the `pages` collection off; new pages are not loaded, tracks still are.
    const off = await selective.updateSelectiveSyncForWarehouse(wh.id, { syncOverrides: [{ sourceId: web.id, collection: 'pages', enabled: false }] });
    assert.equal(String(off.body.data!.status), 'UPDATED');
    const again = await selective.updateSelectiveSyncForWarehouse(wh.id, { syncOverrides: [{ sourceId: web.id, collection: 'pages', enabled: false }] });
    assert.equal(String(again.body.data!.status), 'UNCHANGED');
    await rejects(selective.updateSelectiveSyncForWarehouse(wh.id, { syncOverrides: [{ sourceId: 'other', enabled: false }] }), 400, hasField('syncOverrides.0.sourceId'));
    const items = (await selective.listSelectiveSyncsFromWarehouseAndSource(wh.id, web.id, { count: 10 })).body.data!.items;
    assert.deepEqual(JSON.parse(JSON.stringify(items)), [{ sourceId: web.id, collection: 'pages', warehouseId: wh.id, enabled: false, properties: {} }]);
    await send(2, (a) => a.page({ userId: 'u1', name: 'Pricing' }));
    await syncNow(wh.id);
    assert.equal(await duckCount(duckFile, `SELECT count(*) AS n FROM "${SCHEMA}".tracks`), 7);
    assert.equal(await duckCount(duckFile, `SELECT count(*) AS n FROM "${SCHEMA}".pages`), 1, 'pages is turned off');

    // Advanced sync schedule: replaced and read back (the loader syncs at 00:00 and 12:00 Paris time; the export writes the same schedule).
    const schedule = { times: [{ hourOfDay: 12, enabled: true }, { hourOfDay: 0, enabled: true }, { hourOfDay: 6, enabled: false }], timezone: 'Europe/Paris' };
    await selective.replaceAdvancedSyncScheduleForWarehouse(wh.id, { enabled: true, schedule });
    const got = (await selective.getAdvancedSyncScheduleFromWarehouse(wh.id)).body.data!;
    assert.equal(got.enabled, true);
    assert.deepEqual(JSON.parse(JSON.stringify(got.schedule)), { times: [{ hourOfDay: 0, enabled: true }, { hourOfDay: 6, enabled: false }, { hourOfDay: 12, enabled: true }], timezone: 'Europe/Paris' });
    await rejects(selective.replaceAdvancedSyncScheduleForWarehouse(wh.id, { enabled: true, schedule: { times: [], timezone: 'Mars/Olympus' } }), 400, hasField('schedule.timezone'));
    await rejects(selective.replaceAdvancedSyncScheduleForWarehouse(wh.id, { enabled: true, schedule: { times: [{ hourOfDay: 24, enabled: true }], timezone: 'UTC' } }), 400, hasField('schedule.times.0.hourOfDay'));
    const exported = await fetch(`${sy.url}/api/v1/workspace/export`, { headers: { authorization: `Bearer ${owner}` } });
    const file = parseYaml(await exported.text()) as { warehouses: { id: string; sources: string[]; settings: Record<string, unknown>; syncOverrides?: unknown[] }[] };
    const exp = file.warehouses.find((w) => w.id === wh.id)!;
    assert.deepEqual(exp.settings, { path: 'api.duckdb', syncIntervalSeconds: 7200, schedule: { timezone: 'Europe/Paris', hours: [0, 12] } });
    assert.deepEqual(exp.sources, [SLUG]);
    assert.deepEqual(exp.syncOverrides, [{ source: SLUG, collection: 'pages', enabled: false }]);
    assert.ok(file.warehouses.some((w) => w.id === 'filewh'));

    // The workspace file's warehouse: readable, but every write is 409.
    assert.equal((await warehouses.getWarehouse('filewh')).body.data!.warehouse.settings.path, 'file.duckdb');
    const fileOwned = (e: { type: string; message: string }[]) => e[0]!.type === 'conflict' && /workspace file/.test(e[0]!.message);
    await rejects(warehouses.updateWarehouse('filewh', { settings: { syncIntervalSeconds: 60 } }), 409, fileOwned);
    await rejects(warehouses.deleteWarehouse('filewh'), 409, fileOwned);
    await rejects(warehouses.addConnectionFromSourceToWarehouse('filewh', web.id), 409, fileOwned);
    await rejects(selective.updateSelectiveSyncForWarehouse('filewh', { syncOverrides: [{ sourceId: 'file-src', enabled: false }] }), 409, fileOwned);
    await rejects(selective.replaceAdvancedSyncScheduleForWarehouse('filewh', { enabled: false }), 409, fileOwned);

    // PostgreSQL: the password is encrypted at rest and never returned; rows land in the schema.
    const pgWh = (await warehouses.createWarehouse({
      metadataId: 'postgres', name: 'PG', settings: { url: 'postgres://postgres:s3cret-pw@127.0.0.1:5432/test', syncIntervalSeconds: 3600 },
    })).body.data!.warehouse;
    assert.equal(pgWh.settings.url, 'postgres://postgres:••••••••@127.0.0.1:5432/test');
    const controlDb = new Database(path.join(sy.dataDir, 'control.db'), { readonly: true });
    const storedSettings = controlDb.prepare('SELECT settings FROM cp_warehouses WHERE id = ?').pluck().get(pgWh.id) as string;
    controlDb.close();
    assert.doesNotMatch(storedSettings, /s3cret-pw/);
    // Updating with the masked URL keeps the stored one.
    await warehouses.updateWarehouse(pgWh.id, { settings: { url: pgWh.settings.url } });
    // Validation of an existing warehouse (not in this SDK version: POST /warehouses/:id/validation), with its stored settings.
    const existing = await fetch(`${sy.url}/warehouses/${pgWh.id}/validation`, { method: 'POST', headers: { authorization: `Bearer ${owner}` } });
    assert.deepEqual(await existing.json(), { data: { status: 'CONNECTED' } });
    await warehouses.addConnectionFromSourceToWarehouse(pgWh.id, web.id);
    await send(3);
    await syncNow(pgWh.id);
    const pgTracks = await pgQuery(`SELECT count(*) AS n FROM "${SCHEMA}".order_completed`);
    assert.equal(Number(pgTracks[0]!.n), 3);

    // The audit trail names the warehouse changes.
    const events = (await client(AuditTrailApi, sy.url, owner).listAuditEvents({ count: 200 })).body.data!.events.map((e) => e.type);
    assert.ok(events.includes('Storage Destination Created') && events.includes('Storage Destination Modified'), events.join(', '));

    // Delete: gone from the API and from the loader.
    assert.equal(String((await warehouses.deleteWarehouse(wh.id)).body.data!.status), 'SUCCESS');
    await rejects(warehouses.getWarehouse(wh.id), 404, (e) => e[0]!.type === 'not-found');
    const gone = await fetch(`${sy.url}/api/v1/warehouses/${wh.id}/sync`, { method: 'POST', headers: { authorization: `Bearer ${owner}` } });
    assert.equal(gone.status, 404);
    assert.equal(((await gone.json()) as { errors: { type: string }[] }).errors[0]!.type, 'not-found');
    assert.deepEqual((await warehouses.listWarehouses({ count: 10 })).body.data!.warehouses.map((w) => w.id), ['filewh', pgWh.id]);

    // A restart: the API's warehouse comes back from control.db, connected, and keeps loading.
    assert.equal(await sy.stop(), 0);
    const again2 = await h.start({ workspace: '', dataDir: sy.dataDir, configFile: sy.configFile, writeConfig: false });
    const after2 = client(WarehousesApi, again2.url, owner);
    assert.deepEqual((await after2.listWarehouses({ count: 10 })).body.data!.warehouses.map((w) => w.id), ['filewh', pgWh.id]);
    assert.deepEqual((await after2.listConnectedSourcesFromWarehouse(pgWh.id, { count: 10 })).body.data!.sources.map((s) => s.id), [web.id]);
    const a = new Analytics({ writeKey: web.writeKeys[0]!, host: again2.url, flushAt: 50, flushInterval: 50 });
    a.track({ userId: 'u2', event: 'Order Completed', properties: { revenue: 1 } });
    await a.closeAndFlush();
    const r = await fetch(`${again2.url}/api/v1/warehouses/${pgWh.id}/sync`, { method: 'POST', headers: { authorization: `Bearer ${owner}` } });
    assert.equal(r.status, 200);
    assert.equal(Number((await pgQuery(`SELECT count(*) AS n FROM "${SCHEMA}".order_completed`))[0]!.n), 4);
  } finally {
    await h.cleanup();
  }
});
