/**
 * The loader's direct path for track events, pages, screens, identifies and groups (event-shapes.ts and `copyNew`: the
 * values written as text lines while parsing, then PostgreSQL's COPY or DuckDB's CSV
 * reader) must give exactly the tables the row-by-row path gives. The same batches,
 * full of the cases each path treats differently, go twice into each target: through
 * the dialect as it is, and through the same dialect without `copyNew`. Every table,
 * column, type and value must match, discards included.
 * PostgreSQL is the server on 127.0.0.1:5432 (schemas *_test_*, dropped after).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDuckDb, openPostgres } from '../src/storage/warehouse/dialects.js';
import { isCanonicalTime, WarehouseEngine } from '../src/storage/warehouse/engine.js';
import pino from 'pino';
import { SyncHistory } from '../src/storage/warehouse/history.js';
import { WarehouseLoader } from '../src/storage/warehouse/loader.js';
import type { Dialect, LoaderLane, LoaderMessage } from '../src/storage/warehouse/types.js';

const T = '2026-11-24T10:00:00.000Z';
let seq = 0;
function track(sourceId: string, n: number, extra: Record<string, unknown>): LoaderMessage {
  const messageId = (extra.messageId as string | undefined) ?? `m-${sourceId}-${n}`;
  const payload = JSON.stringify({
    type: 'track', event: 'Order Completed', userId: `u${n % 7}`, messageId, receivedAt: T, sentAt: T, timestamp: T, originalTimestamp: T,
    context: { library: { name: 'analytics-node', version: '2' }, ip: '127.0.0.1' }, properties: { total: n, sku: `s${n}` }, ...extra,
  });
  return { seq: ++seq, sourceId, messageId, payload, receivedAt: Date.parse(T) };
}

/** An event of another type than track, as `track` makes one. */
function other(type: string, sourceId: string, n: number, extra: Record<string, unknown>): LoaderMessage {
  const messageId = (extra.messageId as string | undefined) ?? `${type}-${sourceId}-${n}`;
  const payload = JSON.stringify({
    type, anonymousId: `a${n % 5}`, messageId, receivedAt: T, sentAt: T, timestamp: T, originalTimestamp: T,
    context: { library: { name: 'analytics.js', version: '5' }, page: { path: `/p${n % 3}` } }, ...extra,
  });
  return { seq: ++seq, sourceId, messageId, payload, receivedAt: Date.parse(T) };
}

/** Pages, screens, identifies and groups: the cases rows.ts treats in its own way for each. */
function others(round: number): LoaderMessage[] {
  const out: LoaderMessage[] = [];
  for (let n = 0; n < 20; n++) {
    const i = n + round * 1000; // new ids in each batch
    // As analytics.js sends a named page: the name in properties too (dropped there).
    out.push(other('page', 'src-a', i, { name: 'Home', category: 'Docs', properties: { name: 'Home', title: 'Welcome', url: `http://x/${i}`, path: '/', referrer: '', views: i } }));
    out.push(other('screen', 'src-a', i, { name: 'Cart', properties: { items: i % 3, total: i + 0.5 } }));
    out.push(other('identify', 'src-a', i, { userId: `u${i % 4}`, traits: { email: `u${i % 4}@x.io`, plan: i % 2 ? 'pro' : 'free', address: { city: 'Oslo' }, logins: i + round } }));
    out.push(other('group', 'src-a', i, { groupId: `g${i % 3}`, traits: { name: `Group ${i % 3}`, employees: i * 10 } }));
  }
  if (round === 0) {
    out.push(
      other('page', 'src-a', 100, { properties: { title: 'Unnamed', views: 1 } }), // no name at all
      other('page', 'src-a', 101, { properties: { name: 'From props', category: 'Props', views: 2 } }), // named only in its properties: the row path
      other('page', 'src-a', 102, { name: '', properties: { name: 'Empty root', views: 3 } }),
      other('page', 'src-a', 103, { name: 404, properties: { views: 4 } }), // a number as the name: its text
      other('page', 'src-a', 104, { properties: { Name: 'spelled Name', views: 5 } }),
      other('page', 'src-a', 105, { name: 'Home', properties: { views: 6, tags: ['a', 'b'], Select: 'reserved word' } }),
      other('page', 'src-a', 1, { name: 'Duplicate id' }), // same id as an earlier page of the batch
      other('page', 'src-b', 1, { name: 'Other source', properties: { views: 1 } }),
      other('screen', 'src-a', 100, { name: true, properties: { items: 1 } }), // a boolean name: the row path (no name)
      other('identify', 'src-a', 100, { traits: { email: 'anon@x.io' } }), // no userId: no users row
      other('identify', 'src-a', 101, { userId: 7, traits: { email: 'seven@x.io', tags: ['vip'] } }),
      other('identify', 'src-a', 102, { userId: 'u9', traits: { email: 'u9@x.io', plan: 'gold' } }),
      other('identify', 'src-a', 103, { userId: 'u9', traits: { email: 'u9-new@x.io', plan: null } }), // later traits win, nulls do not
      other('group', 'src-a', 100, { groupId: 42, traits: { name: 'Numeric' } }),
      other('group', 'src-a', 101, { traits: { name: 'No group id' } }),
      other('alias', 'src-a', 100, { userId: 'u1', previousId: 'a1' }),
    );
  } else {
    out.push(
      other('page', 'src-a', 200, { name: 'Home', properties: { views: 2.5, title: 'Wider' } }), // bigint column widened to double
      other('page', 'src-a', 201, { name: 'Home', properties: { views: 'many' } }), // into a double column: discarded
      other('screen', 'src-a', 200, { name: 'Cart', properties: { items: 'x', total: 1 } }),
      other('identify', 'src-a', 200, { userId: 'u2', traits: { logins: 'often' } }),
      other('page', 'src-a', 3, { name: 'Loaded already' }),
    );
  }
  return out;
}

