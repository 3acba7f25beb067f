/**
 * The control-plane store on SQLite (the embedded default): the shared contract
 * (./store-contract.ts) on real files opened the way the server opens them, and
 * what only SQLite has (bytes on disk, foreign_key_check, upgrading a file in place).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { decryptSecret, encryptSecret, loadOrCreateSecretKey } from '../src/store/secrets.js';
import { openSqliteControlPlane, type ControlPlane } from '../src/store/control-plane.js';
import { sqliteDb } from '../src/store/db.js';
import { migrateControlPlane } from '../src/store/migrate.js';
import { MIGRATIONS } from '../src/store/sqlite-schema.js';
import { key, plan, storeContract, type StoreLocation } from './store-contract.js';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-store-'));
}

/** A real SQLite file set up the way the server does (WAL). */
function openDb(dir: string): Database.Database {
  const db = new Database(path.join(dir, 'switchyard.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  return db;
}

function sqliteLocation(dir = tempDir()): StoreLocation & { dir: string; handles: Database.Database[] } {
  const handles: Database.Database[] = [];
  const stores: ControlPlane[] = [];
  const raw = openDb(dir);
  handles.push(raw);
  return {
    dir,
    handles,
    async open(opts = {}) {
      // A connection per store, as threads and processes have.
      const db = openDb(dir);
      handles.push(db);
      const store = await openSqliteControlPlane(db, { secretKey: opts.secretKey ?? key, pollMs: opts.pollMs });
      stores.push(store);
      return store;
    },
    async query<T>(text: string, params: unknown[] = []) {
      const stmt = raw.prepare(text);
      return (stmt.reader ? stmt.all(...params) : (stmt.run(...params), [])) as T[];
    },
    async dispose() {
      for (const s of stores) await s.close();
      for (const h of handles) h.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

storeContract('sqlite', { create: async () => sqliteLocation(), concurrentOpens: false });

test('sqlite: secrets never reach the file in plaintext (WAL included)', async () => {
  const loc = sqliteLocation();
  try {
    const store = await loc.open();
    await store.applyWorkspaceFile(plan());
    // Look at every byte on disk, WAL included (the last commit may not be checkpointed yet).
    const bytes = Buffer.concat(fs.readdirSync(loc.dir).map((f) => fs.readFileSync(path.join(loc.dir, f))));
    assert.ok(bytes.includes('abc'), 'sanity: plain settings are on disk');
    assert.equal(bytes.includes('s3cret'), false);
  } finally {
    await loc.dispose();
  }
});

test('sqlite: renaming the workspace id leaves no dangling foreign key', async () => {
  const loc = sqliteLocation();
  try {
    const store = await loc.open();
    await store.applyWorkspaceFile(plan());
    await store.applyWorkspaceFile({ ...plan(), workspace: { ...plan().workspace, id: 'ws_acme' } });
    assert.equal(store.snapshot().workspace.id, 'ws_acme');
    assert.deepEqual(loc.handles[0]!.pragma('foreign_key_check'), []);
  } finally {
    await loc.dispose();
  }
});

test('sqlite: a file written by an older version upgrades in place and keeps its configuration', async () => {
  const loc = sqliteLocation();
  try {
    // The file as the first release left it: migrations 1 and 2 only, one workspace applied.
    const old = loc.handles[0]!;
    await migrateControlPlane(sqliteDb(old), MIGRATIONS.filter((m) => m.version <= 2));
    old.exec(`INSERT INTO cp_workspaces VALUES ('acme', 'acme', 'acme', 0, 'file', 1, 1);
      INSERT INTO cp_sources (id, workspace_id, slug, name, enabled, origin, created_at, updated_at) VALUES ('web', 'acme', 'web', 'web', 1, 'file', 1, 1);
      INSERT INTO cp_write_keys VALUES ('wk', 'web');
      UPDATE cp_meta SET value = 7 WHERE key = 'version';
      INSERT INTO cp_meta VALUES ('workspace_id', 'acme');`);
    const store = await loc.open();
    assert.equal(store.version(), 7);
    assert.equal(store.sourceByWriteKey('wk')?.metadataId, 'http-api', 'migration 3 added the column with its default');
    assert.deepEqual(old.prepare("SELECT version FROM schema_migrations WHERE component = 'control_plane'").pluck().all(), [1, 2, 3, 4, 5, 6]);
  } finally {
    await loc.dispose();
  }
});

test('sqlite: a write through one store is visible to its readers as soon as it resolves', async () => {
  const loc = sqliteLocation();
  try {
    const store = await loc.open({ pollMs: 0 });
    await store.applyWorkspaceFile(plan());
    assert.equal(store.sourceByWriteKey('wk_web_prod')?.id, 'web-prod');
    await store.admin.createSource({ id: 's2', slug: 's2', name: 's2', enabled: true, metadataId: 'javascript', settings: {}, writeKey: 'wk2', labels: [] });
    assert.equal(store.sourceByWriteKey('wk2')?.id, 's2');
  } finally {
    await loc.dispose();
  }
});

test('loadOrCreateSecretKey persists a 0600 key, reuses it, and takes hex or base64 from the environment', () => {
  const dir = path.join(tempDir(), 'data');
  const created = loadOrCreateSecretKey(dir);
  assert.equal(created.length, 32);
  assert.equal(fs.statSync(path.join(dir, 'secret.key')).mode & 0o777, 0o600);
  assert.deepEqual(loadOrCreateSecretKey(dir), created);

  const hex = 'ab'.repeat(32);
  assert.deepEqual(loadOrCreateSecretKey(dir, hex), Buffer.from(hex, 'hex'));
  const b64 = Buffer.alloc(32, 3).toString('base64');
  assert.deepEqual(loadOrCreateSecretKey(dir, b64), Buffer.alloc(32, 3));
  assert.throws(() => loadOrCreateSecretKey(dir, 'too-short'), /64 hex characters or base64 of 32 bytes/);
});

test('a secret decrypts only with its key', () => {
  const value = encryptSecret(key, 's3cret');
  assert.match(value, /^enc:v1:/);
  assert.notEqual(encryptSecret(key, 's3cret'), value, 'random IV');
  assert.equal(decryptSecret(key, value), 's3cret');
  assert.throws(() => decryptSecret(Buffer.alloc(32, 8), value), /wrong secret key/);
});
