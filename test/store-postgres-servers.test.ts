/**
 * Two Switchyard servers share one PostgreSQL control-plane store
 * (SWITCHYARD_STORE, each with its own DATA_DIR and embedded event log): a source
 * created through the Public API of one is accepted by the Tracking API of the
 * other within a second (NOTIFY), and a change made there comes back the same way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
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
