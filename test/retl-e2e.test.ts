/**
 * Reverse ETL end to end: a real Switchyard process reads a PostgreSQL table (a
 * throwaway `retl_test_*` schema), sends its records as identify events to webhook
 * destinations declared in the workspace file (local sinks), and records each
 * sync's counts; a bad query is a failed sync with PostgreSQL's message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Harness } from './helpers/harness.js';
import { sinkEvents, waitUntil } from './helpers/e2e.js';
import { dropTestSchema, PG_URL, pgClient, testSchemaName } from './helpers/postgres.js';

function workspace(schema: string, hook: string, deletesHook: string, extraModel = ''): string {
  return `workspace: { slug: acme }
sources:
  - { slug: web-prod, writeKey: wk_web_prod }
destinations:
  - { name: Users webhook, type: webhook, sources: [web-prod], settings: { urls: ["${hook}"] } }
  - { name: Deletes webhook, type: webhook, sources: [web-prod], settings: { urls: ["${deletesHook}"] } }
reverseEtl:
  sources:
    - { id: dwh, type: postgres, settings: { url: "${PG_URL}" } }
  models:
    - { id: users, source: dwh, query: 'SELECT id, email, plan FROM "${schema}".users', primaryKey: id }
    - { id: broken, source: dwh, query: 'SELECT * FROM "${schema}".no_such_table', primaryKey: id }
${extraModel}  mappings:
    - { id: users-identify, model: users, destination: users-webhook, action: { type: identify, userIdColumn: id } }
    - { id: users-deleted, model: users, destination: deletes-webhook, trigger: [deleted], action: { type: identify, userIdColumn: id } }
`;
}

interface Sync { status: string; rowsExtracted: number; added: number; updated: number; deleted: number; eventsDelivered: number; eventsFailed: number; error: string | null }

async function syncNow(url: string, model: string): Promise<{ status: number; sync: Sync }> {
  const res = await fetch(`${url}/api/v1/reverse-etl/models/${model}/syncs`, { method: 'POST' });
  const body = (await res.json()) as { data: { sync: Sync } };
  return { status: res.status, sync: body.data?.sync };
}

/**
 * A throwaway PostgreSQL schema with a `users` table holding `rows`, a harness for the
 * Switchyard process and sinks, and their cleanup whatever the test does.
 */
async function withUsers(rows: string, body: (ctx: { h: Harness; schema: string; pg: Awaited<ReturnType<typeof pgClient>> }) => Promise<void>): Promise<void> {
  const h = new Harness();
  const schema = testSchemaName('retl');
  const pg = await pgClient();
  try {
    await pg.query(`CREATE SCHEMA "${schema}"`);
    await pg.query(`CREATE TABLE "${schema}".users (id text PRIMARY KEY, email text, plan text)`);
    await pg.query(`INSERT INTO "${schema}".users VALUES ${rows}`);
    await body({ h, schema, pg });
  } finally {
    await pg.end();
    await h.cleanup();
    await dropTestSchema(schema);
  }
}

