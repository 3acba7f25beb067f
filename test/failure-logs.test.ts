import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { bucketFile, FailureLogReplica, splitBatch } from '../src/observability/failure-log.js';
import { startSwitchyard, workspaceYaml } from './helpers/switchyard.js';
import { startSink } from './helpers/sink.js';
import { waitUntil } from './helpers/e2e.js';

const AUTH = { authorization: `Basic ${Buffer.from('wk_web_prod:').toString('base64')}`, 'content-type': 'application/json' };

type Obs = { type: string; event: string; version: string; properties: Record<string, unknown> };


test('failure logs: Segment observability events per failed attempt, bucketed by the hour the event occurred, downloadable', async () => {
  const sink = await startSink();
  sink.respond((req) => (JSON.parse(req.body).event === 'Rejected' ? { status: 400, headers: { 'x-why': 'bad' }, body: '{"error":"nope"}' } : { status: 500, body: 'down' }));
  const sy = await startSwitchyard({ workspace: workspaceYaml([sink.url]), env: { SWITCHYARD_MAX_RETRIES: '1', SWITCHYARD_RETRY_BASE_MS: '200' } });
  try {
    const toggle = (await (
      await fetch(`${sy.url}/api/v1/destinations/orders-webhook/log-collection`, { method: 'PUT', body: JSON.stringify({ enabled: true }) })
    ).json()) as { data: { enabled: boolean; collectionId: string } };
    assert.equal(toggle.data.enabled, true);
    const collectionId = toggle.data.collectionId;
    assert.match(collectionId, /^col_/);
    await new Promise((r) => setTimeout(r, 1500)); // the router picks collection changes up each second

    const occurred = '2026-01-02T03:04:05.000Z';
    await fetch(`${sy.url}/v1/track`, { method: 'POST', headers: AUTH, body: JSON.stringify({ userId: 'u', event: 'Rejected', messageId: 'm-rejected', timestamp: occurred }) });
    await fetch(`${sy.url}/v1/track`, { method: 'POST', headers: AUTH, body: JSON.stringify({ userId: 'u', event: 'Flaky', messageId: 'm-flaky', timestamp: occurred }) });

    const lines = await waitUntil('the failure log to hold every failed attempt', async () => {
      const dl = await fetch(`${sy.url}/customer-insights/download?collectionId=${collectionId}&hour=2026-01-02T03:00:00Z`, { method: 'POST' });
      assert.equal(dl.status, 200);
      assert.equal(dl.headers.get('x-ratelimit-limit'), '120');
      const { data } = (await dl.json()) as { data: { url: string; expiresAt: string } };
      assert.ok(Date.parse(data.expiresAt) - Date.now() > 1.9 * 3_600_000, 'valid for two hours');
      const file = await fetch(data.url);
      if (file.status !== 200) return undefined;
      const events = (await file.text()).trim().split('\n').map((l) => JSON.parse(l) as Obs);
      // m-flaky fails twice (first attempt + 1 retry), m-rejected once: 3 attempts, 3 events each.
      return events.length >= 9 ? events : undefined;
    });

    for (const e of lines) assert.deepEqual([e.type, e.version], ['observability', 'v1']);
    const routed = { to: [{ type: 'destination', id: 'orders-webhook' }], from: [{ type: 'source', id: 'web-prod' }] };
    const errors = lines.filter((e) => e.event === 'Error Logged');
    assert.equal(errors.length, 3);
    for (const e of errors) {
      assert.deepEqual(Object.keys(e.properties).sort(), ['discarded', 'loggedAt', 'messageId', 'occurredAt', 'routed']);
      assert.deepEqual(e.properties.routed, routed);
      assert.equal(e.properties.occurredAt, occurred, 'bucketed and stamped by when the event occurred');
    }
    const discarded = Object.fromEntries(errors.map((e) => [`${e.properties.messageId}:${e.properties.discarded}`, true]));
    assert.deepEqual(Object.keys(discarded).sort(), ['m-flaky:false', 'm-flaky:true', 'm-rejected:true']);

    const attempts = lines.filter((e) => e.event === 'Delivery Attempt Logged');
    assert.deepEqual(attempts.map((a) => `${a.properties.messageId}#${a.properties.attempt}`).sort(), ['m-flaky#1', 'm-flaky#2', 'm-rejected#1']);
    for (const a of attempts) {
      assert.deepEqual(Object.keys(a.properties).sort(), ['attempt', 'destinationExchangeId', 'loggedAt', 'messageId', 'occurredAt', 'outcome', 'routed']);
      assert.equal(a.properties.outcome, 'failure');
    }
    const exchanges = lines.filter((e) => e.event === 'Destination Exchange Logged');
    const rejectedAttempt = attempts.find((a) => a.properties.messageId === 'm-rejected')!;
    const x = exchanges.find((e) => e.properties.destinationExchangeId === rejectedAttempt.properties.destinationExchangeId)!;
    assert.ok(x, 'the attempt links to its exchange');
    assert.deepEqual(Object.keys(x.properties).sort(), ['destinationExchangeId', 'loggedAt', 'occurredAt', 'requestToDestination', 'responseFromDestination', 'routed']);
    const request = x.properties.requestToDestination as { body: string; headers: Record<string, string> };
    assert.equal(JSON.parse(request.body).messageId, 'm-rejected');
    assert.equal(request.headers['x-signature'], '[redacted]');
    const response = x.properties.responseFromDestination as { status: number; headers: Record<string, string>; body: string };
    assert.deepEqual([response.status, response.headers['x-why'], response.body], [400, 'bad', '{"error":"nope"}']);

    const empty = await fetch(`${sy.url}/customer-insights/download?collectionId=${collectionId}&hour=2026-01-02T05:00:00Z`, { method: 'POST' });
    assert.equal((await fetch(((await empty.json()) as { data: { url: string } }).data.url)).status, 404, 'an hour with no failures');
    assert.equal((await fetch(`${sy.url}/customer-insights/files?token=forged.token`)).status, 403);
    const bad = await fetch(`${sy.url}/customer-insights/download?collectionId=${collectionId}&hour=yesterday`, { method: 'POST' });
    assert.equal(bad.status, 400);

    // 120 a day: count what is left and use it up; the next one is refused with 429.
    let remaining = Number(bad.headers.get('x-ratelimit-remaining'));
    while (remaining > 0) {
      const r = await fetch(`${sy.url}/customer-insights/download?collectionId=${collectionId}&hour=2026-01-02T03:00:00Z`, { method: 'POST' });
      assert.equal(r.status, 200);
      remaining = Number(r.headers.get('x-ratelimit-remaining'));
    }
    const over = await fetch(`${sy.url}/customer-insights/download?collectionId=${collectionId}&hour=2026-01-02T03:00:00Z`, { method: 'POST' });
    assert.equal(over.status, 429);
    assert.equal(over.headers.get('x-ratelimit-remaining'), '0');
    assert.ok(Number(over.headers.get('retry-after')) > 0);
  } finally {
    await sy.stop();
    await sink.close();
  }
});

