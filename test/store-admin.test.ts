/**
 * The control plane's API-side writes (origin `api`) and the identity store:
 * what the Public API will stand on. Real SQLite files, as the server opens them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import {
  ControlPlaneConflictError, ControlPlaneFileOwnedError, ControlPlaneNotFoundError, openSqliteControlPlane,
} from '../src/store/sqlite.js';
import { openIamStore } from '../src/store/sqlite-iam.js';

function open() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-admin-'));
  const db = new Database(path.join(dir, 'control.db'));
  db.pragma('journal_mode = WAL');
  const store = openSqliteControlPlane(db, { secretKey: randomBytes(32) });
  return { db, store, dir };
}

const source = (id: string, slug: string, writeKey: string) => ({
  id, slug, name: slug, enabled: true, metadataId: 'javascript', settings: {}, writeKey, labels: [],
});

test('API writes create, change and delete sources and destinations, bumping the version each time', () => {
  const { store, db, dir } = open();
  try {
    store.admin.ensureWorkspace({ id: 'default', slug: 'default', name: 'Default' });
    const v0 = store.version();
    store.admin.createSource(source('s1', 'web', 'wk1'));
    assert.equal(store.version(), v0 + 1);
    assert.equal(store.sourceByWriteKey('wk1')?.origin, 'api');

    assert.throws(() => store.admin.createSource(source('s2', 'web', 'wk2')), ControlPlaneConflictError, 'duplicate slug');
    assert.throws(() => store.admin.createSource(source('s2', 'app', 'wk1')), /write key "wk1" is already used by source "s1"/);
    // A failed write leaves nothing half-done.
    assert.equal(store.snapshot().sources.length, 1);

    store.admin.addWriteKey('s1', 'wk1b');
    store.admin.removeWriteKey('s1', 'wk1');
    assert.deepEqual(store.snapshot().sources[0]!.writeKeys, ['wk1b']);
    assert.throws(() => store.admin.removeWriteKey('s1', 'wk1b'), /last one/);

    assert.throws(() => store.admin.updateSource('s1', { labels: [{ key: 'team', value: 'x' }] }), ControlPlaneNotFoundError);
    store.admin.updateSource('s1', { labels: [{ key: 'environment', value: 'prod' }], enabled: false });
    assert.deepEqual(store.snapshot().sources[0]!.labels, [{ key: 'environment', value: 'prod' }]);
    assert.equal(store.snapshot().sources[0]!.enabled, false);

    const hook = { id: 'd1', name: 'Hook', type: 'webhook', enabled: true, sourceIds: ['s1'], settings: { urls: ['http://x'], sharedSecret: 'p' }, secretSettings: ['sharedSecret'] };
    store.admin.createDestination(hook);
    assert.throws(() => store.admin.createDestination({ ...hook, id: 'd2' }), /already has a destination instance named "Hook"/);
    // The secret is encrypted at rest and decrypted in the snapshot.
    const raw = db.prepare("SELECT settings FROM cp_destinations WHERE id = 'd1'").pluck().get() as string;
    assert.ok(!raw.includes('"p"'));
    assert.equal(store.snapshot().destinations[0]!.settings.sharedSecret, 'p');

    store.admin.setDestinationFilters('d1', [{ id: 'f1', sourceId: 's1', destinationId: 'd1', title: 'no tests', enabled: true, if: 'event = "Test"', actions: [{ type: 'DROP' }] }]);
    const savedAt = store.snapshot().destinations[0]!.filters[0]!.savedAt;
    store.admin.updateDestination('d1', { name: 'Hook 2' });
    assert.equal(store.snapshot().destinations[0]!.name, 'Hook 2');
    assert.equal(store.snapshot().destinations[0]!.settings.sharedSecret, 'p', 'settings kept when not patched');
    assert.equal(store.snapshot().destinations[0]!.filters[0]!.savedAt, savedAt);

    // Deleting the source takes its only-source API destinations with it.
    assert.deepEqual(store.admin.deleteSource('s1'), { deletedDestinations: ['d1'] });
    assert.equal(store.snapshot().destinations.length, 0);
    assert.equal(store.sourceByWriteKey('wk1b'), undefined);
  } finally {
    store.close();
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('entities defined in the workspace file cannot be changed through the API', () => {
  const { store, db, dir } = open();
  try {
    store.applyWorkspaceFile({
      workspace: { id: 'acme', slug: 'acme', name: 'acme', rateLimitPerSecond: 0 },
      sources: [{ id: 'web', slug: 'web', name: 'web', enabled: true, writeKeys: ['wk'] }],
      destinations: [],
    });
    assert.throws(() => store.admin.updateSource('web', { enabled: false }), ControlPlaneFileOwnedError);
    assert.throws(() => store.admin.deleteSource('web'), /defined in the workspace file/);
    // An API source survives a later apply of the file.
    store.admin.createSource(source('api-src', 'api', 'wk-api'));
    store.applyWorkspaceFile({
      workspace: { id: 'acme', slug: 'acme', name: 'acme', rateLimitPerSecond: 0 },
      sources: [{ id: 'web', slug: 'web', name: 'web', enabled: true, writeKeys: ['wk'] }],
      destinations: [],
    });
    assert.deepEqual(store.snapshot().sources.map((s) => [s.id, s.origin]), [['api-src', 'api'], ['web', 'file']]);
  } finally {
    store.close();
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('users, sessions, invites, tokens and the audit trail store only hashes of secrets', async () => {
  const { store, db, dir } = open();
  try {
    const iam = openIamStore(db);
    assert.equal(iam.userCount(), 0);
    const owner = await iam.createUser({ email: 'Ada@example.com', name: 'Ada', password: 'correct horse', permissions: [{ roleId: 'workspace-owner', resources: [{ type: 'WORKSPACE', id: 'default' }] }] });
    await assert.rejects(iam.createUser({ email: 'ada@example.com', name: 'x', password: 'whatever1', permissions: [] }), /already exists/);
    assert.equal((await iam.verifyPassword('ada@example.com', 'correct horse'))?.id, owner.id);
    assert.equal(await iam.verifyPassword('ada@example.com', 'wrong'), undefined);
    assert.equal(await iam.verifyPassword('nobody@example.com', 'correct horse'), undefined);
    const hash = db.prepare('SELECT password_hash FROM cp_users').pluck().get() as string;
    assert.match(hash, /^scrypt\$32768\$8\$1\$/);

    const { sessionId, csrfToken } = iam.createSession(owner.id, 60_000);
    assert.equal(iam.session(sessionId)?.csrfToken, csrfToken);
    assert.equal(db.prepare('SELECT count(*) FROM cp_sessions WHERE id_hash = ?').pluck().get(sessionId), 0, 'the raw session id is not stored');
    iam.deleteSession(sessionId);
    assert.equal(iam.session(sessionId), undefined);

    const invite = iam.createInvite('bob@example.com', [{ roleId: 'source-read-only', resources: [{ type: 'SOURCE', id: 's1' }] }], owner.id, 60_000);
    assert.deepEqual(iam.listInvites().map((i) => i.email), ['bob@example.com']);
    const bob = await iam.acceptInvite(invite, 'Bob', 'bobs password');
    assert.equal(bob?.permissions[0]?.roleId, 'source-read-only');
    assert.equal(await iam.acceptInvite(invite, 'Eve', 'eves password'), undefined, 'an invite works once');

    const { token, record } = iam.createToken('ci', [{ roleId: 'workspace-owner', resources: [{ type: 'WORKSPACE', id: 'default' }] }], owner.id);
    assert.equal(iam.tokenByValue(token)?.id, record.id);
    assert.equal(iam.activeTokenCount(), 1);
    iam.revokeToken(record.id);
    assert.equal(iam.tokenByValue(token), undefined);
    assert.equal(iam.activeTokenCount(), 0);

    for (let i = 0; i < 5; i++) iam.audit({ type: 'Source Modified', actor: 'ada@example.com', resourceId: `s${i % 2}`, resourceType: 'source', resourceName: 'web', before: { enabled: true }, after: { enabled: false } });
    const page = iam.listAudit({ resourceId: 's1', offset: 0, count: 10 });
    assert.equal(page.total, 2);
    assert.deepEqual(page.entries[0]!.after, { enabled: false });
  } finally {
    store.close();
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
