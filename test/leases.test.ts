/**
 * Leases (issue #4): work that must run once per deployment runs in the process
 * holding its lease. Unit checks of the NATS KV leases, then warehouse loads on the
 * NATS log with two loader processes: one loads, the other stands by; when the
 * holder is SIGKILLed the other takes over, and every event lands once in PostgreSQL.
 *
 * Needs nats-server with JetStream on SWITCHYARD_TEST_NATS (default 127.0.0.1:4222)
 * and PostgreSQL on 127.0.0.1:5432 (database `test`).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PG_URL, pgQuery } from './helpers/pg.js';
import { connect } from 'nats';
import { Analytics } from '@segment/analytics-node';
import { Lease } from '../src/log/leases.js';
import { NatsLeases } from '../src/log/nats/leases.js';
import { token, untoken } from '../src/log/nats/names.js';
import { NatsEventLog } from '../src/log/nats/log.js';
import { Harness } from './helpers/harness.js';
import { sleep, waitUntil } from './helpers/e2e.js';
import type { StatusReport } from '../src/cli/main.js';

const BIN = fileURLToPath(new URL('../../bin/switchyard.js', import.meta.url));
const NATS = process.env.SWITCHYARD_TEST_NATS ?? '127.0.0.1:4222';
const id = randomBytes(4).toString('hex');

test('NATS leases: one holder at a time, renewal, release hands over at once, expiry hands over after the TTL', async () => {
  const nc = await connect({ servers: NATS }).catch((err: unknown) => {
    throw new Error(`NATS is not reachable at ${NATS} (start nats-server -js): ${(err as Error).message}`);
  });
  const bucket = `sy_test_leases_${id}`;
  try {
    const store = await NatsLeases.open(nc, bucket, { ttlMs: 1500 });
    assert.equal(await store.tryAcquire('alerts', 'a'), true, 'a free lease is taken');
    assert.equal(await store.tryAcquire('alerts', 'b'), false, 'a held lease is refused to others');
    assert.equal(await store.tryAcquire('alerts', 'a'), true, 'the holder renews');
    assert.equal(await store.tryAcquire('warehouse:pg', 'b'), true, 'leases are independent (names with any character)');
    assert.deepEqual((await store.list()).map((l) => [l.name, l.owner]), [['alerts', 'a'], ['warehouse:pg', 'b']], 'status lists every lease and its holder');
    assert.equal(untoken(token('datalake:é 1')), 'datalake:é 1');
    await store.release('alerts', 'b');
    assert.equal(await store.tryAcquire('alerts', 'b'), false, 'only the holder releases');
    await store.release('alerts', 'a');
    assert.equal(await store.tryAcquire('alerts', 'b'), true, 'a released lease is free at once');
    // b stops renewing: after the TTL the lease is free again.
    await sleep(2200);
    assert.equal(await store.tryAcquire('alerts', 'a'), true, 'an expired lease is taken by another owner');

    // Two keepers racing for one lease: exactly one holds it at any time.
    const changes: string[] = [];
    const one = new Lease(store, 'race', 'one', { onChange: (h) => changes.push(`one:${h}`) });
    const two = new Lease(store, 'race', 'two', { onChange: (h) => changes.push(`two:${h}`) });
    await Promise.all([one.start(), two.start()]);
    assert.equal(Number(one.held) + Number(two.held), 1, 'exactly one keeper holds the lease');
    const [holder, other] = one.held ? [one, two] : [two, one];
    await sleep(1000);
    assert.equal(holder.held, true, 'the holder keeps it by renewing');
    assert.equal(other.held, false);
    await holder.stop();
    await waitUntil('the other keeper to take over after the release', () => other.held, { timeoutMs: 3000 });
    await other.stop();
    assert.deepEqual(changes.filter((c) => c.endsWith('true')).length, 2, `each keeper gained the lease once: ${changes.join(', ')}`);
  } finally {
    await (await nc.jetstream().views.kv(bucket)).destroy();
    await nc.close();
  }
});

const streamPrefix = `SYLEASE_${id}_`;
const subjectRoot = `sylease_${id}`;
const schema = `lease_${id}`;

after(async () => {
  const log = await NatsEventLog.connect({ servers: NATS, workspaceId: 'acme', streamPrefix, subjectRoot, dedupeWindowMs: 60_000, retentionMs: 0 });
  await log.destroy();
  await log.close();
  await pgQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
});

test('warehouse loads on the NATS log: one of two loader processes loads, the other takes over when it is SIGKILLed, every event once', { timeout: 240_000 }, async () => {
  const h = new Harness();
  try {
    const dataDir = h.dataDir();
    const workspace = `workspace: { slug: acme }
sources:
  - slug: ${schema}
    writeKey: wk_lease
warehouses:
  - id: pg
    type: postgres
    sources: [${schema}]
    settings: { url: "${PG_URL}", syncIntervalSeconds: 1 }
`;
    const env = { SWITCHYARD_LOG: `nats://${NATS}?stream_prefix=${streamPrefix}&subject_root=${subjectRoot}&ack_wait_ms=5000` };
    const loaders = [
      await h.start({ workspace, dataDir, role: 'loader', env }),
      await h.start({ workspace, dataDir, role: 'loader', env, writeConfig: false }),
    ];
    const ingest = await h.start({ workspace, dataDir, role: 'ingest', env, writeConfig: false });
    const gained = (i: number) => loaders[i]!.logs.some((l) => l.includes('"lease":"warehouse:pg"') && l.includes('"held":true'));
    await waitUntil('one loader to hold the warehouse lease', () => gained(0) || gained(1), { timeoutMs: 20_000 });
    await sleep(500);
    assert.equal(Number(gained(0)) + Number(gained(1)), 1, 'exactly one loader process loads the warehouse');
    const holder = gained(0) ? 0 : 1;
    const standby = 1 - holder;

    const send = async (from: number, n: number) => {
      const analytics = new Analytics({ writeKey: 'wk_lease', host: ingest.url, flushAt: 100, flushInterval: 20 });
      for (let i = from; i < from + n; i++) analytics.track({ userId: `u${i % 10}`, event: 'Order Completed', messageId: `lease-${id}-${i}`, properties: { i } });
      await analytics.closeAndFlush({ timeout: 30_000 });
    };
    const counts = async () => {
      const rows = await pgQuery(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM "${schema}".order_completed`).catch(() => [{ n: 0, d: 0 }]);
      return rows[0] as { n: number; d: number };
    };

    await send(0, 1000);
    await waitUntil('the first 1,000 events in PostgreSQL', async () => (await counts()).n >= 1000, { timeoutMs: 60_000 });

    await loaders[holder]!.kill();
    await send(1000, 1000);
    await waitUntil('the standby loader to take the lease (TTL 15 s) and load the next 1,000', async () => (await counts()).n >= 2000, { timeoutMs: 90_000 });
    assert.ok(gained(standby), 'the standby gained the lease');
    // `switchyard status` names the holder.
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, 'status', '--data-dir', dataDir, '--json'], { env: { ...process.env, ...env } });
    const lease = (JSON.parse(stdout) as StatusReport).leases.find((l) => l.name === 'warehouse:pg');
    assert.ok(lease && lease.holder.includes(`-${loaders[standby]!.child.pid}-`), `status shows the standby holding warehouse:pg: ${stdout.slice(0, 300)}`);
    await sleep(2000);
    const final = await counts();
    assert.equal(final.d, 2000, 'every event is in the warehouse');
    assert.equal(final.n, 2000, 'no event is loaded twice');
  } finally {
    await h.cleanup();
  }
});
