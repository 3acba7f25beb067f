/**
 * Two Switchyard servers share one PostgreSQL control-plane store
 * (SWITCHYARD_STORE, each with its own DATA_DIR and embedded event log): a source
 * created through the Public API of one is accepted by the Tracking API of the
 * other within a second (NOTIFY), and a change made there comes back the same way.
 * Alert rules and failure-log collections are in the store too: set on one
 * server, they are followed by the other's alert checks and router.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Harness } from './helpers/harness.js';
import { waitUntil } from './helpers/e2e.js';
import { startSwitchyard, workspaceYaml, type SwitchyardProcess } from './helpers/switchyard.js';
import { dropTestSchema, PG_URL, pgClient, testSchemaName } from './helpers/postgres.js';

const track = (url: string, writeKey: string) => fetch(`${url}/v1/track`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}` },
  body: JSON.stringify({ userId: 'u1', event: 'Signed Up', messageId: randomBytes(8).toString('hex') }),
});

/** Milliseconds until `fn` holds, checked every 20 ms; throws after `limitMs`. */
async function timeUntil(fn: () => Promise<boolean>, limitMs: number, what: string): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await fn()) return Date.now() - started;
    if (Date.now() - started > limitMs) throw new Error(`${what}: not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('two servers on one PostgreSQL store: a source created on one is accepted by the other within a second', async () => {
  // Fails here, clearly, when PostgreSQL is down (the test never skips).
  await (await pgClient()).end();
  const schema = testSchemaName('servers');
  const env = {
    SWITCHYARD_STORE: PG_URL,
    SWITCHYARD_STORE_SCHEMA: schema,
    // Both decrypt the same destination secrets: one key for every process on the store.
    SWITCHYARD_SECRET_KEY: randomBytes(32).toString('hex'),
  };
  const servers: SwitchyardProcess[] = [];
  try {
    const workspace = workspaceYaml(['http://127.0.0.1:9/hook']);
    servers.push(await startSwitchyard({ workspace, env }));
    servers.push(await startSwitchyard({ workspace, env }));
    const [a, b] = servers as [SwitchyardProcess, SwitchyardProcess];
    assert.notEqual(a.dataDir, b.dataDir);
    // The file's source works on both from the start.
    assert.equal((await track(b.url, 'wk_web_prod')).status, 200);

    // The API is open on first run (no user, no token yet).
    const res = await fetch(`${a.url}/sources`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ slug: 'ios-app', enabled: true, metadataId: 'ios' }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const created = ((await res.json()) as { data: { source: { id: string; writeKeys: string[] } } }).data.source;
    const writeKey = created.writeKeys[0]!;
    // Accepted at once by the server that made it (its own write refreshed its cache)...
    assert.equal((await track(a.url, writeKey)).status, 200);
    // ...and by the other within a second.
    const elapsed = await timeUntil(async () => (await track(b.url, writeKey)).status === 200, 1000, 'the other server accepting the new write key');
    assert.ok(elapsed < 1000, `took ${elapsed} ms`);

    // Disabling it on the other server is seen back on the first one within a second too.
    const patched = await fetch(`${b.url}/sources/${created.id}`, {
      method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enabled: false }),
    });
    assert.equal(patched.status, 200, await patched.clone().text());
    await timeUntil(async () => {
      const r = await fetch(`${a.url}/sources/${created.id}`);
      return ((await r.json()) as { data: { source: { enabled: boolean } } }).data.source.enabled === false;
    }, 1000, 'the first server seeing the source disabled');
  } finally {
    for (const s of servers) await s.stop();
    await dropTestSchema(schema);
  }
});

test('two servers on one PostgreSQL store share alert rules, alert notifications and failure-log collections; an old stats.db is imported once', { timeout: 120_000 }, async () => {
  await (await pgClient()).end();
  const schema = testSchemaName('servers');
  const env = { SWITCHYARD_STORE: PG_URL, SWITCHYARD_STORE_SCHEMA: schema, SWITCHYARD_SECRET_KEY: randomBytes(32).toString('hex') };
  const h = new Harness();
  try {
    const sink = await h.sink();
    sink.respond(() => ({ status: 400, body: 'rejected' }));
    const workspace = workspaceYaml([sink.url]);
    // A's DATA_DIR as an older version left it: the three tables in stats.db.
    const dirA = h.dataDir();
    const old = new Database(path.join(dirA, 'stats.db'));
    old.exec(`CREATE TABLE alert_rules (id TEXT PRIMARY KEY, body TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'ok');
      CREATE TABLE alert_notifications (id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT NOT NULL, at INTEGER NOT NULL, status TEXT NOT NULL, message TEXT NOT NULL);
      CREATE TABLE failure_log_collections (destination_id TEXT PRIMARY KEY, collection_id TEXT NOT NULL UNIQUE, enabled INTEGER NOT NULL, updated_at INTEGER NOT NULL);`);
    const legacyRule = {
      kind: 'source_volume', sourceId: 'web-prod', percentChange: 50, direction: 'any', channels: [{ type: 'in_app' }], enabled: false,
      id: 'alert_legacy', createdBy: 'admin token', createdAt: '2025-01-01T00:00:00.000Z', updatedAt: '2025-01-01T00:00:00.000Z',
    };
    old.prepare(`INSERT INTO alert_rules (id, body, state) VALUES (?, ?, 'firing')`).run(legacyRule.id, JSON.stringify(legacyRule));
    old.prepare(`INSERT INTO alert_notifications (alert_id, at, status, message) VALUES (?, ?, 'firing', 'legacy note')`).run(legacyRule.id, Date.parse('2025-01-02T00:00:00Z'));
    old.prepare(`INSERT INTO failure_log_collections VALUES ('orders-webhook', 'col_legacy', 0, 1)`).run();
    old.close();

    // A checks alerts every 300 ms; B's checks would not run before an hour: only A's figures decide.
    const a = await h.start({ workspace, dataDir: dirA, env: { ...env, SWITCHYARD_ALERT_INTERVAL_MS: '300' } });
    const b = await h.start({ workspace, env: { ...env, SWITCHYARD_ALERT_INTERVAL_MS: '3600000' } });
    assert.notEqual(a.dataDir, b.dataDir);
    const call = async <T>(url: string, p: string, method = 'GET', body?: object): Promise<{ status: number; data: T }> => {
      const res = await fetch(`${url}${p}`, { method, body: body ? JSON.stringify(body) : undefined });
      const text = await res.text();
      return { status: res.status, data: (JSON.parse(text) as { data: T }).data };
    };
    type Alert = { id: string; state: string; belowPercent?: number };
    type Note = { alertId: string; status: string; message: string };
    type Collection = { enabled: boolean; collectionId: string | null };

    // The rows A imported at start are what B serves.
    assert.deepEqual((await call<{ alerts: Alert[] }>(b.url, '/api/v1/alerts')).data.alerts.map((x) => [x.id, x.state]), [['alert_legacy', 'firing']]);
    assert.deepEqual((await call<{ notifications: Note[] }>(b.url, '/api/v1/alerts/notifications')).data.notifications.map((n) => n.message), ['legacy note']);
    assert.deepEqual((await call<Collection>(b.url, '/api/v1/destinations/orders-webhook/log-collection')).data,
      { destinationId: 'orders-webhook', enabled: false, collectionId: 'col_legacy' });

    // A rule made on B is served by A.
    const created = await call<{ alert: Alert }>(b.url, '/api/v1/alerts', 'POST',
      { kind: 'delivery_rate', destinationId: 'orders-webhook', belowPercent: 90, channels: [{ type: 'in_app' }] });
    assert.equal(created.status, 201);
    const rule = created.data.alert;
    assert.deepEqual(await call<{ alert: Alert }>(a.url, `/api/v1/alerts/${rule.id}`).then((r) => [r.status, r.data.alert.belowPercent]), [200, 90]);

    // Log collection turned on through B (keeping its imported id) is followed by A's router.
    const on = await call<Collection>(b.url, '/api/v1/destinations/orders-webhook/log-collection', 'PUT', { enabled: true });
    assert.deepEqual(on.data, { destinationId: 'orders-webhook', enabled: true, collectionId: 'col_legacy' });
    assert.equal((await call<Collection>(a.url, '/api/v1/destinations/orders-webhook/log-collection')).data.enabled, true);
    await new Promise((r) => setTimeout(r, 1500)); // the router reads the collections each second
    const occurred = '2026-01-02T03:04:05.000Z';
    const tracked = await fetch(`${a.url}/v1/track`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('wk_web_prod:').toString('base64')}` },
      body: JSON.stringify({ userId: 'u1', event: 'Rejected', messageId: 'm-shared', timestamp: occurred }),
    });
    assert.equal(tracked.status, 200);
    const logged = await waitUntil('A\'s router to log the failure under the collection set through B', async () => {
      const dl = await call<{ url: string }>(a.url, '/customer-insights/download?collectionId=col_legacy&hour=2026-01-02T03:00:00Z', 'POST');
      assert.equal(dl.status, 200);
      const file = await fetch(dl.data.url);
      return file.status === 200 ? (await file.text()).trim().split('\n').map((l) => JSON.parse(l) as { event: string; properties: { messageId?: string } }) : undefined;
    }, { timeoutMs: 15_000, intervalMs: 500 }); // not faster: downloads are limited to 120 a day
    assert.ok(logged.some((e) => e.event === 'Error Logged' && e.properties.messageId === 'm-shared'));

    // A's scheduler checks the rule made on B; B shows its state and notification.
    const notes = await waitUntil('B to list the notification of A\'s check', async () => {
      const n = (await call<{ notifications: Note[] }>(b.url, '/api/v1/alerts/notifications')).data.notifications;
      return n.some((x) => x.alertId === rule.id) ? n : undefined;
    }, { timeoutMs: 15_000 });
    const note = notes.find((x) => x.alertId === rule.id)!;
    assert.equal(note.status, 'firing');
    assert.match(note.message, /delivered 0 of 1 events/);
    assert.equal((await call<{ alert: Alert }>(b.url, `/api/v1/alerts/${rule.id}`)).data.alert.state, 'firing');

    // Imported once: deleted through B, the old rule does not come back when A restarts on its old stats.db.
    assert.equal((await call(b.url, '/api/v1/alerts/alert_legacy', 'DELETE')).status, 200);
    await a.stop();
    const again = await h.start({ workspace, dataDir: dirA, writeConfig: false, env: { ...env, SWITCHYARD_ALERT_INTERVAL_MS: '3600000' } });
    assert.deepEqual((await call<{ alerts: Alert[] }>(again.url, '/api/v1/alerts')).data.alerts.map((x) => x.id), [rule.id]);
    const kept = new Database(path.join(dirA, 'stats.db'), { readonly: true });
    try {
      assert.equal(kept.prepare('SELECT COUNT(*) FROM alert_rules').pluck().get(), 1, 'the old table is left as it was');
    } finally {
      kept.close();
    }
  } finally {
    await h.cleanup();
    await dropTestSchema(schema);
  }
});