test('a PostgreSQL model syncs its changed records to the mapped destinations, with history', () =>
  withUsers(`('u1', 'a@x.io', 'free'), ('u2', 'b@x.io', 'pro'), ('u3', 'c@x.io', 'free')`, async ({ h, schema, pg }) => {
    const hook = await h.sink();
    const deletes = await h.sink();
    const sy = await h.start({ workspace: workspace(schema, hook.url, deletes.url) });

    // First sync: every record is added and sent once, as identify with its columns as traits.
    const first = await syncNow(sy.url, 'users');
    assert.equal(first.status, 200);
    assert.equal(first.sync.status, 'success');
    assert.deepEqual([first.sync.rowsExtracted, first.sync.added, first.sync.eventsDelivered, first.sync.eventsFailed], [3, 3, 3, 0]);
    const sent = sinkEvents(hook.received) as { type: string; userId: string; traits: Record<string, unknown>; messageId: string; context: { reverseEtl: unknown } }[];
    assert.equal(sent.length, 3);
    const u2 = sent.find((e) => e.userId === 'u2')!;
    assert.equal(u2.type, 'identify');
    assert.deepEqual(u2.traits, { id: 'u2', email: 'b@x.io', plan: 'pro' });
    assert.deepEqual(u2.context.reverseEtl, { modelId: 'users', mappingId: 'users-identify', trigger: 'added', primaryKey: 'u2' });
    assert.equal(deletes.received.length, 0, 'the deletes mapping wants deletions only');

    // Nothing changed: nothing is sent.
    const idle = await syncNow(sy.url, 'users');
    assert.deepEqual([idle.sync.added, idle.sync.updated, idle.sync.deleted, idle.sync.eventsDelivered], [0, 0, 0, 0]);
    assert.equal(hook.received.length, 3);

    // One update, one delete: only the changed record goes to the first mapping, the deletion to the second.
    await pg.query(`UPDATE "${schema}".users SET plan = 'pro' WHERE id = 'u1'`);
    await pg.query(`DELETE FROM "${schema}".users WHERE id = 'u3'`);
    const second = await syncNow(sy.url, 'users');
    assert.equal(second.sync.status, 'success');
    assert.deepEqual([second.sync.rowsExtracted, second.sync.added, second.sync.updated, second.sync.deleted, second.sync.eventsDelivered], [2, 0, 1, 1, 2]);
    assert.equal(hook.received.length, 4, 'only the updated record is sent to the added/updated mapping');
    const update = sinkEvents(hook.received.slice(3))[0] as { userId: string; traits: Record<string, unknown> };
    assert.deepEqual([update.userId, update.traits], ['u1', { id: 'u1', email: 'a@x.io', plan: 'pro' }]);
    const deletion = sinkEvents(deletes.received) as { userId: string; traits: Record<string, unknown>; context: { reverseEtl: { trigger: string } } }[];
    assert.equal(deletion.length, 1);
    assert.deepEqual([deletion[0]!.userId, deletion[0]!.traits, deletion[0]!.context.reverseEtl.trigger], ['u3', { id: 'u3', email: null, plan: null }, 'deleted']);

    // A bad query: a failed sync with PostgreSQL's message; the server keeps running.
    const broken = await syncNow(sy.url, 'broken');
    assert.equal(broken.status, 200);
    assert.equal(broken.sync.status, 'failed');
    assert.match(broken.sync.error ?? '', /relation ".*no_such_table" does not exist/);
    assert.equal((await fetch(`${sy.url}/health`)).status, 200);

    // History, newest first, with the counts.
    const history = (await (await fetch(`${sy.url}/api/v1/reverse-etl/models/users/syncs`)).json()) as { data: { syncs: (Sync & { finishedAt: string })[] } };
    assert.deepEqual(history.data.syncs.map((s) => [s.status, s.added, s.updated, s.deleted, s.eventsDelivered]), [
      ['success', 0, 1, 1, 2], ['success', 0, 0, 0, 0], ['success', 3, 0, 0, 3],
    ]);
    assert.ok(history.data.syncs.every((s) => s.finishedAt));
    assert.equal((await fetch(`${sy.url}/api/v1/reverse-etl/models/nope/syncs`)).status, 404);

    // The file is re-applied when it changes: a new model appears.
    const file = sy.configFile;
    const tmp = path.join(path.dirname(file), '.ws.tmp');
    fs.writeFileSync(tmp, workspace(schema, hook.url, deletes.url, `    - { id: plans, source: dwh, query: 'SELECT DISTINCT plan AS id FROM "${schema}".users', primaryKey: id }\n`));
    fs.renameSync(tmp, file);
    await waitUntil('the new model to be applied', async () => {
      const models = (await (await fetch(`${sy.url}/api/v1/reverse-etl/models`)).json()) as { data: { models: { id: string }[] } };
      return models.data.models.some((m) => m.id === 'plans');
    });
    const plans = await syncNow(sy.url, 'plans');
    assert.deepEqual([plans.sync.status, plans.sync.added, plans.sync.eventsDelivered], ['success', 1, 0], 'a model without mappings diffs and sends nothing');
  }));

