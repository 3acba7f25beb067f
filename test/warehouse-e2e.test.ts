/**
 * Warehouses end to end: @segment/analytics-node sends to a real Switchyard
 * process whose loader thread writes Segment's schema into the embedded DuckDB
 * file and into the PostgreSQL server on 127.0.0.1:5432 (database `test`, a
 * schema named after a `wh-test-*` source, dropped after). PostgreSQL missing
 * fails the test.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Analytics } from '@segment/analytics-node';
import { DEFAULT_LOAD_BATCH } from '../src/storage/warehouse/loader.js';
import { PG_URL, pgQuery } from './helpers/pg.js';
import { duckQuery } from './helpers/duckdb.js';
import { api, startSwitchyard, tempDir } from './helpers/switchyard.js';
import { postTracking, sleep } from './helpers/e2e.js';
import { SelectiveSyncApi } from '@segment/public-api-sdk-typescript';

const SLUG = `wh-test-${process.pid}`;
const SCHEMA = SLUG.replace(/-/g, '_');

function workspace(intervalSeconds: number): string {
  return `workspace: { slug: acme }
sources:
  - slug: ${SLUG}
    writeKey: wk_wh_test
warehouses:
  - id: local
    type: duckdb
    sources: [${SLUG}]
    settings: { syncIntervalSeconds: ${intervalSeconds} }
  - id: pg
    type: postgres
    sources: [${SLUG}]
    settings: { url: "${PG_URL}", syncIntervalSeconds: ${intervalSeconds} }
    syncOverrides:
      - { source: ${SLUG}, collection: pages, property: search, enabled: false }
`;
}

const duckAt = (file: string, sql: string) => duckQuery(sql, { file });

after(async () => {
  await pgQuery(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
});

test('analytics-node → Switchyard → DuckDB and PostgreSQL with Segment\'s schema; kill -9 and restart loses and duplicates nothing', async () => {
  const started = Date.now();
  const dataDir = tempDir();
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  await pgQuery(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
  // A long interval: the test drives syncs through the endpoint.
  let sy = await startSwitchyard({ workspace: workspace(3600), dataDir, env: { LOG_LEVEL: 'info' } });
  try {
    const analytics = new Analytics({ writeKey: 'wk_wh_test', host: sy.url, flushAt: 20, flushInterval: 50 });
    for (const u of ['u1', 'u2', 'u3']) analytics.identify({ userId: u, traits: { email: `${u}@example.com`, planName: 'free', seats: 1 } });
    analytics.identify({ userId: 'u1', traits: { planName: 'pro' } });
    for (let i = 0; i < 5; i++) analytics.track({ userId: 'u1', event: 'Order Completed', properties: { revenue: 10 + i, orderId: `o${i}`, products: [{ sku: 'a' }] } });
    analytics.track({ userId: 'u2', event: 'Signed Up', properties: { referrer: { type: 'ad', campaign: 'spring' } } });
    analytics.page({ userId: 'u1', name: 'Home', properties: { path: '/', title: 'Home' } });
    analytics.page({ anonymousId: 'anon-1', name: 'Pricing', properties: { path: '/pricing' } });
    analytics.group({ userId: 'u1', groupId: 'acme', traits: { name: 'Acme Inc', employees: 42 } });
    analytics.alias({ userId: 'u1', previousId: 'anon-1' });
    await analytics.closeAndFlush();
    const syncAll = async () => {
      for (const id of ['local', 'pg']) {
        const r = await api(sy, 'POST', `/api/v1/warehouses/${id}/sync`);
        assert.equal(r.status, 200, JSON.stringify(r.body));
      }
    };
    await syncAll();
    // Next sync: a float arrives in an integer column, and a new property mid-stream.
    const more = new Analytics({ writeKey: 'wk_wh_test', host: sy.url, flushAt: 20, flushInterval: 50 });
    more.track({ userId: 'u3', event: 'Order Completed', properties: { revenue: 19.99, orderId: 'o5', coupon: 'SPRING' } });
    more.identify({ userId: 'u3', traits: { seats: 'lots' } });
    await more.closeAndFlush();
    await syncAll();
    const syncs = await api(sy, 'GET', '/api/v1/warehouses/pg/syncs');
    assert.equal(syncs.status, 200);
    const last = syncs.body.data.syncs[0];
    assert.equal(last.status, 'success', JSON.stringify(last));
    assert.equal(last.sourceId, SLUG);
    assert.equal(syncs.body.data.syncs.reduce((n: number, s: { rows: Record<string, number> }) => n + (s.rows.tracks ?? 0), 0), 7);
    assert.equal((await api(sy, 'GET', '/api/v1/warehouses/nope/syncs')).status, 404);
    // The loader releases the DuckDB file between syncs: a user can open it while Switchyard runs.
    const live = await duckAt(path.join(dataDir, 'warehouse.duckdb'), `SELECT count(*) AS n FROM "${SCHEMA}".tracks`);
    assert.equal(Number(live[0]!.n), 7);
    // The official SDK's SelectiveSyncApi reads the same history.
    const sdk = new SelectiveSyncApi(sy.url);
    const bySdk = (await sdk.listSyncsFromWarehouse('pg', { count: 10 })).body.data!;
    assert.equal(bySdk.reports[0]!.status, 'SUCCESS');
    assert.equal(bySdk.reports[0]!.sourceId, SLUG);
    assert.equal(bySdk.reports.reduce((n, r) => n + r.count, 0), syncs.body.data.syncs.reduce((n: number, s: { rows: Record<string, number> }) => n + Object.values(s.rows).reduce((a, b) => a + b, 0), 0));
    const bySource = (await sdk.listSyncsFromWarehouseAndSource('pg', SLUG, { count: 1 })).body.data!;
    assert.equal(bySource.reports.length, 1);
    const selective = (await sdk.listSelectiveSyncsFromWarehouseAndSource('pg', SLUG, { count: 10 })).body.data!;
    assert.deepEqual(JSON.parse(JSON.stringify(selective.items)), [{ sourceId: SLUG, collection: 'pages', warehouseId: 'pg', enabled: true, properties: { search: false } }]);
    const health = await api(sy, 'GET', '/api/v1/warehouses/pg/health');
    assert.deepEqual(health.body.data.days.map((d: { sourceId: string }) => d.sourceId), [SLUG]);
    assert.ok(health.body.data.days[0].rows >= 20, JSON.stringify(health.body));

    // PostgreSQL, while the server runs.
    const tables = (await pgQuery(`SELECT table_name FROM information_schema.tables WHERE table_schema = '${SCHEMA}' ORDER BY 1`)).map((r) => r.table_name);
    assert.deepEqual(tables, ['accounts', 'aliases', 'discards', 'groups', 'identifies', 'order_completed', 'pages', 'signed_up', 'tracks', 'users']);
    const types = Object.fromEntries((await pgQuery(`SELECT column_name, data_type, character_maximum_length AS w FROM information_schema.columns
      WHERE table_schema = '${SCHEMA}' AND table_name = 'order_completed'`)).map((r) => [r.column_name, `${r.data_type}${r.w ? `(${r.w})` : ''}`]));
    assert.deepEqual(
      Object.fromEntries(['id', 'user_id', 'event', 'event_text', 'received_at', 'sent_at', 'timestamp', 'original_timestamp', 'uuid_ts', 'revenue', 'order_id', 'products', 'coupon', 'context_library_name']
        .map((c) => [c, types[c]])),
      {
        id: 'character varying(512)', user_id: 'character varying(512)', event: 'character varying(512)', event_text: 'character varying(512)',
        received_at: 'timestamp with time zone', sent_at: 'timestamp with time zone', timestamp: 'timestamp with time zone',
        original_timestamp: 'timestamp with time zone', uuid_ts: 'timestamp with time zone', revenue: 'double precision',
        order_id: 'character varying(512)', products: 'character varying(512)', coupon: 'character varying(512)', context_library_name: 'character varying(512)',
      },
    );
    // Segment's documented queries.
    const usersPerDay = await pgQuery(`SELECT DATE(sent_at) AS Day, COUNT(DISTINCT(user_id)) AS Users FROM "${SCHEMA}".identifies GROUP BY day ORDER BY day`);
    assert.deepEqual(usersPerDay.map((r) => Number(r.users)), [3]);
    const perEvent = await pgQuery(`SELECT DATE(sent_at) AS Day, event, COUNT(event) FROM "${SCHEMA}".tracks GROUP BY day, event ORDER BY day, event`);
    assert.deepEqual(perEvent.map((r) => [r.event, Number(r.count)]), [['order_completed', 6], ['signed_up', 1]]);
    const views = await pgQuery(`SELECT DATE(sent_at) AS Day, COUNT(*) AS Views FROM "${SCHEMA}".pages GROUP BY day ORDER BY day`);
    assert.deepEqual(views.map((r) => Number(r.views)), [2]);
    const users = await pgQuery(`SELECT id, email, plan_name, seats FROM "${SCHEMA}".users ORDER BY id`);
    assert.deepEqual(users.map((r) => [r.id, r.email, r.plan_name, Number(r.seats)]), [
      ['u1', 'u1@example.com', 'pro', 1], ['u2', 'u2@example.com', 'free', 1], ['u3', 'u3@example.com', 'free', 1]]);
    const discards = await pgQuery(`SELECT table_name, column_name, value, reason FROM "${SCHEMA}".discards ORDER BY table_name`);
    assert.deepEqual(discards.map((r) => [r.table_name, r.column_name, r.value]), [['identifies', 'seats', 'lots'], ['users', 'seats', 'lots']]);
    const signed = await pgQuery(`SELECT referrer_type, referrer_campaign FROM "${SCHEMA}".signed_up`);
    assert.deepEqual(signed, [{ referrer_type: 'ad', referrer_campaign: 'spring' }]);

    // kill -9 with events accepted but not yet loaded; the restart loads them once.
    const late = new Analytics({ writeKey: 'wk_wh_test', host: sy.url, flushAt: 50, flushInterval: 50 });
    for (let i = 0; i < 40; i++) late.track({ userId: 'u9', event: 'Order Completed', properties: { revenue: i, orderId: `late${i}` } });
    await late.closeAndFlush();
    await sy.kill();
    sy = await startSwitchyard({ workspace: workspace(1), dataDir, configFile: sy.configFile });
    for (const id of ['local', 'pg']) assert.equal((await api(sy, 'POST', `/api/v1/warehouses/${id}/sync`)).status, 200);
    const pgCount = await pgQuery(`SELECT count(*) AS n, count(DISTINCT id) AS d FROM "${SCHEMA}".order_completed`);
    assert.deepEqual([Number(pgCount[0]!.n), Number(pgCount[0]!.d)], [46, 46]);
  } finally {
    await sy.stop();
  }

  // DuckDB, opened read-only once the server has released the file.
  const file = path.join(dataDir, 'warehouse.duckdb');
  const dTables = (await duckAt(file, `SELECT table_name FROM information_schema.tables WHERE table_schema = '${SCHEMA}' ORDER BY 1`)).map((r) => r.table_name);
  assert.deepEqual(dTables, ['accounts', 'aliases', 'discards', 'groups', 'identifies', 'order_completed', 'pages', 'signed_up', 'tracks', 'users']);
  const dTypes = Object.fromEntries((await duckAt(file, `SELECT column_name, data_type FROM information_schema.columns
    WHERE table_schema = '${SCHEMA}' AND table_name = 'order_completed'`)).map((r) => [r.column_name, r.data_type]));
  assert.equal(dTypes.revenue, 'DOUBLE');
  assert.equal(dTypes.received_at, 'TIMESTAMP WITH TIME ZONE');
  assert.equal(dTypes.order_id, 'VARCHAR');
  const dUsers = await duckAt(file, `SELECT DATE(sent_at) AS Day, COUNT(DISTINCT(user_id)) AS Users FROM "${SCHEMA}".identifies GROUP BY day ORDER BY day`);
  assert.deepEqual(dUsers.map((r) => Number(r.Users)), [3]);
  const dEvents = await duckAt(file, `SELECT DATE(sent_at) AS Day, event, COUNT(event) AS n FROM "${SCHEMA}".tracks GROUP BY day, event ORDER BY day, event`);
  assert.deepEqual(dEvents.map((r) => [r.event, Number(r.n)]), [['order_completed', 46], ['signed_up', 1]]);
  const dCount = await duckAt(file, `SELECT count(*) AS n, count(DISTINCT id) AS d FROM "${SCHEMA}".order_completed`);
  assert.deepEqual([Number(dCount[0]!.n), Number(dCount[0]!.d)], [46, 46]);
  console.log(`warehouse e2e took ${Date.now() - started} ms`);
});

test('kill -9 in the middle of a load: after restart no row is missing or duplicated', async () => {
  const dataDir = tempDir();
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  await pgQuery(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
  let sy = await startSwitchyard({ workspace: workspace(3600), dataDir });
  // Four loads' worth (DEFAULT_LOAD_BATCH events each), so a kill lands between two of them.
  const N = 4 * DEFAULT_LOAD_BATCH;
  try {
    for (let b = 0; b < N / 500; b++) {
      const batch = Array.from({ length: 500 }, (_, k) => ({
        type: 'track', event: 'Item Viewed', userId: `u${k % 50}`, messageId: `kill-${b}-${k}`, properties: { n: b * 500 + k, sku: `sku-${k}` },
      }));
      const r = await postTracking(sy.url, '/v1/batch', { batch }, { writeKey: 'wk_wh_test' });
      assert.equal(r.status, 200);
    }
    // Start both loads and kill the process while they run (4 batches each).
    void fetch(`${sy.url}/api/v1/warehouses/local/sync`, { method: 'POST' }).catch(() => {});
    void fetch(`${sy.url}/api/v1/warehouses/pg/sync`, { method: 'POST' }).catch(() => {});
    // Kill as soon as PostgreSQL shows the first committed batch: the run is mid-way.
    const count = async () => {
      const t = await pgQuery(`SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = '${SCHEMA}' AND table_name = 'item_viewed'`);
      return Number(t[0]!.n) ? Number((await pgQuery(`SELECT count(*) AS n FROM "${SCHEMA}".item_viewed`))[0]!.n) : 0;
    };
    const deadline = Date.now() + 20_000;
    while ((await count()) === 0 && Date.now() < deadline) await sleep(5);
    await sy.kill();
    const partial = await count();
    console.log(`rows in postgres when killed: ${partial} of ${N}`);
    assert.ok(partial > 0, 'the load never started');
    assert.ok(partial < N, `the kill came after the whole load (${partial} rows): nothing was interrupted`);
    sy = await startSwitchyard({ workspace: workspace(3600), dataDir, configFile: sy.configFile });
    for (const id of ['local', 'pg']) {
      const res = await api(sy, 'POST', `/api/v1/warehouses/${id}/sync`).catch((err: unknown) => {
        throw new Error(`sync ${id} failed: ${String(err)}\n${sy.logs.slice(-15).join('\n')}`);
      });
      assert.equal(res.status, 200);
    }
    const r = await pgQuery(`SELECT count(*) AS n, count(DISTINCT id) AS d FROM "${SCHEMA}".item_viewed`);
    assert.deepEqual([Number(r[0]!.n), Number(r[0]!.d)], [N, N]);
  } finally {
    await sy.stop();
  }
  const file = path.join(dataDir, 'warehouse.duckdb');
  for (const table of ['item_viewed', 'tracks']) {
    const r = await duckAt(file, `SELECT count(*) AS n, count(DISTINCT id) AS d FROM "${SCHEMA}".${table}`);
    assert.deepEqual([Number(r[0]!.n), Number(r[0]!.d)], [N, N], table);
  }
});
