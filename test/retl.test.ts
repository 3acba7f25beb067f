/**
 * Reverse ETL without a server: the workspace file's `reverseEtl:` section, record
 * diffing, a sync's snapshot (advanced only for what was delivered), the retry loop
 * on an injected clock, and extraction from a real DuckDB file (read-only).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseWorkspaceFile, type DestinationTypes } from '../src/config/workspace-file.js';
import { diffRows, rowHash, type Row } from '../src/retl/diff.js';
import { RetlState } from '../src/retl/state.js';
import { runSync } from '../src/retl/sync.js';
import { withRetries, type Clock, type Deliver } from '../src/retl/deliver.js';
import { extractor, type Extracted } from '../src/retl/extract.js';
import type { RetlMapping, RetlModel, RetlSource } from '../src/retl/config.js';
import type { SegmentMessage } from '../src/protocol/types.js';
import { z } from 'zod';

const types: DestinationTypes = new Map([['webhook', { settingsSchema: z.object({}).passthrough(), secretSettings: [] }]]);
const head = `workspace: { slug: acme }
sources:
  - { slug: web, writeKey: k1 }
destinations:
  - { name: Hook, type: webhook, sources: [web] }
`;

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sy-retl-'));
}

test('the workspace file declares Reverse ETL sources, models and mappings, with defaults', () => {
  const r = parseWorkspaceFile(`${head}reverseEtl:
  sources:
    - { id: dwh, type: postgres, settings: { url: "postgres://u@h/db" } }
    - { id: local, type: duckdb, settings: { path: ware.duckdb } }
  models:
    - { id: users, source: dwh, query: "SELECT * FROM users", primaryKey: id, schedule: { intervalSeconds: 60 } }
    - { id: orders, source: local, query: "SELECT 1 AS id", primaryKey: id }
  mappings:
    - { id: users-hook, model: users, destination: hook, action: { type: identify, userIdColumn: id } }
`, 'w.yaml', types);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  const retl = r.value.reverseEtl!;
  assert.deepEqual(retl.sources, [{ id: 'dwh', type: 'postgres', url: 'postgres://u@h/db' }, { id: 'local', type: 'duckdb', path: 'ware.duckdb' }]);
  assert.equal(retl.models[0]!.intervalSeconds, 60);
  assert.equal(retl.models[1]!.intervalSeconds, undefined, 'manual by default');
  assert.equal(retl.models[1]!.enabled, true);
  assert.deepEqual(retl.mappings[0]!.triggers, ['added', 'updated'], 'default triggers');
  assert.equal(retl.mappings[0]!.destinationId, 'hook');
});

test('unknown sources, models and destinations in reverseEtl are errors naming the path', () => {
  // The same bad file, the second mapping with or without an empty trigger list.
  const parse = (trigger: string) => parseWorkspaceFile(`${head}reverseEtl:
  sources:
    - { id: dwh, type: postgres, settings: {} }
  models:
    - { id: users, source: nope, query: "SELECT 1", primaryKey: id }
  mappings:
    - { id: m1, model: ghost, destination: nowhere, action: { type: track, userIdColumn: id } }
    - { id: m2, model: users, destination: hook, ${trigger}action: { type: identify } }
`, 'w.yaml', types);
  const r = parse('trigger: [], ');
  assert.ok(!r.ok);
  assert.ok(r.error.some((e) => e.path === 'reverseEtl.mappings[1].trigger' && /at least one/.test(e.message)), JSON.stringify(r.error));
  const r2 = parse('');
  assert.ok(!r2.ok);
  const byPath = new Map(r2.error.map((e) => [e.path, e.message]));
  assert.match(byPath.get('reverseEtl.sources[0].settings.url') ?? '', /required/);
  assert.match(byPath.get('reverseEtl.models[0].source') ?? '', /unknown Reverse ETL source "nope"/);
  assert.match(byPath.get('reverseEtl.mappings[0].model') ?? '', /unknown model "ghost"/);
  assert.match(byPath.get('reverseEtl.mappings[0].destination') ?? '', /unknown destination "nowhere".*"hook"/);
  assert.match(byPath.get('reverseEtl.mappings[0].action.event') ?? '', /required for a track action/);
  assert.match(byPath.get('reverseEtl.mappings[1].action.userIdColumn') ?? '', /userId or an anonymousId/);
});

test('diffing: the first run adds every row; then an update, a delete and an insert', () => {
  const cols = ['id', 'email'];
  const first = diffRows([{ id: 1, email: 'a@x' }, { id: 2, email: 'b@x' }], 'id', cols, new Map());
  assert.deepEqual(first.changes.map((c) => [c.kind, c.key]), [['added', '1'], ['added', '2']]);
  assert.equal(first.errors.length, 0);
  const snapshot = new Map(first.changes.map((c) => [c.key, c.hash]));
  const second = diffRows([{ id: 1, email: 'a2@x' }, { id: 3, email: 'c@x' }], 'id', cols, snapshot);
  assert.deepEqual(second.changes.map((c) => [c.kind, c.key]), [['updated', '1'], ['added', '3'], ['deleted', '2']]);
  assert.deepEqual(second.changes.find((c) => c.kind === 'deleted')!.row, { id: '2', email: null }, 'a deleted record carries its key, other columns null');
  assert.equal(rowHash({ a: 1, b: 2 }), rowHash({ b: 2, a: 1 }), 'column order does not change the hash');
  const unchanged = diffRows([{ id: 1, email: 'a@x' }], 'id', cols, new Map([['1', rowHash({ id: 1, email: 'a@x' })]]));
  assert.equal(unchanged.changes.length, 0, 'an unchanged row is not sent again');
});

test('diffing: a row without the key or with a duplicate key is an error for that row only', () => {
  const r = diffRows([{ id: 1, v: 'a' }, { id: null, v: 'b' }, { v: 'c' }, { id: 1, v: 'd' }, { id: 2, v: 'e' }], 'id', ['id', 'v'], new Map());
  assert.deepEqual(r.changes.map((c) => c.key), ['1', '2']);
  assert.equal(r.changes[0]!.row.v, 'a', 'the first row of a key wins');
  assert.deepEqual(r.errors.map((e) => e.index), [1, 2, 3]);
  assert.match(r.errors[2]!.message, /duplicate primary key "1"/);
  assert.equal(r.extracted, 5);
});

const model: RetlModel = { id: 'users', name: 'users', sourceId: 'src', query: 'q', primaryKey: 'id', enabled: true };
const source: RetlSource = { id: 'src', type: 'duckdb' };
const identify: RetlMapping = { id: 'm', modelId: 'users', destinationId: 'hook', enabled: true, triggers: ['added', 'updated'], action: { type: 'identify', userIdColumn: 'id' } };

function fakeSource(rows: () => Row[]): (s: RetlSource, q: string) => Promise<Extracted> {
  return async () => ({ columns: ['id', 'email'], rows: rows() });
}

test('a sync advances the snapshot only for records whose events were delivered', async () => {
  const dir = tempDir();
  const state = new RetlState(path.join(dir, 'retl.db'));
  try {
    let rows: Row[] = [{ id: 'u1', email: 'a@x' }, { id: 'u2', email: 'b@x' }];
    const sent: SegmentMessage[] = [];
    let failFor = new Set<string>(['u2']);
    const deliver: Deliver = async (_dest, message) => {
      if (failFor.has(message.userId as string)) return { ok: false, reason: 'HTTP 400' };
      sent.push(message);
      return { ok: true };
    };
    const deps = { state, extract: fakeSource(() => rows), deliver };
    const s1 = await runSync({ model, source, mappings: [identify], trigger: 'manual' }, deps);
    assert.equal(s1.status, 'partial');
    assert.deepEqual([s1.added, s1.eventsDelivered, s1.eventsFailed], [2, 1, 1]);
    assert.match(s1.errorSamples[0]!, /record "u2".*HTTP 400/);
    assert.deepEqual([...state.snapshot('users').keys()], ['u1'], 'u2 was not delivered: not in the snapshot');
    assert.equal(sent[0]!.type, 'identify');
    assert.deepEqual(sent[0]!.traits, { id: 'u1', email: 'a@x' });
    assert.deepEqual((sent[0]!.context as { reverseEtl: unknown }).reverseEtl, { modelId: 'users', mappingId: 'm', trigger: 'added', primaryKey: 'u1' });

    // The next sync sends u2 again (as added, same messageId as the failed attempt would have had) and nothing for u1.
    failFor = new Set();
    const s2 = await runSync({ model, source, mappings: [identify], trigger: 'manual' }, deps);
    assert.equal(s2.status, 'success');
    assert.deepEqual([s2.added, s2.updated, s2.eventsDelivered], [1, 0, 1]);
    assert.equal(sent[1]!.userId, 'u2');

    // A delete without the `deleted` trigger sends nothing and forgets the record; an update is sent.
    rows = [{ id: 'u1', email: 'new@x' }];
    const s3 = await runSync({ model, source, mappings: [identify], trigger: 'manual' }, deps);
    assert.deepEqual([s3.updated, s3.deleted, s3.eventsDelivered], [1, 1, 1]);
    assert.deepEqual([...state.snapshot('users').keys()], ['u1']);
    assert.equal(sent.length, 3);

    // A failed update keeps the old hash: the next sync finds the same update.
    rows = [{ id: 'u1', email: 'newer@x' }];
    failFor = new Set(['u1']);
    const before = state.snapshot('users').get('u1');
    const s4 = await runSync({ model, source, mappings: [identify], trigger: 'manual' }, deps);
    assert.equal(s4.eventsFailed, 1);
    assert.equal(state.snapshot('users').get('u1'), before, 'the snapshot did not advance');
    failFor = new Set();
    const s5 = await runSync({ model, source, mappings: [identify], trigger: 'manual' }, deps);
    assert.deepEqual([s5.updated, s5.eventsDelivered], [1, 1]);
    assert.deepEqual(state.syncs('users', 10).map((s) => s.id), [s5.id, s4.id, s3.id, s2.id, s1.id], 'history, newest first');
  } finally {
    state.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('re-sending a change gives the same messageId; a failed extract is a failed sync with the reason', async () => {
  const dir = tempDir();
  const state = new RetlState(path.join(dir, 'retl.db'));
  try {
    const ids: string[] = [];
    let ok = false;
    const deliver: Deliver = async (_d, m) => {
      ids.push(m.messageId);
      return ok ? { ok: true } : { ok: false, reason: 'HTTP 503' };
    };
    const deps = { state, extract: fakeSource(() => [{ id: 'u1', email: 'a@x' }]), deliver };
    await runSync({ model, source, mappings: [identify], trigger: 'manual' }, deps);
    ok = true;
    await runSync({ model, source, mappings: [identify], trigger: 'manual' }, deps);
    assert.equal(ids.length, 2);
    assert.equal(ids[0], ids[1], 'the re-sent event has the same messageId, so destinations dedupe it');

    const failing = await runSync({ model, source, mappings: [identify], trigger: 'schedule' }, {
      state, deliver, extract: async () => { throw new Error('relation "nope" does not exist'); },
    });
    assert.equal(failing.status, 'failed');
    assert.match(failing.error!, /relation "nope" does not exist/);
    const noKey = await runSync({ model: { ...model, primaryKey: 'user_id' }, source, mappings: [identify], trigger: 'manual' }, deps);
    assert.equal(noKey.status, 'failed');
    assert.match(noKey.error!, /no column "user_id"/);
  } finally {
    state.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('within a sync, retryable failures are retried on the policy; permanent ones are not', async () => {
  let t = 0;
  const clock: Clock = { now: () => t, sleep: async (ms) => void (t += ms), random: () => 0 };
  const policy = { maxRetries: 3, windowMs: 60_000, baseDelayMs: 1000, maxDelayMs: 10_000 };
  let calls = 0;
  const flaky = await withRetries(async () => (++calls < 3 ? { kind: 'retry', reason: 'HTTP 503', exchanges: [] } : { kind: 'delivered', exchanges: [] }), policy, clock);
  assert.deepEqual([flaky, calls], [{ ok: true }, 3]);
  calls = 0;
  const down = await withRetries(async () => (++calls, { kind: 'retry', reason: 'HTTP 503', exchanges: [] }), policy, clock);
  assert.deepEqual([down.ok, calls], [false, 4]);
  assert.match((down as { reason: string }).reason, /HTTP 503 \(retries exhausted\)/);
  calls = 0;
  const bad = await withRetries(async () => (++calls, { kind: 'discard', reason: 'HTTP 400', exchanges: [] }), policy, clock);
  assert.deepEqual([bad, calls], [{ ok: false, reason: 'HTTP 400' }, 1]);
});

test('a DuckDB file is read read-only as a Reverse ETL source', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'ware.duckdb');
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(file);
  const conn = await db.connect();
  await conn.run(`CREATE TABLE users (id INTEGER, email VARCHAR, seen TIMESTAMP); INSERT INTO users VALUES (1, 'a@x', TIMESTAMP '2024-01-02 03:04:05'), (2, NULL, NULL)`);
  conn.closeSync();
  db.closeSync();
  try {
    const extract = extractor(dir);
    const got = await extract({ id: 'local', type: 'duckdb', path: 'ware.duckdb' }, 'SELECT * FROM users ORDER BY id');
    assert.deepEqual(got.columns, ['id', 'email', 'seen']);
    assert.equal(got.rows.length, 2);
    assert.equal(got.rows[0]!.email, 'a@x');
    assert.equal(got.rows[1]!.email, null);
    await assert.rejects(extract({ id: 'local', type: 'duckdb', path: 'ware.duckdb' }, 'DELETE FROM users'), /read-only/i);
    await assert.rejects(extract({ id: 'local', type: 'duckdb', path: 'ware.duckdb' }, 'SELECT * FROM nope'), /nope/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
