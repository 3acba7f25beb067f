import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { parseWorkspaceFile, type DestinationTypes } from '../src/config/workspace-file.js';
import { webhookSettings } from '../src/destinations/webhook/settings.js';
import type { WorkspacePlan } from '../src/store/plan.js';
import { decryptSecret, encryptSecret, loadOrCreateSecretKey } from '../src/store/secrets.js';
import { ControlPlaneConflictError, ControlPlaneEmptyError, openSqliteControlPlane } from '../src/store/sqlite.js';

const types: DestinationTypes = new Map([['webhook', { settingsSchema: webhookSettings, secretSettings: ['sharedSecret'] }]]);

const YAML_FILE = `
workspace: { slug: acme }
sources:
  - slug: web-prod          # sourceId derives from it unless \`id\` is given
    writeKey: wk_web_prod
destinations:
  - name: Orders webhook     # instance name, unique per source
    type: webhook
    sources: [web-prod]
    enabled: true
    settings:
      urls: [http://127.0.0.1:9999/hook]   # up to 5
      headers: { X-Token: abc }
      sharedSecret: s3cret
`;

function plan(text = YAML_FILE): WorkspacePlan {
  const parsed = parseWorkspaceFile(text, 'workspace.yaml', types);
  if (!parsed.ok) assert.fail(JSON.stringify(parsed.error));
  return parsed.value;
}

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

const key = Buffer.alloc(32, 7);

test('the example workspace file applies: ids derived, secret decrypted, write key resolves', () => {
  const db = openDb(tempDir());
  const store = openSqliteControlPlane(db, { secretKey: key });
  const report = store.applyWorkspaceFile(plan());
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
  db.close();
});

test('re-applying the same file changes nothing; a changed setting bumps the version', () => {
  const db = openDb(tempDir());
  const store = openSqliteControlPlane(db, { secretKey: key });
  store.applyWorkspaceFile(plan());
  const first = store.snapshot();

  const again = store.applyWorkspaceFile(plan());
  assert.equal(again.changed, false);
  assert.equal(again.version, 1);
  assert.equal(store.version(), 1);
  assert.equal(store.snapshot(), first, 'the cached snapshot is reused while the version holds');

  const changed = store.applyWorkspaceFile(plan(YAML_FILE.replace('X-Token: abc', 'X-Token: xyz')));
  assert.equal(changed.changed, true);
  assert.equal(changed.version, 2);
  assert.deepEqual(changed.updated.destinations, ['orders-webhook']);
  assert.deepEqual(changed.updated.sources, []);
  assert.deepEqual(store.snapshot().destinations[0]!.settings.headers, { 'X-Token': 'xyz' });
  db.close();
});

test('removing a destination from the file deletes it but keeps one created through the API', () => {
  const db = openDb(tempDir());
  const store = openSqliteControlPlane(db, { secretKey: key });
  store.applyWorkspaceFile(plan());
  const now = Date.now();
  db.prepare(`INSERT INTO cp_destinations (id, workspace_id, name, type, enabled, settings, secret_settings, origin, created_at, updated_at)
    VALUES ('api-hook', 'acme', 'API hook', 'webhook', 1, '{"urls":["http://x.test/"]}', '[]', 'api', ?, ?)`).run(now, now);
  db.prepare(`INSERT INTO cp_destination_sources (destination_id, source_id, name) VALUES ('api-hook', 'web-prod', 'API hook')`).run();

  const withoutDestinations = YAML_FILE.slice(0, YAML_FILE.indexOf('destinations:'));
  const report = store.applyWorkspaceFile(plan(withoutDestinations));
  assert.deepEqual(report.deleted.destinations, ['orders-webhook']);
  assert.deepEqual(store.snapshot().destinations.map((d) => [d.id, d.sourceIds]), [['api-hook', ['web-prod']]]);
  db.close();
});

test('secrets are encrypted in the SQLite file and decrypted in the snapshot', () => {
  const dir = tempDir();
  const db = openDb(dir);
  const store = openSqliteControlPlane(db, { secretKey: key });
  store.applyWorkspaceFile(plan());
  const stored = db.prepare("SELECT settings FROM cp_destinations WHERE id = 'orders-webhook'").pluck().get() as string;
  assert.match(JSON.parse(stored).sharedSecret, /^enc:v1:/);
  assert.equal(store.snapshot().destinations[0]!.settings.sharedSecret, 's3cret');

  // Look at every byte on disk, WAL included (the last commit may not be checkpointed yet).
  const bytes = Buffer.concat(fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f))));
  assert.ok(bytes.includes('abc'), 'sanity: plain settings are on disk');
  assert.equal(bytes.includes('s3cret'), false);
  db.close();
});