/** Batches covering what the direct path takes and what it hands back to the row path. */
function batches(): LoaderMessage[][] {
  const first: LoaderMessage[] = [];
  for (let i = 0; i < 50; i++) first.push(track('src-a', i, {}));
  first.push(
    track('src-a', 100, { properties: { total: 1.5, nested: { deepKey: { x: 1 } }, 'weird "key"': 'q', "it's": 'a', Select: true } }),
    track('src-a', 101, { properties: { tags: ['a', 'b'], total: 2 } }), // an array: its JSON, on either path
    track('src-a', 119, { properties: { total: 3, products: [{ sku: 'a"b\\c', price: 1.5, tags: ['x'] }, { sku: 'tab\there', price: 2 }] } }),
    track('src-a', 102, { properties: { Sku: 'upper', sku: 'lower' } }), // two spellings of one column
    track('src-a', 103, { properties: { when: '2026-01-02T03:04:05Z', total: 3 } }), // non-canonical timestamp
    track('src-a', 104, { properties: { when: '2026-01-02T03:04:05.000Z', total: 4 } }),
    track('src-a', 105, { userId: 42 }), // a number as user id: its text, on either path
    track('src-a', 106, { anonymousId: '', properties: { total: 6, user_id: 'collides', contextual: 'ok', context_x: 'dropped' } }),
    track('src-a', 107, { event: 'Tracks' }), // named like Segment's own table
    track('src-a', 108, { event: '!!!' }), // no table name
    track('src-a', 109, { messageId: 'm-src-a-0' }), // same id as an earlier event of the batch
    track('src-a', 110, { context: { page: { url: 'http://x', Path: '/p' }, traits: { list: [1] } } }),
    track('src-a', 111, { context: 'not an object' }),
    track('src-a', 112, { event: `Long ${'e'.repeat(600)}` }), // event_text over 512 characters (PostgreSQL truncates)
    track('src-a', 113, { event: 'Signed Up', properties: { plan: 'pro', seats: 3, Plan: undefined } }),
    // Strings each line format must quote or escape (tab, line breaks, quotes, backslashes, the null marker).
    track('src-a', 114, { properties: { note: 'tab\there "quoted",\nnext line\r\nback\\slash \\N', marker: '\\N', empty: '', spaced: '  x  ', uni: 'é 🎉 "', quote: '"' } }),
    track('src-a', 115, { properties: { note: 'plain', marker: 'N', empty: 'e', spaced: 'x', uni: 'u', quote: "'" } }),
    // sentAt as clients other than analytics.js write it (kept so by ingest): in toISOString's form on both paths.
    track('src-a', 116, { sentAt: '2026-11-24T10:00:00.123456+00:00' }),
    track('src-a', 117, { sentAt: '2026-11-24T12:00:00+02:00' }),
    track('src-a', 118, { sentAt: 'yesterday' }), // not a time: discarded on the row path
    track('src-b', 1, { event: 'Signed Up', properties: { plan: 'team', seats: 2.5 } }),
    track('src-b', 2, { sentAt: undefined, properties: { Total: 5 } }),
    { seq: ++seq, sourceId: 'src-a', messageId: 'id-1', receivedAt: 0, payload: JSON.stringify({ type: 'identify', userId: 'u1', messageId: 'id-1', receivedAt: T, traits: { name: 'A' } }) },
    { seq: ++seq, sourceId: 'src-a', messageId: 'p-1', receivedAt: 0, payload: JSON.stringify({ type: 'page', anonymousId: 'a1', messageId: 'p-1', receivedAt: T, name: 'Home', properties: { title: 'T' } }) },
    ...others(0),
  );
  const second: LoaderMessage[] = [
    track('src-a', 200, { properties: { total: 7.25, sku: 's', newProp: 'later' } }),
    track('src-a', 201, { properties: { total: 8, when: 'not a time' } }), // into a timestamp column: discard
    track('src-a', 202, { properties: { sku: 99 } }), // number into varchar: cast on the row path
    track('src-a', 203, { properties: { total: 'not a number' } }), // into a double column: discarded
    // Times in other forms into a column the target has as timestamp: cast as the row path casts them.
    track('src-a', 204, { properties: { total: 9, when: '2026-05-06T07:08:09+02:00', flag: true } }),
    track('src-a', 205, { properties: { total: 10, when: '2026-05-06T07:08:09.5Z', flag: false } }),
    track('src-a', 5, {}), // loaded in the first batch already
    track('src-b', 3, { event: 'Signed Up', properties: { plan: 'x', seats: 1 } }),
  ];
  // One shape, one odd value among them: the other 20 stay on the direct path.
  for (let i = 0; i < 20; i++) second.push(track('src-a', 300 + i, { properties: { total: i, sku: `s${i}`, size: 'm' } }));
  second.push(track('src-a', 320, { properties: { total: 20, sku: 320, size: 'l' } })); // number into varchar: cast on the row path
  // The odd value first, and whole and fractional numbers mixed in one double column: 10 more on the direct path.
  second.push(track('src-a', 400, { properties: { total: 1, code: 7 } }));
  for (let i = 1; i <= 10; i++) second.push(track('src-a', 400 + i, { properties: { total: i % 2 === 0 ? i : i + 0.5, code: `c${i}` } }));
  second.push(...others(1));
  // Many shapes in one load (optional properties left out): 41 shape batches. The largest 32
  // stay direct (150 events of the common shape, 31 of one event each); past 32, those under
  // 100 events (the other 9) go row by row.
  const third: LoaderMessage[] = [];
  for (let i = 0; i < 150; i++) third.push(track('src-a', 500 + i, { event: 'Item Sparse', properties: { a: i, b: 'x', c: true } }));
  for (let i = 0; i < 40; i++) {
    const properties: Record<string, unknown> = { a: i };
    for (let bit = 0; bit < 6; bit++) if ((i >> bit) & 1) properties[`opt${bit}`] = `v${i}`;
    third.push(track('src-a', 700 + i, { event: 'Item Sparse', properties }));
  }
  return [first, second, third];
}