test('failed deliveries are sent again by the next sync with the same messageIds; roles; interval schedules', () =>
  withUsers(`('u1', 'a@x.io', 'free'), ('u2', 'b@x.io', 'pro')`, async ({ h, schema, pg }) => {
    const hook = await h.sink();
    const deletes = await h.sink();
    const ticker = `    - { id: ticker, source: dwh, query: 'SELECT id FROM "${schema}".users', primaryKey: id, schedule: { intervalSeconds: 1 } }\n`;
    const sy = await h.start({ workspace: workspace(schema, hook.url, deletes.url, ticker) });
    const mkToken = async (roleId: string, as?: string) => {
      const r = await fetch(`${sy.url}/tokens`, {
        method: 'POST', headers: { 'content-type': 'application/json', ...(as ? { authorization: `Bearer ${as}` } : {}) },
        body: JSON.stringify({ description: roleId, permissions: [{ roleId, resources: [{ type: 'WORKSPACE', id: 'acme' }] }] }),
      });
      assert.equal(r.status, 201);
      return ((await r.json()) as { data: { token: string } }).data.token;
    };
    const owner = await mkToken('workspace-owner');
    const readOnly = await mkToken('workspace-read-only', owner);
    const sourceAdmin = await mkToken('source-admin', owner);
    const call = (method: string, p: string, token: string) => fetch(`${sy.url}${p}`, { method, headers: { authorization: `Bearer ${token}` } });

    // Roles: read-only reads the history but cannot start a sync; a source admin cannot either (a model is workspace-wide).
    assert.equal((await call('GET', '/api/v1/reverse-etl/models/users/syncs', readOnly)).status, 200);
    assert.equal((await call('POST', '/api/v1/reverse-etl/models/users/syncs', readOnly)).status, 403);
    assert.equal((await call('POST', '/api/v1/reverse-etl/models/users/syncs', sourceAdmin)).status, 403);
    assert.equal((await call('GET', '/api/v1/reverse-etl/models/users/syncs', sourceAdmin)).status, 403);
    assert.equal((await fetch(`${sy.url}/api/v1/reverse-etl/models/users/syncs`)).status, 401);

    // The destination refuses (400, not retryable): the sync is partial and the records stay unsent in the snapshot.
    hook.respond(() => ({ status: 400, body: 'no' }));
    const failed = await call('POST', '/api/v1/reverse-etl/models/users/syncs', owner);
    assert.equal(failed.status, 200);
    const f = ((await failed.json()) as { data: { sync: Sync & { errorSamples: string[] } } }).data.sync;
    assert.deepEqual([f.status, f.added, f.eventsDelivered, f.eventsFailed], ['partial', 2, 0, 2]);
    assert.match(f.errorSamples.join('\n'), /HTTP 400/);
    const firstIds = sinkEvents(hook.received).map((e) => e.messageId).sort();

    // The destination is back: the next sync finds the same two changes and sends them again, with the same ids.
    hook.respond(() => ({ status: 200 }));
    const retried = ((await (await call('POST', '/api/v1/reverse-etl/models/users/syncs', owner)).json()) as { data: { sync: Sync } }).data.sync;
    assert.deepEqual([retried.status, retried.added, retried.eventsDelivered, retried.eventsFailed], ['success', 2, 2, 0]);
    assert.deepEqual(sinkEvents(hook.received.slice(2)).map((e) => e.messageId).sort(), firstIds);
    const after = ((await (await call('POST', '/api/v1/reverse-etl/models/users/syncs', owner)).json()) as { data: { sync: Sync } }).data.sync;
    assert.equal(after.eventsDelivered, 0, 'delivered records are not sent a third time');

    // An interval model syncs by itself (right away, then every interval).
    await waitUntil('a scheduled sync of the ticker model', async () => {
      const r = (await (await call('GET', '/api/v1/reverse-etl/models/ticker/syncs', readOnly)).json()) as { data: { syncs: { trigger: string; status: string }[] } };
      return r.data.syncs.some((s) => s.trigger === 'schedule' && s.status === 'success');
    });
  }));
