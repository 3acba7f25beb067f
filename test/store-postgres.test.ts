/**
 * The control-plane store on PostgreSQL (SWITCHYARD_STORE=postgres://…): the
 * shared contract (./store-contract.ts), each test in a throwaway schema, and
 * change notification between stores (what lets every process apply a change
 * within a second).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../src/server/config.js';
import { postgresDb } from '../src/store/db.js';
import { migrateControlPlane } from '../src/store/migrate.js';
import { MIGRATIONS } from '../src/store/sqlite-schema.js';
import { openControlPlane, type ControlPlane } from '../src/store/control-plane.js';
import { key, plan, storeContract, type StoreLocation } from './store-contract.js';
import { dropTestSchema, PG_URL, pgClient, testSchemaName } from './helpers/postgres.js';

async function postgresLocation(): Promise<StoreLocation & { schema: string }> {
  const schema = testSchemaName();
  const stores: ControlPlane[] = [];
  const client = await pgClient();
  await client.query(`CREATE SCHEMA "${schema}"`);
  await client.query(`SET search_path TO "${schema}"`);
  return {
    schema,
    async open(opts = {}) {
      const store = await openControlPlane({ postgres: { url: PG_URL, schema } }, { secretKey: opts.secretKey ?? key, pollMs: opts.pollMs });
      stores.push(store);
      return store;
    },
    async query<T>(text: string, params: unknown[] = []) {
      let n = 0;
      const res = await client.query(text.replace(/\?/g, () => `$${++n}`), params);
      return res.rows as T[];
    },
    async dispose() {
      for (const s of stores) await s.close();
      await client.end();
      await dropTestSchema(schema);
    },
  };
}

storeContract('postgres', { create: postgresLocation, concurrentOpens: true });

test('postgres: a change reaches another store through NOTIFY, well before its polling would', async () => {
  const loc = await postgresLocation();
  try {
    // Polling every 10 s: only the notification can deliver the change within the deadline.
    const reader = await loc.open({ pollMs: 10_000 });
    const writer = await loc.open({ pollMs: 10_000 });
    // Let the reader's LISTEN connection come up (it starts with open).
    await new Promise((r) => setTimeout(r, 300));
    const arrived = new Promise<number>((resolve) => reader.onChange(() => resolve(Date.now())));
    const started = Date.now();
    await writer.applyWorkspaceFile(plan());
    const at = await Promise.race([arrived, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no notification within 1 s')), 1000))]);
    assert.ok(at - started < 1000, `arrived after ${at - started} ms`);
    assert.equal(reader.sourceByWriteKey('wk_web_prod')?.id, 'web-prod');

    // API writes notify too.
    const again = new Promise<void>((resolve) => reader.onChange(() => resolve()));
    await writer.admin.createSource({ id: 's2', slug: 's2', name: 's2', enabled: true, metadataId: 'javascript', settings: {}, writeKey: 'wk2', labels: [] });
    await Promise.race([again, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no notification within 1 s')), 1000))]);
    assert.equal(reader.sourceByWriteKey('wk2')?.id, 's2');
  } finally {
    await loc.dispose();
  }
});

test('postgres: stores on another schema do not see the change', async () => {
  const a = await postgresLocation();
  const b = await postgresLocation();
  try {
    const other = await b.open({ pollMs: 50 });
    const writer = await a.open();
    await writer.applyWorkspaceFile(plan());
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(other.version(), 0);
    assert.equal(other.sourceByWriteKey('wk_web_prod'), undefined);
  } finally {
    await a.dispose();
    await b.dispose();
  }
});

test('postgres: when the LISTEN connection is killed, changes still arrive (reconnect, then polling)', async () => {
  const loc = await postgresLocation();
  const admin = await pgClient();
  try {
    const reader = await loc.open({ pollMs: 10_000 });
    const writer = await loc.open({ pollMs: 10_000 });
    await new Promise((r) => setTimeout(r, 300));
    // Terminate every other session on this database that is LISTENing: the reader's listener among them.
    const { rows } = await admin.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'");
    assert.ok(rows.length > 0, 'the listener is connected');
    for (const r of rows) await admin.query('SELECT pg_terminate_backend($1)', [r.pid]);
    // The listener reconnects within about a second; changes after that arrive by NOTIFY again.
    await new Promise((r) => setTimeout(r, 1500));
    const arrived = new Promise<void>((resolve) => reader.onChange(() => resolve()));
    await writer.applyWorkspaceFile(plan());
    await Promise.race([arrived, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no change within 2 s after a reconnect')), 2000))]);
    assert.equal(reader.version(), 1);
  } finally {
    await admin.end();
    await loc.dispose();
  }
});

test('postgres: an unreachable server fails opening with a clear message', async () => {
  await assert.rejects(
    openControlPlane({ postgres: { url: 'postgres://postgres@127.0.0.1:1/test' } }, { secretKey: key }),
    /cannot connect to the PostgreSQL control-plane store \(SWITCHYARD_STORE\)/,
  );
});


test('SWITCHYARD_STORE selects the PostgreSQL store; anything but a postgres:// URL is refused at start', () => {
  assert.equal(loadConfig({}).store, undefined, 'unset: the embedded SQLite store');
  assert.equal(loadConfig({ SWITCHYARD_STORE: '' }).store, undefined);
  assert.deepEqual(loadConfig({ SWITCHYARD_STORE: 'postgres://u:p@db:5432/sy' }).store, { url: 'postgres://u:p@db:5432/sy', schema: 'switchyard' });
  assert.deepEqual(loadConfig({ SWITCHYARD_STORE: 'postgresql://db/sy', SWITCHYARD_STORE_SCHEMA: 'cp_prod' }).store, { url: 'postgresql://db/sy', schema: 'cp_prod' });
  assert.throws(() => loadConfig({ SWITCHYARD_STORE: 'mysql://db/sy' }), /SWITCHYARD_STORE: must be a postgres:\/\/ or postgresql:\/\/ URL/);
  assert.throws(() => loadConfig({ SWITCHYARD_STORE: 'postgres://db/sy', SWITCHYARD_STORE_SCHEMA: 'bad-name' }), /SWITCHYARD_STORE_SCHEMA/);
});

test('postgres: a migration without its PostgreSQL script stops opening, before anything runs', async () => {
  const schema = testSchemaName();
  const cp = await postgresDb({ url: PG_URL, schema });
  try {
    const next = { version: MIGRATIONS.length + 1, name: 'sqlite only', sql: 'CREATE TABLE cp_x (id INTEGER)' };
    await assert.rejects(migrateControlPlane(cp, [...MIGRATIONS, next]), /migration \d+ \(sqlite only\) has no PostgreSQL script in src\/store\/postgres-schema\.ts/);
    const client = await pgClient();
    const { rows } = await client.query('SELECT 1 FROM information_schema.tables WHERE table_schema = $1', [schema]);
    await client.end();
    assert.equal(rows.length, 0, 'no table was created');
  } finally {
    await cp.close();
    await dropTestSchema(schema);
  }
});