test('another connection to the same file sees an apply through version()', () => {
  const dir = tempDir();
  const a = openDb(dir);
  const b = openDb(dir);
  const reader = openSqliteControlPlane(a, { secretKey: key });
  const writer = openSqliteControlPlane(b, { secretKey: key });
  writer.applyWorkspaceFile(plan());
  assert.equal(reader.snapshot().version, 1);
  writer.applyWorkspaceFile(plan(YAML_FILE.replace('wk_web_prod', 'wk_rotated')));
  assert.equal(reader.version(), 2);
  assert.equal(reader.sourceByWriteKey('wk_web_prod'), undefined);
  assert.equal(reader.sourceByWriteKey('wk_rotated')?.id, 'web-prod');
  a.close();
  b.close();
});

test('an empty store says so; migrations are idempotent and leave other tables alone', () => {
  const db = openDb(tempDir());
  db.exec('CREATE TABLE log_events (seq INTEGER PRIMARY KEY)');
  const store = openSqliteControlPlane(db, { secretKey: key });
  assert.throws(() => store.snapshot(), ControlPlaneEmptyError);
  assert.equal(store.sourceByWriteKey('wk_web_prod'), undefined);
  openSqliteControlPlane(db, { secretKey: key });
  const migrations = db.prepare("SELECT version FROM schema_migrations WHERE component = 'control_plane'").pluck().all();
  assert.deepEqual(migrations, [1, 2, 3, 4]);
  assert.ok(db.prepare("SELECT name FROM sqlite_master WHERE name = 'log_events'").get());
  db.close();
});

test('renaming the workspace id moves its sources and destinations (foreign keys on)', () => {
  const db = openDb(tempDir());
  const store = openSqliteControlPlane(db, { secretKey: key });
  store.applyWorkspaceFile(plan());
  const report = store.applyWorkspaceFile(plan(YAML_FILE.replace('{ slug: acme }', '{ id: ws_acme, slug: acme }')));
  assert.deepEqual(report.deleted.workspaces, ['acme']);
  assert.deepEqual(report.created.workspaces, ['ws_acme']);
  const snap = store.snapshot();
  assert.equal(snap.workspace.id, 'ws_acme');
  assert.deepEqual(snap.sources.map((s) => s.workspaceId), ['ws_acme']);
  assert.deepEqual(snap.destinations.map((d) => [d.workspaceId, d.sourceIds]), [['ws_acme', ['web-prod']]]);
  assert.deepEqual(db.pragma('foreign_key_check'), []);
  db.close();
});

test('a write key moves between sources in one apply', () => {
  const db = openDb(tempDir());
  const store = openSqliteControlPlane(db, { secretKey: key });
  const two = (a: string, b: string) => `workspace: { slug: acme }
sources:
  - { slug: one, writeKey: ${a} }
  - { slug: two, writeKey: ${b} }
`;
  store.applyWorkspaceFile(plan(two('k1', 'k2')));
  store.applyWorkspaceFile(plan(two('k2', 'k1')));
  assert.equal(store.sourceByWriteKey('k1')?.id, 'two');
  assert.equal(store.sourceByWriteKey('k2')?.id, 'one');
  db.close();
});

test('conflicts with API-created entities fail clearly and apply nothing', () => {
  const db = openDb(tempDir());
  const store = openSqliteControlPlane(db, { secretKey: key });
  store.applyWorkspaceFile(plan(YAML_FILE.slice(0, YAML_FILE.indexOf('destinations:'))));
  const now = Date.now();
  db.prepare(`INSERT INTO cp_sources (id, workspace_id, slug, name, enabled, origin, created_at, updated_at)
    VALUES ('api-src', 'acme', 'api-src', 'API source', 1, 'api', ?, ?)`).run(now, now);
  db.prepare("INSERT INTO cp_write_keys (write_key, source_id) VALUES ('wk_taken', 'api-src')").run();
  db.prepare(`INSERT INTO cp_destinations (id, workspace_id, name, type, enabled, settings, secret_settings, origin, created_at, updated_at)
    VALUES ('api-hook', 'acme', 'Orders webhook', 'webhook', 1, '{}', '[]', 'api', ?, ?)`).run(now, now);
  db.prepare(`INSERT INTO cp_destination_sources (destination_id, source_id, name) VALUES ('api-hook', 'web-prod', 'Orders webhook')`).run();
  const version = store.version();

  assert.throws(() => store.applyWorkspaceFile(plan(YAML_FILE)), (err: Error) =>
    err instanceof ControlPlaneConflictError && /instance named "Orders webhook".*api-hook/.test(err.message));
  assert.throws(() => store.applyWorkspaceFile(plan(YAML_FILE.replace('wk_web_prod', 'wk_taken'))), (err: Error) =>
    err instanceof ControlPlaneConflictError && /write key "wk_taken".*"api-src"/.test(err.message));
  assert.equal(store.version(), version);
  assert.equal(store.sourceByWriteKey('wk_web_prod')?.id, 'web-prod');
  db.close();
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
