/**
 * Warehouse naming (pure) and the loader engine against real targets: an embedded
 * DuckDB file and the PostgreSQL server on 127.0.0.1:5432 (schemas named *_test_*,
 * dropped after). A missing PostgreSQL fails these tests; it never skips them.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { customColumns, eventTableName, schemaName, snakecase, sqlName } from '../src/protocol/warehouse-naming.js';
import { openDuckDb, openPostgres } from '../src/storage/warehouse/dialects.js';
import { WarehouseEngine } from '../src/storage/warehouse/engine.js';
import { SyncHistory } from '../src/storage/warehouse/history.js';
import { WarehouseLoader } from '../src/storage/warehouse/loader.js';
import type { Dialect, LoaderLane, LoaderMessage } from '../src/storage/warehouse/types.js';
import { SqliteEventLog } from '../src/log/sqlite/log.js';

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

test('snake_case follows go-snakecase', () => {
  const cases: [string, string][] = [
    ['sample text', 'sample_text'], ['sample-text', 'sample_text'], ['sample___text', 'sample_text'],
    ['sampleText', 'sample_text'], ['inviteYourCustomersAddInvites', 'invite_your_customers_add_invites'],
    ['   $#$sample   2    Text   ', 'sample_2_text'], ['SAMPLE 2 TEXT', 'sample_2_text'], ['___$$Base64Encode', 'base64_encode'],
    ['FOO:BAR$BAZ', 'foo_bar_baz'], ['something.com', 'something_com'], ['•¶§ƒ˚foo˙∆˚¬', 'foo'], ['userId', 'user_id'],
  ];
  for (const [input, out] of cases) assert.equal(snakecase(input), out, input);
});

test('table, column and schema names', () => {
  assert.equal(eventTableName('Order Completed'), 'order_completed');
  assert.equal(eventTableName('Open'), '_open'); // Redshift reserved word
  assert.equal(eventTableName('1st Purchase'), '_1st_purchase');
  assert.equal(sqlName('select'), '_select');
  assert.equal(schemaName('web-prod'), 'web_prod');
  const { columns, discarded } = customColumns({
    planName: 'pro', address: { streetName: 'Main', geo: { lat: 1.5 } }, tags: ['a', 'b'], userId: 'x', id: 'y',
    receivedAt: 'z', order: 3, nothing: null,
  });
  assert.deepEqual(Object.fromEntries(columns), {
    plan_name: 'pro', address_street_name: 'Main', address_geo_lat: 1.5, tags: '["a","b"]', _order: 3,
  });
  assert.deepEqual(discarded.sort(), ['id', 'received_at', 'user_id']);
});

let seq = 0;
function msg(sourceId: string, body: Record<string, unknown>): LoaderMessage {
  const messageId = (body.messageId as string | undefined) ?? randomUUID();
  const now = new Date().toISOString();
  const payload = JSON.stringify({
    messageId, receivedAt: now, sentAt: now, timestamp: now, originalTimestamp: now,
    context: { library: { name: 'analytics-node', version: '2' } }, ...body,
  });
  return { seq: ++seq, sourceId, messageId, payload, receivedAt: Date.now() };
}

async function targets(): Promise<{ name: string; open: (schemaSuffix: string) => Promise<Dialect>; cleanup: (schema: string) => Promise<void> }[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-wh-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return [
    { name: 'duckdb', open: () => openDuckDb(path.join(dir, `${randomUUID()}.duckdb`)), cleanup: async () => {} },
    {
      name: 'postgres',
      open: () => openPostgres(PG_URL),
      cleanup: async (schema) => {
        const db = await openPostgres(PG_URL);
        await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await db.close();
      },
    },
  ];
}

for (const t of await targets()) {
  test(`${t.name}: Segment's tables, columns and types; widening, collisions, discards, 512 chars`, async () => {
    const slug = `wh_test_${t.name}_${process.pid}`;
    const db = await t.open(slug);
    after(async () => {
      await db.close().catch(() => {});
      await t.cleanup(slug);
    });
    const engine = new WarehouseEngine(db, () => slug);
    const long = 'x'.repeat(600);
    await engine.load([
      msg('s1', { type: 'identify', userId: 'u1', traits: { email: 'a@x.com', planName: 'free', logins: 1 } }),
      msg('s1', { type: 'identify', userId: 'u1', traits: { planName: 'pro' } }),
      msg('s1', { type: 'track', userId: 'u1', event: 'Order Completed', properties: { revenue: 10, currency: 'USD', user_id: 'nope', note: long } }),
      msg('s1', { type: 'page', anonymousId: 'a1', name: 'Home', properties: { path: '/', title: 'Home' } }),
      msg('s1', { type: 'group', userId: 'u1', groupId: 'g1', traits: { name: 'Acme' } }),
      msg('s1', { type: 'alias', userId: 'u1', previousId: 'a1' }),
      msg('s1', { type: 'screen', userId: 'u1', name: 'Main' }),
      msg('s1', { type: 'track', userId: 'u1', event: 'Open', properties: {} }),
    ]);
    // Second batch: a float into the bigint column (widened), a new property mid-stream, an uncastable value.
    const second = [
      msg('s1', { type: 'track', userId: 'u2', event: 'Order Completed', properties: { revenue: 12.5, coupon: 'SPRING', currency: 'EUR' } }),
      msg('s1', { type: 'identify', userId: 'u2', traits: { logins: 'many' } }),
    ];
    await engine.load(second);
    // Loaded again (a crash between the commit and the log's ack): no row and no discard twice.
    await engine.load(second);

    const cols = async (table: string) => Object.fromEntries((await db.query(`SELECT column_name, data_type FROM information_schema.columns
      WHERE table_schema = '${slug}' AND table_name = '${table}' ORDER BY column_name`)).map((r) => [r.column_name, String(r.data_type).toLowerCase()]));
    const tables = (await db.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = '${slug}' ORDER BY table_name`)).map((r) => r.table_name);
    assert.deepEqual(tables, ['_open', 'accounts', 'aliases', 'discards', 'groups', 'identifies', 'order_completed', 'pages', 'screens', 'tracks', 'users']);
    const oc = await cols('order_completed');
    for (const c of ['id', 'user_id', 'received_at', 'sent_at', 'timestamp', 'original_timestamp', 'uuid_ts', 'event', 'event_text',
      'context_library_name', 'context_library_version', 'revenue', 'currency', 'coupon', 'note']) assert.ok(c in oc, `order_completed.${c}`);
    assert.match(oc.revenue!, /double/);
    assert.match(oc.received_at!, /timestamp with time zone/);
    assert.match(oc.id!, t.name === 'postgres' ? /character varying/ : /varchar/);
    const ident = await cols('identifies');
    assert.match(ident.logins!, /bigint/);
    const rev = await db.query(`SELECT revenue, user_id, note FROM "${slug}".order_completed ORDER BY revenue`);
    assert.deepEqual(rev.map((r) => Number(r.revenue)), [10, 12.5]);
    assert.equal(rev[0]!.user_id, 'u1'); // the colliding property was discarded
    assert.equal(String(rev[0]!.note).length, t.name === 'postgres' ? 512 : 600);
    const tracks = await db.query(`SELECT event, event_text, count(*) AS n FROM "${slug}".tracks GROUP BY 1, 2 ORDER BY 1`);
    assert.deepEqual(tracks.map((r) => [r.event, r.event_text, Number(r.n)]), [['_open', 'Open', 1], ['order_completed', 'Order Completed', 2]]);
    const users = await db.query(`SELECT id, email, plan_name, logins FROM "${slug}".users ORDER BY id`);
    assert.deepEqual(users.map((r) => [r.id, r.email, r.plan_name, r.logins === null ? null : Number(r.logins)]), [['u1', 'a@x.com', 'pro', 1], ['u2', null, null, null]]);
    const discards = await db.query(`SELECT table_name, column_name, column_type, value, reason FROM "${slug}".discards`);
    assert.equal(discards.length, 2); // identifies.logins and users.logins
    assert.deepEqual([discards[0]!.column_name, discards[0]!.column_type, discards[0]!.value], ['logins', 'bigint', 'many']);
    assert.match(String(discards[0]!.reason), /cannot cast string "many" to bigint/);
    const accounts = await db.query(`SELECT id, name FROM "${slug}".accounts`);
    assert.deepEqual(accounts.map((r) => [r.id, r.name]), [['g1', 'Acme']]);
    const pages = await db.query(`SELECT name, path, title, anonymous_id FROM "${slug}".pages`);
    assert.deepEqual(pages.map((r) => [r.name, r.path, r.title, r.anonymous_id]), [['Home', '/', 'Home', 'a1']]);

    // A message without receivedAt (none reaches the log from the Tracking API) loaded
    // twice: its discards are not written twice either (NULL = NULL is not true in SQL).
    const third = [msg('s1', { type: 'identify', userId: 'u3', receivedAt: undefined, traits: { logins: 'lots' } })];
    await engine.load(third);
    await engine.load(third);
    const lots = await db.query(`SELECT table_name, received_at FROM "${slug}".discards WHERE value = 'lots' ORDER BY table_name`);
    assert.deepEqual(lots.map((r) => [r.table_name, r.received_at]), [['identifies', null], ['users', null]]);
    const u3 = await db.query(`SELECT count(*) AS n FROM "${slug}".identifies WHERE user_id = 'u3'`);
    assert.equal(Number(u3[0]!.n), 1);
  });

  test(`${t.name}: a crash inside the load, then between load and ack: no duplicate, no missing row`, async () => {
    const slug = `wh_test_crash_${t.name}_${process.pid}`;
    after(() => t.cleanup(slug));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-whlog-'));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const logPath = path.join(dir, 'log.db');
    const openLog = () => new SqliteEventLog({ path: logPath, sync: 'normal', dedupeWindowMs: 3_600_000, retentionMs: 0 });
    const historyPath = path.join(dir, 'syncs.db');
    const dbPath = path.join(dir, 'wh.duckdb');
    const open = () => (t.name === 'duckdb' ? openDuckDb(dbPath) : openPostgres(PG_URL));
    const config = { id: 'wh1', type: t.name as 'duckdb', sources: [{ id: 'src', slug }], settings: {} };

    let log = openLog();
    let lane: LoaderLane = log.lane({ laneId: 'warehouse:wh1', sourceIds: ['src'] });
    await lane.fetch(1, Date.now()); // create the lane before appending: a new lane starts at the end
    const events = Array.from({ length: 300 }, (_, i) => msg('src', { type: 'track', userId: `u${i % 7}`, event: 'Signed Up', properties: { n: i } }));
    await log.append(events.map((e) => ({ workspaceId: 'w', sourceId: 'src', messageId: e.messageId, payload: e.payload, receivedAt: e.receivedAt })));

    // 1. The target fails in the middle of the transaction: rolled back, retried by the next run.
    let failOnce = true;
    const history = new SyncHistory(historyPath);
    let loader = new WarehouseLoader({
      config, lane, openDialect: open, history, logger: pino({ level: 'silent' }), batchSize: 100,
      afterTable: async (table) => {
        if (table === 'signed_up' && failOnce) {
          failOnce = false;
          throw new Error('connection reset');
        }
      },
    });
    await loader.syncNow();
    const failed = history.list('wh1');
    assert.equal(failed[0]!.status, 'failed');
    assert.match(failed[0]!.error!, /connection reset/);

    // 2. Loaded and committed, then "killed" before the ack reached the log.
    const dialect = await open();
    const engine = new WarehouseEngine(dialect, () => slug);
    const handed = await lane.fetch(100, Date.now());
    assert.deepEqual(handed.map((m) => m.messageId), events.slice(0, 100).map((e) => e.messageId)); // the failed batch comes back first
    await engine.load(handed);
    await dialect.close();
    await loader.stop();
    await log.close();

    // 3. Restart: everything is loaded once.
    log = openLog();
    lane = log.lane({ laneId: 'warehouse:wh1', sourceIds: ['src'] });
    loader = new WarehouseLoader({ config, lane, openDialect: open, history, logger: pino({ level: 'silent' }), batchSize: 100 });
    await loader.syncNow();
    assert.equal(history.list('wh1')[0]!.status, 'success');
    await loader.stop();
    await log.close();
    const check = await open();
    for (const table of ['tracks', 'signed_up']) {
      const r = await check.query(`SELECT count(*) AS n, count(DISTINCT id) AS d FROM "${slug}".${table}`);
      assert.deepEqual([Number(r[0]!.n), Number(r[0]!.d)], [300, 300], table);
    }
    // Segment-docs query: tracks per event per day.
    const perDay = await check.query(`SELECT date_trunc('day', received_at) AS day, event, count(*) AS n FROM "${slug}".tracks GROUP BY 1, 2`);
    assert.deepEqual(perDay.map((r) => [r.event, Number(r.n)]), [['signed_up', 300]]);
    await check.close();
    history.close();
  });
}

test('a second log connection (the loader thread) never makes the router lose events to false duplicates', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-2log-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const open = () => new SqliteEventLog({ path: path.join(dir, 'log.db'), sync: 'normal', dedupeWindowMs: 3_600_000, retentionMs: 0 });
  const router = open();
  const loader = open();
  const a = router.lane({ laneId: 'dest', sourceIds: ['s'] });
  const b = loader.lane({ laneId: 'warehouse:x', sourceIds: ['s'] });
  await a.fetch(1, Date.now());
  await b.fetch(1, Date.now());
  const seen = { a: new Set<string>(), b: new Set<string>() };
  const drain = async (lane: LoaderLane, into: Set<string>) => {
    for (const m of await lane.fetch(37, Date.now())) {
      into.add(m.messageId);
      lane.ack(m);
    }
    await lane.flush();
  };
  for (let i = 0; i < 20; i++) {
    await router.append(Array.from({ length: 50 }, (_, k) => ({ workspaceId: 'w', sourceId: 's', messageId: `m${i}-${k}`, payload: '{}', receivedAt: Date.now() })));
    await drain(i % 2 ? a : b, i % 2 ? seen.a : seen.b);
    await drain(i % 3 ? b : a, i % 3 ? seen.b : seen.a);
  }
  for (let i = 0; i < 40; i++) {
    await drain(a, seen.a);
    await drain(b, seen.b);
  }
  assert.equal(seen.a.size, 1000);
  assert.equal(seen.b.size, 1000);
  await a.close();
  await b.close();
  await router.close();
  await loader.close();
});

test('selective sync: a source off waits in the lane and catches up; a collection or property off skips, then only new data', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-wh-sel-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const log = new SqliteEventLog({ path: path.join(dir, 'log.db'), sync: 'normal', dedupeWindowMs: 3_600_000, retentionMs: 0 });
  const history = new SyncHistory(path.join(dir, 'syncs.db'));
  const dbPath = path.join(dir, 'wh.duckdb');
  const sources = [{ id: 's1', slug: 'web' }, { id: 's2', slug: 'ios' }];
  const lane = () => log.lane({ laneId: 'warehouse:sel', sourceIds: ['s1', 's2'] });
  const send = (sourceId: string, body: Record<string, unknown>) => {
    const e = msg(sourceId, body);
    return log.append([{ workspaceId: 'w', sourceId, messageId: e.messageId, payload: e.payload, receivedAt: e.receivedAt }]);
  };
  const run = async (syncOverrides: { sourceId: string; collection?: string; property?: string; enabled: boolean }[]) => {
    const l = lane();
    const loader = new WarehouseLoader({
      config: { id: 'sel', type: 'duckdb', sources, settings: {}, syncOverrides }, lane: l,
      openDialect: () => openDuckDb(dbPath), history, logger: pino({ level: 'silent' }), disabledSourceDelayMs: 0,
    });
    await loader.syncNow();
    await loader.stop();
  };
  const off = [
    { sourceId: 's2', enabled: false },
    { sourceId: 's1', collection: 'signed_up', enabled: false },
    { sourceId: 's1', collection: 'order_completed', property: 'coupon', enabled: false },
  ];
  await run(off); // creates the lane
  await send('s1', { type: 'track', userId: 'a', event: 'Signed Up', properties: { plan: 'x' } });
  await send('s1', { type: 'track', userId: 'a', event: 'Order Completed', properties: { revenue: 1, coupon: 'C1' } });
  await send('s2', { type: 'track', userId: 'b', event: 'App Opened', properties: {} });
  await run(off);
  const q = async (sql: string) => {
    const db = await openDuckDb(dbPath);
    try {
      return await db.query(sql);
    } finally {
      await db.close();
    }
  };
  const tables = async (schema: string) => (await q(`SELECT table_name FROM information_schema.tables WHERE table_schema = '${schema}' ORDER BY 1`)).map((r) => r.table_name);
  assert.deepEqual(await tables('web'), ['order_completed', 'tracks']);
  assert.deepEqual(await tables('ios'), []);
  assert.deepEqual((await q(`SELECT column_name FROM information_schema.columns WHERE table_schema = 'web' AND table_name = 'order_completed' AND column_name = 'coupon'`)).length, 0);

  // Everything back on: the source catches up; the collection and property only get new data.
  await send('s1', { type: 'track', userId: 'a', event: 'Signed Up', properties: { plan: 'y' } });
  await send('s1', { type: 'track', userId: 'a', event: 'Order Completed', properties: { revenue: 2, coupon: 'C2' } });
  await run([]);
  assert.deepEqual(await tables('ios'), ['app_opened', 'tracks']);
  assert.deepEqual((await q(`SELECT plan FROM web.signed_up`)).map((r) => r.plan), ['y']);
  assert.deepEqual((await q(`SELECT revenue, coupon FROM web.order_completed ORDER BY revenue`)).map((r) => [Number(r.revenue), r.coupon]), [[1, null], [2, 'C2']]);
  history.close();
  await log.close();
});
