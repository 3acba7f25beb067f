/**
 * Observability across processes (issue #4): with the NATS log, an API-only process
 * shows what other processes did. The source debugger's samples travel from the
 * ingest process over core NATS; Delivery Overview counts what the ingest process
 * received and the router process delivered (their counters share DATA_DIR/stats.db).
 * Processes with their own DATA_DIR exchange metrics, sync runs and failure logs
 * through NATS feeds.
 *
 * Needs nats-server with JetStream on SWITCHYARD_TEST_NATS (default 127.0.0.1:4222).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Analytics } from '@segment/analytics-node';
import { NatsEventLog } from '../src/log/nats/log.js';
import { Harness } from './helpers/harness.js';
import { WRITE_KEY, sleep, waitUntil } from './helpers/e2e.js';
import { workspaceYaml } from './helpers/switchyard.js';
import { dropTestSchema, PG_URL, pgClient, testSchemaName } from './helpers/postgres.js';

const NATS = process.env.SWITCHYARD_TEST_NATS ?? '127.0.0.1:4222';
const id = randomBytes(4).toString('hex');
const streamPrefix = `SYOBS_${id}_`;
const subjectRoot = `syobs_${id}`;
const env = { SWITCHYARD_LOG: `nats://${NATS}?stream_prefix=${streamPrefix}&subject_root=${subjectRoot}` };
// The second test has its own stream (and metrics feed).
const env2 = { SWITCHYARD_LOG: `nats://${NATS}?stream_prefix=${streamPrefix}2_&subject_root=${subjectRoot}2` };
const env3 = { SWITCHYARD_LOG: `nats://${NATS}?stream_prefix=${streamPrefix}3_&subject_root=${subjectRoot}3` };

after(async () => {
  for (const [prefix, root] of [[streamPrefix, subjectRoot], [`${streamPrefix}2_`, `${subjectRoot}2`], [`${streamPrefix}3_`, `${subjectRoot}3`]] as const) {
    const log = await NatsEventLog.connect({ servers: NATS, workspaceId: 'acme', streamPrefix: prefix, subjectRoot: root, dedupeWindowMs: 60_000, retentionMs: 0 });
    await log.destroy();
    await log.close();
  }
});

type Step = { step: string; count: number };
async function overview(url: string): Promise<(step: string) => number> {
  const res = await fetch(`${url}/api/v1/destinations/orders-webhook/overview?range=1h`);
  const steps = ((await res.json()) as { data: { steps: Step[] } }).data.steps;
  return (step) => steps.find((x) => x.step === step)?.count ?? 0;
}

test('an API-only process shows the debugger samples of the ingest process and Delivery Overview of the whole cluster; its configuration changes reach the ingest process', { timeout: 120_000 }, async () => {
  const h = new Harness();
  try {
    const sink = await h.sink();
    const dataDir = h.dataDir();
    const workspace = workspaceYaml([sink.url]);
    await h.start({ workspace, dataDir, role: 'router', env });
    const api = await h.start({ workspace, dataDir, role: 'api', env, writeConfig: false });
    const ingest = await h.start({ workspace, dataDir, role: 'ingest', env, writeConfig: false });
    assert.equal((await fetch(`${ingest.url}/api/v1/sources/web-prod/debugger/recent`)).status, 404, 'the ingest process serves no API');

    const analytics = new Analytics({ writeKey: WRITE_KEY, host: ingest.url, flushAt: 10, flushInterval: 20 });
    for (let i = 0; i < 30; i++) analytics.track({ userId: `u${i}`, event: 'Order Completed', messageId: `obs-${id}-${i}`, properties: { i } });
    await analytics.closeAndFlush({ timeout: 30_000 });

    type Entry = { messageId: string; type: string; event?: string; raw: { properties?: { i?: number } } };
    let events: Entry[] = [];
    await waitUntil('the API process to show the ingest process\'s samples', async () => {
      const res = await fetch(`${api.url}/api/v1/sources/web-prod/debugger/recent`);
      events = ((await res.json()) as { data: { events: Entry[] } }).data.events;
      return events.length >= 20;
    }, { timeoutMs: 10_000 });
    assert.ok(events.every((e) => e.type === 'track' && e.event === 'Order Completed' && e.messageId.startsWith(`obs-${id}-`)));
    assert.equal(new Set(events.map((e) => e.messageId)).size, events.length, 'each sample once');
    // An API process started after the events were sent shows the same samples: the feed keeps them.
    const late = await h.start({ workspace, dataDir, role: 'api', env, writeConfig: false });
    let replayed: Entry[] = [];
    await waitUntil('the API process started later to show the samples sent before it', async () => {
      const res = await fetch(`${late.url}/api/v1/sources/web-prod/debugger/recent`);
      replayed = ((await res.json()) as { data: { events: Entry[] } }).data.events;
      return replayed.length >= events.length;
    }, { timeoutMs: 10_000 });
    assert.deepEqual(replayed.map((e) => e.messageId).sort(), events.map((e) => e.messageId).sort(), 'the same samples, each once');

    await waitUntil('the sink to get the 30 events', () => sink.received.length >= 30, { timeoutMs: 30_000 });
    await waitUntil('Delivery Overview on the API process to count received and delivered', async () => {
      const count = await overview(api.url);
      return count('successfully_received') >= 30 && count('successful_delivery') >= 30;
    }, { timeoutMs: 15_000 });

    // A configuration change through the API process takes effect on the ingest process.
    const created = await fetch(`${api.url}/sources`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ slug: 'app-prod', enabled: true, metadataId: 'javascript' }) });
    assert.equal(created.status, 200, await created.clone().text());
    const source = ((await created.json()) as { data: { source: { id: string; writeKeys: string[] } } }).data.source;
    const track = () => fetch(`${ingest.url}/v1/track`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${source.writeKeys[0]}:`).toString('base64')}` },
      body: JSON.stringify({ userId: 'u1', event: 'Signed Up' }),
    });
    const t0 = Date.now();
    await waitUntil('the ingest process to accept the new source\'s write key', async () => (await track()).status === 200, { timeoutMs: 5000, intervalMs: 50 });
    const seen = Date.now() - t0;
    const disabled = await fetch(`${api.url}/sources/${source.id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enabled: false }) });
    assert.equal(disabled.status, 200, await disabled.clone().text());
    await waitUntil('the ingest process to refuse the disabled source', async () => (await track()).status === 401, { timeoutMs: 5000, intervalMs: 50 });
    console.log(`a source created on the API process was accepted by the ingest process after ${seen} ms`);
  } finally {
    await h.cleanup();
  }
});

test('processes with their own DATA_DIR: API processes show the figures and the warehouse syncs of the whole deployment through NATS feeds, each counted once', { timeout: 120_000 }, async () => {
  const h = new Harness();
  try {
    const sink = await h.sink();
    const workspace = workspaceYaml([sink.url], `warehouses:
  - id: local
    type: duckdb
    sources: [web-prod]
    settings: { syncIntervalSeconds: 1 }
`);
    const routerDir = h.dataDir();
    await h.start({ workspace, dataDir: routerDir, role: 'router', env: env2 });
    // The loader writes its DuckDB file and its sync history in its own DATA_DIR.
    await h.start({ workspace, dataDir: h.dataDir(), role: 'loader', env: env2 });
    const api = await h.start({ workspace, dataDir: h.dataDir(), role: 'api', env: env2 });
    // Shares the router's DATA_DIR: it holds the delivery figures already and must not add them twice.
    const apiBesideRouter = await h.start({ workspace, dataDir: routerDir, role: 'api', env: env2, writeConfig: false });
    const ingest = await h.start({ workspace, dataDir: h.dataDir(), role: 'ingest', env: env2 });

    const analytics = new Analytics({ writeKey: WRITE_KEY, host: ingest.url, flushAt: 10, flushInterval: 20 });
    for (let i = 0; i < 30; i++) analytics.track({ userId: `u${i}`, event: 'Order Completed', messageId: `obs2-${id}-${i}`, properties: { i } });
    await analytics.closeAndFlush({ timeout: 30_000 });
    await waitUntil('the sink to get the 30 events', () => sink.received.length >= 30, { timeoutMs: 30_000 });

    for (const [name, url] of [['own DATA_DIR', api.url], ['beside the router', apiBesideRouter.url]] as const) {
      await waitUntil(`Delivery Overview on the API process (${name}) to count 30 received and 30 delivered`, async () => {
        const count = await overview(url);
        return count('successfully_received') >= 30 && count('successful_delivery') >= 30;
      }, { timeoutMs: 15_000 });
    }
    // A few more flushes pass: nothing is counted twice.
    await sleep(2500);
    for (const url of [api.url, apiBesideRouter.url]) {
      const count = await overview(url);
      assert.equal(count('successfully_received'), 30, `received counted once at ${url}`);
      assert.equal(count('successful_delivery'), 30, `delivered counted once at ${url}`);
    }
    // The loader's runs, listed by both API processes (neither shares its DATA_DIR).
    type Run = { status: string; rows: Record<string, number> };
    for (const url of [api.url, apiBesideRouter.url]) {
      await waitUntil(`the loader's syncs listed by the API process at ${url}`, async () => {
        const res = await fetch(`${url}/api/v1/warehouses/local/syncs`);
        if (res.status !== 200) return false;
        const runs = ((await res.json()) as { data: { syncs: Run[] } }).data.syncs;
        return runs.filter((r) => r.status === 'success').reduce((n, r) => n + (r.rows.tracks ?? 0), 0) >= 30;
      }, { timeoutMs: 20_000 });
    }

    // *Sync now* on an API process runs on the loader process that holds the lease.
    const synced = await fetch(`${api.url}/api/v1/warehouses/local/sync`, { method: 'POST' });
    assert.equal(synced.status, 200, await synced.clone().text());
    assert.equal((await fetch(`${api.url}/api/v1/warehouses/nope/sync`, { method: 'POST' })).status, 404);

    const res = await fetch(`${api.url}/destinations/orders-webhook/delivery-metrics?sourceId=web-prod`);
    const summary = ((await res.json()) as { data: { deliveryMetricsSummary: { metrics: { metricName: string; total: number }[] } } }).data.deliveryMetricsSummary;
    assert.equal(summary.metrics.find((m) => m.metricName === 'successes')?.total, 30, 'Event Delivery on the API process counts the router\'s deliveries');
  } finally {
    await h.cleanup();
  }
});

test('processes with their own DATA_DIR: a failure-log download from an API process holds the lines the router process wrote, each once', { timeout: 120_000 }, async () => {
  await (await pgClient()).end();
  // The collection setting lives in the control-plane store, shared by every process.
  const schema = testSchemaName('failures');
  const env = { ...env3, SWITCHYARD_STORE: PG_URL, SWITCHYARD_STORE_SCHEMA: schema, SWITCHYARD_SECRET_KEY: randomBytes(32).toString('hex') };
  const h = new Harness();
  try {
    const sink = await h.sink();
    sink.respond(() => ({ status: 400, body: '{"error":"rejected"}' }));
    const workspace = workspaceYaml([sink.url]);
    await h.start({ workspace, dataDir: h.dataDir(), role: 'router', env });
    const api = await h.start({ workspace, dataDir: h.dataDir(), role: 'api', env, writeConfig: false });
    const ingest = await h.start({ workspace, dataDir: h.dataDir(), role: 'ingest', env, writeConfig: false });

    const toggle = await fetch(`${api.url}/api/v1/destinations/orders-webhook/log-collection`, { method: 'PUT', body: JSON.stringify({ enabled: true }) });
    assert.equal(toggle.status, 200, await toggle.clone().text());
    const { collectionId } = ((await toggle.json()) as { data: { collectionId: string } }).data;
    await sleep(1500); // the router reads the collections from the store each second

    const occurred = '2026-03-04T05:06:07.000Z';
    const analytics = new Analytics({ writeKey: WRITE_KEY, host: ingest.url, flushAt: 5, flushInterval: 20 });
    for (let i = 0; i < 5; i++) analytics.track({ userId: `u${i}`, event: 'Order Completed', messageId: `fail-${id}-${i}`, timestamp: new Date(occurred) });
    await analytics.closeAndFlush({ timeout: 30_000 });
    await waitUntil('the sink to refuse the 5 events', () => sink.received.length >= 5, { timeoutMs: 30_000 });

    type Obs = { event: string; properties: { messageId?: string; discarded?: boolean } };
    const download = async (): Promise<Obs[]> => {
      const dl = await fetch(`${api.url}/customer-insights/download?collectionId=${collectionId}&hour=2026-03-04T05:00:00Z`, { method: 'POST' });
      assert.equal(dl.status, 200, await dl.clone().text());
      const file = await fetch(((await dl.json()) as { data: { url: string } }).data.url);
      return file.status === 200 ? (await file.text()).trim().split('\n').map((l) => JSON.parse(l) as Obs) : [];
    };
    // Each refused event: Error Logged, Delivery Attempt Logged, Destination Exchange Logged.
    await waitUntil('the API process to serve the router\'s failure log', async () => (await download()).length >= 15, { timeoutMs: 15_000 });
    await sleep(2500); // more flushes and feed messages pass: nothing is appended twice
    const lines = await download();
    assert.equal(lines.length, 15, 'each line once');
    const errors = lines.filter((l) => l.event === 'Error Logged');
    assert.deepEqual(errors.map((e) => e.properties.messageId).sort(), [0, 1, 2, 3, 4].map((i) => `fail-${id}-${i}`));
    assert.ok(errors.every((e) => e.properties.discarded === true), 'a 400 is discarded');
  } finally {
    await h.cleanup();
    await dropTestSchema(schema);
  }
});