/** Every table of the two schemas, by their role ('a', 'b'), rows compared as sorted JSON. */
async function dump(db: Dialect, schemas: { a: string; b: string }): Promise<Record<string, unknown>> {
  const role = new Map([[schemas.a, 'a'], [schemas.b, 'b']]);
  const cols = await db.query(`SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns
    WHERE table_schema IN ('${schemas.a}', '${schemas.b}') ORDER BY table_schema, table_name, column_name`);
  const out: Record<string, unknown> = {
    columns: cols.map((c) => `${role.get(String(c.table_schema))}.${String(c.table_name)}.${String(c.column_name)} ${String(c.data_type)}`),
  };
  for (const t of new Set(cols.map((c) => `${String(c.table_schema)}\0${String(c.table_name)}`))) {
    const [schema, table] = t.split('\0') as [string, string];
    // Columns compared by name: the two paths may add a batch's new columns in another order.
    const rows = await db.query(`SELECT * FROM "${schema}"."${table}"`);
    out[`${role.get(schema)}.${table}`] = rows
      .map((r) => {
        delete r.uuid_ts;
        const sorted = Object.fromEntries(Object.entries(r).sort(([x], [y]) => x.localeCompare(y)));
        return JSON.stringify(sorted, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      })
      .sort();
  }
  return out;
}

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** Selective sync: a property of one table, a context column of `tracks`, a whole table of the other source. */
const OVERRIDES = [
  { sourceId: 'src-a', collection: 'order_completed', property: 'sku', enabled: false },
  { sourceId: 'src-a', collection: 'tracks', property: 'context_ip', enabled: false },
  { sourceId: 'src-a', collection: 'order_completed', property: 'context_library_version', enabled: false },
  { sourceId: 'src-b', collection: 'signed_up', enabled: false },
  { sourceId: 'src-a', collection: 'pages', property: 'title', enabled: false },
  { sourceId: 'src-a', collection: 'screens', property: 'name', enabled: false },
  { sourceId: 'src-a', collection: 'groups', enabled: false },
  { sourceId: 'src-b', collection: 'pages', enabled: false },
];

for (const [target, selective] of [['duckdb', false], ['postgres', false], ['duckdb', true], ['postgres', true]] as const) {
  test(`${target}: the track event path loads exactly what the row-by-row path loads${selective ? ', with selective sync' : ''}`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-json-path-'));
    const tag = `${process.pid}${selective ? 's' : ''}`;
    const overrides = selective ? OVERRIDES : [];
    // Each engine gets its own schemas (PostgreSQL: one database for both).
    const slugs = { fast: { a: `jp_test_${tag}_fast_a`, b: `jp_test_${tag}_fast_b` }, rows: { a: `jp_test_${tag}_rows_a`, b: `jp_test_${tag}_rows_b` } };
    const open = (name: string) => (target === 'duckdb' ? openDuckDb(path.join(dir, `${name}.duckdb`)) : openPostgres(PG_URL));
    // Stage files a killed loader left behind (no process has pid 2^22+1: above Linux's pid_max) go at open.
    const orphans = ['csv', 'ndjson'].map((ext) => path.join(dir, `.fast.duckdb.stage-${2 ** 22 + 1}-1.${ext}`));
    for (const orphan of orphans) fs.writeFileSync(orphan, '{}\n');
    const fastDb = await open('fast');
    const rowsDb = await open('rows');
    const rowsOnly: Dialect = Object.create(rowsDb, { copyNew: { value: undefined } }) as Dialect;
    assert.ok(fastDb.copyNew, 'the dialect has its track event path');
    /** Lines handed to the direct path per table (`tracks` aside). */
    const taken = new Map<string, number>();
    const counting: Dialect = Object.create(fastDb, {
      copyNew: { value: async (...a: Parameters<NonNullable<Dialect['copyNew']>>) => { const t = a[0].slice(a[0].lastIndexOf('.') + 2, -1); taken.set(t, (taken.get(t) ?? 0) + a[1].reduce((n, p) => n + p.rows.length, 0)); return fastDb.copyNew!(...a); } },
    }) as Dialect;
    const fallbacks: unknown[] = [];
    const a = new WarehouseEngine(counting, (id) => (id === 'src-a' ? slugs.fast.a : slugs.fast.b), undefined, overrides, (err) => fallbacks.push(err));
    const b = new WarehouseEngine(rowsOnly, (id) => (id === 'src-a' ? slugs.rows.a : slugs.rows.b), undefined, overrides);
    try {
      for (const batch of batches()) {
        const ra = await a.load(batch, new Date(T));
        const rb = await b.load(batch, new Date(T));
        assert.deepEqual(Object.fromEntries(ra.rows), Object.fromEntries(rb.rows), 'rows per source and table');
      }
      // With selective sync, src-b's Signed Up table is off: its events (3) write no event-table row.
      assert.equal(taken.get('item_sparse'), 181, 'past 32 shapes a load, the small ones go row by row');
      taken.delete('item_sparse');
      const events = [...taken].filter(([t]) => !['tracks', 'pages', 'screens', 'identifies', 'groups'].includes(t)).reduce((n, [, k]) => n + k, 0);
      assert.ok(events >= (selective ? 98 : 101), `most track events took the ${target} path (${events})`);
      // Pages named only in their properties, a boolean name and values that do not fit stay on the row path (counts above).
      const others = { pages: selective ? 46 : 47, screens: 40, identifies: 45, groups: selective ? 0 : 42 };
      assert.deepEqual(Object.fromEntries(Object.keys(others).map((t) => [t, taken.get(t) ?? 0])), others, 'pages, screens, identifies and groups on the direct path');
      assert.deepEqual(fallbacks.map(String), [], 'the target took every line it was given');
      if (target === 'duckdb') {
        assert.deepEqual(orphans.filter((f) => fs.existsSync(f)), [], 'the orphan stage files were removed');
        assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.stage-')), [], 'no stage file is left after the loads');
      }
      const da = await dump(fastDb, slugs.fast);
      const dr = await dump(rowsDb, slugs.rows);
      assert.deepEqual(da, dr);
      assert.ok(((da['a.discards'] as string[] | undefined) ?? []).length >= 2, 'casts that fail are discarded on both paths');
      assert.ok((da['a.order_completed'] as string[]).length > 50);
      const special = (da['a.order_completed'] as string[]).map((r) => JSON.parse(r) as Record<string, unknown>).find((r) => r.id === 'm-src-a-114');
      const sent = (da['a.order_completed'] as string[]).map((r) => JSON.parse(r) as Record<string, unknown>).filter((r) => ['m-src-a-116', 'm-src-a-117'].includes(r.id as string));
      assert.deepEqual(sent.map((r) => new Date(r.sent_at as string).toISOString()).sort(), ['2026-11-24T10:00:00.000Z', '2026-11-24T10:00:00.123Z'], 'sentAt forms as one instant');
      const products = (da['a.order_completed'] as string[]).map((r) => JSON.parse(r) as Record<string, unknown>).find((r) => r.id === 'm-src-a-119');
      assert.deepEqual(JSON.parse(products?.products as string), [{ sku: 'a"b\\c', price: 1.5, tags: ['x'] }, { sku: 'tab\there', price: 2 }], 'an array as its JSON');
      const when = (da['a.order_completed'] as string[]).map((r) => JSON.parse(r) as Record<string, unknown>).filter((r) => ['m-src-a-204', 'm-src-a-205'].includes(r.id as string));
      assert.deepEqual(when.map((r) => new Date(r._when as string).toISOString()).sort(), ['2026-05-06T05:08:09.000Z', '2026-05-06T07:08:09.500Z'], '"when" is a reserved word: `_when`');
      const rowsOf = (t: string) => ((da[`a.${t}`] as string[] | undefined) ?? []).map((r) => JSON.parse(r) as Record<string, unknown>);
      const page = (id: string) => rowsOf('pages').find((r) => r.id === id);
      assert.deepEqual([101, 102, 103, 104, 1].map((i) => page(`page-src-a-${i}`)?.name), ['From props', 'Empty root', '404', null, 'Home'], 'page names as rows.ts gives them');
      assert.equal(page('page-src-a-101')?.category, 'Props');
      assert.equal(rowsOf('pages').filter((r) => r.id === 'page-src-a-1').length, 1, 'a page id twice in a batch: one row');
      const u9 = rowsOf('users').find((r) => r.id === 'u9');
      assert.deepEqual([u9?.email, u9?.plan], ['u9-new@x.io', 'gold'], 'users: the latest non-null traits');
      assert.equal(rowsOf('identifies').length, 46, 'every identify (one id loaded twice counts once)');
      if (!selective) assert.deepEqual(rowsOf('accounts').map((r) => r.id).sort(), ['42', 'g0', 'g1', 'g2']);
      assert.deepEqual(special && [special.note, special.marker, special.empty, special.spaced, special.uni, special.quote],
        ['tab\there "quoted",\nnext line\r\nback\\slash \\N', '\\N', '', '  x  ', 'é 🎉 "', '"'], 'strings arrive as sent');
    } finally {
      if (target === 'postgres') {
        for (const s of [...Object.values(slugs.fast), ...Object.values(slugs.rows)]) await fastDb.exec(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
      }
      await fastDb.close();
      await rowsDb.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a loader asked to stop ends after the batch in hand and puts the batch it read ahead back on the lane', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-loader-stop-'));
  const messages = Array.from({ length: 1000 }, (_, i) => track('src-a', i, {}));
  let next = 0;
  const acked: string[] = [];
  const returned: string[] = [];
  const lane: LoaderLane = {
    async fetch(max) {
      const out = messages.slice(next, next + max);
      next += out.length;
      return out;
    },
    ack: (m) => void acked.push(m.messageId),
    retry: (m) => void returned.push(m.messageId),
    async flush() {},
    async close() {},
  };
  let stopping: Promise<void> | undefined;
  const loader: WarehouseLoader = new WarehouseLoader({
    config: { id: 'stop', type: 'duckdb', sources: [{ id: 'src-a', slug: 'stop_test' }], settings: {} },
    lane,
    openDialect: () => openDuckDb(path.join(dir, 'wh.duckdb')),
    history: new SyncHistory(path.join(dir, 'history.db')),
    logger: pino({ level: 'silent' }),
    batchSize: 100,
    // Inside the first batch's transaction: the lease is lost.
    afterTable: async () => {
      stopping ??= loader.stop();
    },
  });
  try {
    await loader.syncNow();
    await stopping;
    assert.equal(acked.length, 100, 'the batch in hand was loaded and acknowledged');
    assert.deepEqual(returned, messages.slice(100, 200).map((m) => m.messageId), 'the batch read ahead went back on the lane');
    assert.equal(next, 200, 'nothing more was read');
    const db = await openDuckDb(path.join(dir, 'wh.duckdb'));
    const n = await db.query(`SELECT count(*) AS n FROM stop_test.order_completed`);
    await db.close();
    assert.equal(Number(n[0]!.n), 100);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

for (const target of ['duckdb', 'postgres'] as const) test(`${target}: when the target refuses the direct path, the batch loads row by row and the refusal is reported`, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-direct-fallback-'));
  const schema = `fallback_test_${process.pid}`;
  const db = target === 'duckdb' ? await openDuckDb(path.join(dir, 'wh.duckdb')) : await openPostgres(PG_URL);
  // The event table's lines are refused, inside the transaction, after `tracks` may have taken its own.
  const refusing: Dialect = Object.create(db, {
    copyNew: {
      value: async (...a: Parameters<NonNullable<Dialect['copyNew']>>) => {
        if (a[0].endsWith('"tracks"')) return db.copyNew!(...a);
        await new Promise((r) => setTimeout(r, 50));
        throw new Error('Conversion Error: could not convert string "x" to TIMESTAMP');
      },
    },
  }) as Dialect;
  const reported: unknown[] = [];
  const engine = new WarehouseEngine(refusing, () => schema, undefined, [], (err) => reported.push(err));
  try {
    // An identify on the row path (its context is not an object), inserted before the refusal.
    const identify = { seq: ++seq, sourceId: 'src-a', messageId: 'id-9', receivedAt: 0, payload: JSON.stringify({ type: 'identify', userId: 'u9', messageId: 'id-9', receivedAt: T, context: 'x', traits: { name: 'Z' } }) };
    const batch = [identify, ...Array.from({ length: 10 }, (_, i) => track('src-a', i, {}))];
    const result = await engine.load(batch, new Date(T));
    assert.deepEqual(result.rows.get('src-a'), { identifies: 1, users: 1, order_completed: 10, tracks: 10 });
    assert.equal(reported.length, 1);
    assert.match(String(reported[0]), /^Error: the direct path for the events of order_completed failed: Conversion Error: could not convert/, 'the report names the table and the reason');
    for (const table of ['order_completed', 'tracks']) {
      const n = await db.query(`SELECT count(*) AS n, count(DISTINCT id) AS d FROM "${schema}".${table}`);
      assert.deepEqual([Number(n[0]!.n), Number(n[0]!.d)], [10, 10], table);
    }
    const ids = await db.query(`SELECT count(*) AS n FROM "${schema}".identifies`);
    assert.equal(Number(ids[0]!.n), 1, 'the rows inserted before the refusal were not loaded twice');
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.stage-')), [], 'no stage file is left');
  } finally {
    if (target === 'postgres') await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('postgres: a table an earlier version made (index on id) gets the (received_at, id) index, and a re-loaded batch adds nothing', async () => {
  const schema = `jp_test_${process.pid}_index`;
  const db = await openPostgres(PG_URL);
  try {
    // As an earlier version left it: no received_at column and an index on id alone.
    await db.exec(`CREATE SCHEMA "${schema}"`);
    await db.exec(`CREATE TABLE "${schema}"."tracks" (id varchar(512), event varchar(512))`);
    await db.exec(`CREATE INDEX "tracks_id_idx" ON "${schema}"."tracks" (id)`);
    await db.exec(`INSERT INTO "${schema}"."tracks" (id, event) VALUES ('old-1', 'legacy')`);
    const engine = new WarehouseEngine(db, () => schema);
    const batch = Array.from({ length: 30 }, (_, i) => track('src-a', i, {}));
    assert.deepEqual((await engine.load(batch, new Date(T))).rows.get('src-a'), { order_completed: 30, tracks: 30 });
    // A value that cannot be cast goes to discards, once however often its batch is loaded.
    const uncastable = [track('src-a', 98, { properties: { total: 'lots', sku: 's98' } })];
    for (let i = 0; i < 2; i++) await engine.load(uncastable, new Date(T));
    const discards = await db.query(`SELECT id, column_name FROM "${schema}".discards`);
    assert.deepEqual(discards.map((r) => [r.id, r.column_name]), [['m-src-a-98', 'total']]);
    // The loader crashed before acknowledging: the same batch again, and a batch with one more event.
    assert.deepEqual((await new WarehouseEngine(db, () => schema).load(batch, new Date(T))).rows.get('src-a'), { order_completed: 0, tracks: 0 });
    const more = [...batch, track('src-a', 99, {})];
    assert.deepEqual((await engine.load(more, new Date(T))).rows.get('src-a'), { order_completed: 1, tracks: 1 });
    const indexes = await db.query(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = '${schema}' AND tablename = 'tracks'`);
    assert.deepEqual(indexes.map((r) => String(r.indexname)), ['tracks_received_at_id_idx']);
    assert.match(String(indexes[0]!.indexdef), /\(received_at, id\)/);
    const n = await db.query(`SELECT count(*) AS n, count(DISTINCT id) AS d FROM "${schema}"."tracks"`);
    assert.deepEqual([Number(n[0]!.n), Number(n[0]!.d)], [33, 33], 'the old row, 32 events, no duplicate');
  } finally {
    await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.close();
  }
});

for (const target of ['duckdb', 'postgres'] as const) test(`${target}: a re-loaded batch adds nothing, and a later batch adds all it holds`, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-direct-reload-'));
  const schema = `reload_test_${process.pid}`;
  const db = target === 'duckdb' ? await openDuckDb(path.join(dir, 'wh.duckdb')) : await openPostgres(PG_URL);
  try {
    const later = '2026-11-24T11:00:00.000Z';
    const first = Array.from({ length: 30 }, (_, i) => track('src-a', 1000 + i, {}));
    // Received an hour later: none of the table's rows can share its (received_at, id), so DuckDB skips the check.
    const second = Array.from({ length: 30 }, (_, i) => {
      const m = track('src-a', 2000 + i, { receivedAt: later });
      return { ...m, receivedAt: Date.parse(later) };
    });
    const load = async (batch: LoaderMessage[]) => (await new WarehouseEngine(db, () => schema).load(batch, new Date(T))).rows.get('src-a');
    assert.deepEqual(await load(first), { order_completed: 30, tracks: 30 });
    // A crash before the ack: the same batch again adds nothing.
    assert.deepEqual(await load(first), { order_completed: 0, tracks: 0 });
    assert.deepEqual(await load(second), { order_completed: 30, tracks: 30 });
    assert.deepEqual(await load(second), { order_completed: 0, tracks: 0 });
    // Both batches again in one (the first's window reaches back): nothing new.
    assert.deepEqual(await load([...first, ...second]), { order_completed: 0, tracks: 0 });
    for (const table of ['order_completed', 'tracks']) {
      const n = await db.query(`SELECT count(*) AS n, count(DISTINCT id) AS d FROM "${schema}"."${table}"`);
      assert.deepEqual([Number(n[0]!.n), Number(n[0]!.d)], [60, 60], `${table}: every event once`);
    }
  } finally {
    if (target === 'postgres') await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('postgres: tracks go in on a second connection; if only that one commits, the re-load adds just what is missing', async () => {
  const schema = `jp_test_${process.pid}_aside`;
  const db = await openPostgres(PG_URL);
  let asides = 0;
  let failCommit = true;
  const flaky: Dialect = Object.create(db, {
    copyNew: { value: (...a: Parameters<NonNullable<Dialect['copyNew']>>) => { if (a[3]) asides++; return db.copyNew!(...a); } },
    // The aside transaction has committed when the main COMMIT fails: a crash between the two.
    exec: { value: async (sql: string) => { if (sql === 'COMMIT' && failCommit) { failCommit = false; throw new Error('server closed the connection'); } return db.exec(sql); } },
  }) as Dialect;
  try {
    const batch = Array.from({ length: 40 }, (_, i) => track('src-a', i, {}));
    await assert.rejects(new WarehouseEngine(flaky, () => schema).load(batch, new Date(T)), /server closed the connection/);
    assert.equal(asides, 1, 'the tracks rows went in aside');
    const mid = await db.query(`SELECT (SELECT count(*) FROM "${schema}".tracks) AS t, (SELECT count(*) FROM "${schema}".order_completed) AS o`);
    assert.deepEqual([Number(mid[0]!.t), Number(mid[0]!.o)], [40, 0], 'only the aside transaction committed');
    const again = await new WarehouseEngine(flaky, () => schema).load(batch, new Date(T));
    assert.deepEqual(again.rows.get('src-a'), { order_completed: 40, tracks: 0 });
    const n = await db.query(`SELECT (SELECT count(DISTINCT id) FROM "${schema}".tracks) AS t, (SELECT count(*) FROM "${schema}".tracks) AS tn,
      (SELECT count(DISTINCT id) FROM "${schema}".order_completed) AS o, (SELECT count(*) FROM "${schema}".order_completed) AS n`);
    assert.deepEqual([Number(n[0]!.t), Number(n[0]!.tn), Number(n[0]!.o), Number(n[0]!.n)], [40, 40, 40, 40]);
  } finally {
    await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.close();
  }
});

for (const target of ['duckdb', 'postgres'] as const) test(`${target}: a time outside the years 1 to 9999 is discarded from a timestamp column, kept as text in a new one, and never fails the load`, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-years-'));
  const schema = `years_test_${process.pid}`;
  const db = target === 'duckdb' ? await openDuckDb(path.join(dir, 'wh.duckdb')) : await openPostgres(PG_URL);
  const engine = new WarehouseEngine(db, () => schema);
  try {
    await engine.load([track('src-a', 1, { properties: { shipped: '2026-01-02T03:04:05.000Z' } })], new Date(T));
    // PostgreSQL refuses year 0; before, such a value failed every load of its batch.
    const outside = [
      track('src-a', 2, { properties: { shipped: '0000-06-01T00:00:00.000Z' } }),
      track('src-a', 3, { properties: { shipped: '-000001-01-01T00:00:00.000Z' } }),
      track('src-a', 4, { properties: { shipped: '2026-02-03T04:05:06.000Z', since: '0000-06-01T00:00:00.000Z' } }),
    ];
    const result = await engine.load(outside, new Date(T));
    assert.deepEqual(result.rows.get('src-a'), { order_completed: 3, tracks: 3 });
    const discards = await db.query(`SELECT id, column_name, reason FROM "${schema}".discards ORDER BY id`);
    assert.deepEqual(discards.map((r) => [r.id, r.column_name]), [['m-src-a-2', 'shipped'], ['m-src-a-3', 'shipped']]);
    for (const r of discards) assert.match(String(r.reason), /to timestamp \(outside the years 1 to 9999\)/);
    const since = await db.query(`SELECT data_type FROM information_schema.columns WHERE table_schema = '${schema}' AND table_name = 'order_completed' AND column_name = 'since'`);
    assert.match(String(since[0]!.data_type).toLowerCase(), /char/, 'a new column of such values is text');
    const when = await db.query(`SELECT id, CAST(shipped AS VARCHAR) AS w FROM "${schema}".order_completed WHERE id = 'm-src-a-4'`);
    assert.match(String(when[0]!.w), /^2026-02-03/);
  } finally {
    if (target === 'postgres') await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('postgres: a table at its 1,600-column limit takes no new column; the values meant for one are discarded and the load goes on', async () => {
  const schema = `columns_test_${process.pid}`;
  const db = await openPostgres(PG_URL);
  try {
    const first = new WarehouseEngine(db, () => schema);
    assert.deepEqual((await first.load([track('src-a', 1, {})], new Date(T))).rows.get('src-a'), { order_completed: 1, tracks: 1 });
    const [{ n }] = (await db.query(`SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = '${schema}' AND table_name = 'order_completed'`)) as [{ n: string }];
    const fill = Array.from({ length: 1600 - Number(n) }, (_, i) => `ADD COLUMN filler_${i} integer`);
    await db.exec(`ALTER TABLE "${schema}".order_completed ${fill.join(', ')}`);
    // A new engine (what a restarted loader is) and the same one (its cache of the table) both go on.
    for (const [engine, i, prop] of [[new WarehouseEngine(db, () => schema), 2, 'coupon'], [first, 3, 'gift_note']] as const) {
      const result = await engine.load([track('src-a', i, { properties: { total: i, sku: `s${i}`, [prop]: 'new' } })], new Date(T));
      assert.deepEqual(result.rows.get('src-a'), { order_completed: 1, tracks: 1 }, `event ${i} loaded`);
    }
    const rows = await db.query(`SELECT id, total, sku FROM "${schema}".order_completed ORDER BY id`);
    assert.deepEqual(rows.map((r) => [r.id, Number(r.total), r.sku]), [['m-src-a-1', 1, 's1'], ['m-src-a-2', 2, 's2'], ['m-src-a-3', 3, 's3']]);
    const discards = await db.query(`SELECT id, column_name, value, reason FROM "${schema}".discards ORDER BY id`);
    assert.deepEqual(discards.map((r) => [r.id, r.column_name, r.value]), [['m-src-a-2', 'coupon', 'new'], ['m-src-a-3', 'gift_note', 'new']]);
    assert.match(String(discards[0]!.reason), /reached the target's column limit \(1600\)/);
  } finally {
    await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.close();
  }
});

test('a canonical time is exactly what toISOString writes, for a real date', () => {
  for (const ok of ['2026-11-24T10:00:00.000Z', '2024-02-29T23:59:59.999Z', '0001-01-01T00:00:00.000Z', new Date(0).toISOString()]) {
    assert.equal(isCanonicalTime(ok), true, ok);
  }
  for (const no of [
    '2026-11-24T10:00:00Z', '2026-11-24T10:00:00.000+00:00', '2026-11-24 10:00:00.000Z', '2025-02-29T00:00:00.000Z', '2026-13-01T00:00:00.000Z',
    '2026-04-31T00:00:00.000Z', '2026-11-24T24:00:00.000Z', '2026-11-24T10:60:00.000Z', '2026-11-24T10:00:60.000Z', '2026-11-24T10:00:00.00aZ',
    '2026-00-10T00:00:00.000Z', '2026-01-00T00:00:00.000Z', '+26-11-24T10:00:00.000Z', 'value 0 1', '', '0000-01-01T00:00:00.000Z',
  ]) {
    assert.equal(isCanonicalTime(no), false, no);
  }
});