test('failure logs between DATA_DIRs: batches split to fit a feed message; a replica appends each feed message once and reports malformed ones, moving past them', () => {
  const lines = ['a'.repeat(300), 'b'.repeat(300), 'c'.repeat(300), 'd'.repeat(2000)];
  const parts = splitBatch({ collectionId: 'col_x', hour: '2026-01-02T03', lines }, 700);
  assert.deepEqual(parts.map((p) => p.lines.map((l) => l[0]).join('')), ['ab', 'c', 'd'], 'a line over the size goes alone');
  assert.ok(parts.every((p) => p.collectionId === 'col_x' && p.hour === '2026-01-02T03'));

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-failure-replica-'));
  try {
    const db = new Database(path.join(dir, 'stats.db'));
    const replica = new FailureLogReplica(db, path.join(dir, 'failure-logs'));
    const origin = replica.origin();
    assert.match(origin, /^[0-9a-f-]{36}$/);
    assert.equal(new FailureLogReplica(db, path.join(dir, 'failure-logs')).origin(), origin, 'one identity per stats.db');
    const batch = { collectionId: 'col_x', hour: '2026-01-02T03', lines: ['{"n":1}', '{"n":2}'] };
    assert.equal(replica.applyRemote('feed:F', 1, batch), true);
    assert.equal(replica.applyRemote('feed:F', 1, batch), false, 'a sequence already applied');
    assert.throws(() => replica.applyRemote('feed:F', 2, { ...batch, collectionId: '../../etc' }), /message 2: skipped, not a batch/, 'a name this writer never makes');
    assert.throws(() => replica.applyRemote('feed:F', 3, { ...batch, lines: ['{"n":3}\n{"n":4}'] }), /message 3: skipped/, 'a line with a newline');
    assert.equal(replica.applyRemote('feed:F', 4, { ...batch, lines: ['{"n":5}'] }), true);
    assert.equal(replica.remoteCursor('feed:F'), 4, 'skipped items move the position too');
    const file = bucketFile(path.join(dir, 'failure-logs'), 'col_x', '2026-01-02T03');
    assert.equal(fs.readFileSync(file, 'utf8'), '{"n":1}\n{"n":2}\n{"n":5}\n');
    assert.deepEqual(fs.readdirSync(path.join(dir, 'failure-logs')), ['col_x'], 'nothing written outside the collection directories');
    db.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
