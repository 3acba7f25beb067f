/**
 * Data lakes end to end: @segment/analytics-node sends to a real Switchyard
 * process whose loader thread writes Parquet in Segment's layout to a local
 * directory and to an S3-compatible fake on loopback (node:http: HeadBucket,
 * PutObject, GetObject, DeleteObject, ListObjectsV2; never the internet). Files
 * are read back with DuckDB; a lake with bad credentials and one with an
 * unreachable endpoint write failed sync reports with `error` and `error_code`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Analytics } from '@segment/analytics-node';
import { duckQuery } from './helpers/duckdb.js';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Harness } from './helpers/harness.js';
import { api, type SwitchyardProcess } from './helpers/switchyard.js';
import { waitUntil } from './helpers/e2e.js';

const GOOD_KEY = 'AKIDSWITCHYARDTEST';
const BUCKET = 'lake-bucket';

/** Just enough of S3 for @aws-sdk/client-s3 with path-style addressing. Checks the access key id only. */
async function fakeS3(): Promise<{ url: string; objects: Map<string, Buffer>; requests: string[]; close(): Promise<void> }> {
  const objects = new Map<string, Buffer>();
  const requests: string[] = [];
  const xml = (res: http.ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
  };
  const error = (res: http.ServerResponse, status: number, code: string, message: string) =>
    xml(res, status, `<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fake</RequestId></Error>`);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const [, bucket = '', ...rest] = url.pathname.split('/');
      const key = decodeURIComponent(rest.join('/'));
      requests.push(`${req.method} ${url.pathname}`);
      const credential = /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1];
      if (credential !== GOOD_KEY) {
        if (req.method === 'HEAD') return void res.writeHead(403).end();
        return error(res, 403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
      }
      if (bucket !== BUCKET) return req.method === 'HEAD' ? void res.writeHead(404).end() : error(res, 404, 'NoSuchBucket', 'The specified bucket does not exist');
      if (req.method === 'HEAD' && !key) return void res.writeHead(200).end();
      if (req.method === 'PUT' && key) {
        objects.set(key, Buffer.concat(chunks));
        res.writeHead(200, { etag: '"fake"' });
        return void res.end();
      }
      if (req.method === 'DELETE' && key) {
        objects.delete(key);
        return void res.writeHead(204).end();
      }
      if (req.method === 'GET' && key) {
        const body = objects.get(key);
        if (!body) return error(res, 404, 'NoSuchKey', 'The specified key does not exist.');
        res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
        return void res.end(body);
      }
      if (req.method === 'GET' && url.searchParams.get('list-type') === '2') {
        const prefix = url.searchParams.get('prefix') ?? '';
        const keys = [...objects.keys()].filter((k) => k.startsWith(prefix)).sort();
        const contents = keys.map((k) => `<Contents><Key>${k}</Key><Size>${objects.get(k)!.length}</Size><LastModified>${new Date().toISOString()}</LastModified><ETag>"fake"</ETag><StorageClass>STANDARD</StorageClass></Contents>`).join('');
        return xml(res, 200, `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${BUCKET}</Name><Prefix>${prefix}</Prefix><KeyCount>${keys.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`);
      }
      error(res, 400, 'NotImplemented', `${req.method} ${url.pathname}${url.search}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    objects,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A query over the lake, after its catalog script (`initFile`) when given. */
const duck = <T = Record<string, unknown>>(sql: string, initFile?: string) => duckQuery<T>(sql, { init: initFile && fs.readFileSync(initFile, 'utf8') });

function workspace(s3url: string): string {
  const s3 = (key: string, endpoint = s3url) => `{ bucket: ${BUCKET}, region: us-east-1, endpoint: "${endpoint}", accessKeyId: ${key}, secretAccessKey: fake-secret, prefix: lakes/acme }`;
  return `workspace: { id: WS1, slug: acme }
sources:
  - { slug: web, writeKey: wk_lake_web }
  - { slug: app-ios, writeKey: wk_lake_app }
  - { slug: bad-creds, writeKey: wk_lake_bad }
  - { slug: down, writeKey: wk_lake_down }
dataLakes:
  - id: local
    sources: [web]
    settings: { syncIntervalSeconds: 3600 }
  - id: s3
    sources: [app-ios]
    settings: { s3: ${s3(GOOD_KEY)}, syncIntervalSeconds: 3600 }
  - id: bad
    sources: [bad-creds]
    settings: { s3: ${s3('AKIDWRONG')}, syncIntervalSeconds: 3600 }
  - id: down
    sources: [down]
    settings: { s3: ${s3(GOOD_KEY, 'http://127.0.0.1:1')}, syncIntervalSeconds: 3600 }
`;
}

async function send(sy: SwitchyardProcess, writeKey: string, n: number): Promise<void> {
  const analytics = new Analytics({ writeKey, host: sy.url, flushAt: 50, flushInterval: 50 });
  analytics.identify({ userId: 'u1', traits: { email: 'u1@example.com', seats: 2 } });
  for (let i = 0; i < n; i++) analytics.track({ userId: `u${i % 3}`, event: 'Order Completed', properties: { revenue: 10 + i, orderId: `o${i}`, billingAddress: { city: 'Paris' } } });
  analytics.page({ userId: 'u1', name: 'Home', properties: { path: '/' } });
  await analytics.closeAndFlush();
}

test('analytics-node → Switchyard → Parquet data lakes (local and S3), read back with DuckDB; failed syncs write failed reports', async () => {
  const h = new Harness();
  const s3 = await fakeS3();
  after(async () => {
    await h.cleanup();
    await s3.close();
  });
  const sy = await h.start({ workspace: workspace(s3.url) });
  await send(sy, 'wk_lake_web', 5);
  await send(sy, 'wk_lake_app', 3);
  await send(sy, 'wk_lake_bad', 2);
  await send(sy, 'wk_lake_down', 1);
  for (const id of ['local', 's3', 'bad', 'down']) {
    const r = await api(sy, 'POST', `/api/v1/data-lakes/${id}/sync`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  const unknown = await api(sy, 'POST', '/api/v1/data-lakes/nope/sync');
  assert.equal(unknown.status, 404);
  assert.deepEqual(unknown.body, { errors: [{ type: 'not-found', message: 'no data lake "nope"' }] });

  // Local lake (default DATA_DIR/datalake): Segment's layout, queried through catalog.sql.
  const root = path.join(sy.dataDir, 'datalake');
  const typeDirs = fs.readdirSync(path.join(root, 'segment-data', 'data', 'web')).sort();
  assert.deepEqual(typeDirs, ['segment_type=identify', 'segment_type=order_completed', 'segment_type=page']);
  const day = new Date().toISOString().slice(0, 10);
  const dayDir = fs.readdirSync(path.join(root, 'segment-data', 'data', 'web', 'segment_type=order_completed'));
  assert.ok(dayDir.every((d) => /^day=\d{4}-\d{2}-\d{2}$/.test(d)), dayDir.join());
  const catalog = path.join(root, 'catalog.sql');
  const orders = await duck<{ n: bigint; revenue: number; city: string; types: string }>(
    `SELECT count(*) AS n, sum(properties_revenue)::DOUBLE AS revenue, min(properties_billing_address_city) AS city, min(typeof(properties_revenue)) AS types FROM web.order_completed`, catalog);
  assert.equal(Number(orders[0]!.n), 5);
  assert.equal(orders[0]!.revenue, 60);
  assert.equal(orders[0]!.city, 'Paris');
  assert.equal(orders[0]!.types, 'BIGINT');
  const ident = await duck<{ user_id: string; traits_email: string; context_library_name: string; day: string }>('SELECT user_id, traits_email, context_library_name, day FROM web.identify', catalog);
  assert.deepEqual(ident.map((r) => [r.user_id, r.traits_email, r.context_library_name, r.day]), [['u1', 'u1@example.com', '@segment/analytics-node', day]]);
  // Its sync report, and the seed's table over the reports.
  const reports = await duck<{ type: string; table_name: string; row_count: bigint; status: string; workspace_id: string; database: string }>(
    `SELECT type, table_name, row_count, status, workspace_id, database FROM "__segment_datalake"."sync_reports" WHERE source_id='web' ORDER BY type DESC, table_name`, catalog);
  assert.deepEqual(reports.map((r) => [r.type, r.table_name, Number(r.row_count), r.status, r.workspace_id, r.database]), [
    ['source', '', 7, 'finished', 'WS1', 'web'],
    ['event', 'identify', 1, 'finished', 'WS1', 'web'],
    ['event', 'order_completed', 5, 'finished', 'WS1', 'web'],
    ['event', 'page', 1, 'finished', 'WS1', 'web'],
  ]);

  // S3 lake: the objects are in the bucket under the prefix, in the same layout; the Parquet reads back.
  const client = new S3Client({ region: 'us-east-1', endpoint: s3.url, forcePathStyle: true, credentials: { accessKeyId: GOOD_KEY, secretAccessKey: 'x' } });
  const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'lakes/acme/segment-data/' }));
  const keys = (listed.Contents ?? []).map((c) => c.Key!);
  const parquetKeys = keys.filter((k) => k.endsWith('.parquet'));
  assert.ok(parquetKeys.length >= 3, keys.join('\n'));
  for (const k of parquetKeys) assert.match(k, /^lakes\/acme\/segment-data\/data\/app-ios\/segment_type=(identify|order_completed|page)\/day=\d{4}-\d{2}-\d{2}\/hr=\d{2}\/part-[\d-]+\.snappy\.parquet$/);
  const reportKeyS3 = keys.find((k) => k.endsWith('/report.json'))!;
  assert.match(reportKeyS3, new RegExp(`^lakes/acme/segment-data/reports/day=${day}/source=app-ios/run_id=\\d{19}/report\\.json$`));
  const report = (await (await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: reportKeyS3 }))).Body!.transformToString()).trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(report[0].type, 'source');
  assert.equal(report[0].row_count, 5);
  assert.equal(report[0].s3_bucket, BUCKET);
  const download = h.dataDir();
  const orderKey = parquetKeys.find((k) => k.includes('segment_type=order_completed'))!;
  const local = path.join(download, 'orders.parquet');
  fs.writeFileSync(local, Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: orderKey }))).Body!.transformToByteArray()));
  const fromS3 = await duck<{ n: bigint; event_text: string }>(`SELECT count(*) AS n, min(event_text) AS event_text FROM read_parquet('${local}')`);
  assert.equal(Number(fromS3[0]!.n), 3);
  assert.equal(fromS3[0]!.event_text, 'Order Completed');
  client.destroy();
  // The S3 lake's catalog points at the bucket.
  const s3Catalog = fs.readFileSync(path.join(sy.dataDir, 'datalake-s3', 's3', 'catalog.sql'), 'utf8');
  assert.match(s3Catalog, /read_parquet\('s3:\/\/lake-bucket\/lakes\/acme\/segment-data\/data\/app-ios\/segment_type=order_completed\/\*\/\*\/\*\.parquet'/);

  // Bad credentials: a failed sync, a failed report (kept locally, the bucket refused it), the events still waiting.
  const bad = await api(sy, 'GET', '/api/v1/data-lakes/bad/syncs');
  assert.equal(bad.status, 200);
  const badSync = bad.body.data.syncs[0];
  assert.equal(badSync.status, 'failed', JSON.stringify(badSync));
  assert.equal(badSync.errorCode, 'Segment.InsufficientPermissions');
  assert.match(badSync.error, /permissions/);
  const badReport = await duck<{ status: string; error: string; error_code: string; row_count: bigint | null; table_name: string; s3_bucket: string }>(
    `SELECT status, error, error_code, row_count, table_name, s3_bucket FROM "__segment_datalake"."sync_reports" WHERE source_id='bad-creds'`,
    path.join(sy.dataDir, 'datalake-s3', 'bad', 'catalog.sql'));
  assert.equal(badReport.length, 1);
  assert.equal(badReport[0]!.status, 'failed');
  assert.equal(badReport[0]!.error_code, 'Segment.InsufficientPermissions');
  assert.match(badReport[0]!.error, /HTTP 403/);
  assert.equal(badReport[0]!.row_count, null);
  assert.equal(badReport[0]!.s3_bucket, BUCKET);
  assert.ok(!keys.some((k) => k.includes('bad-creds')));

  // Unreachable endpoint: failed too, as an internal error.
  const down = (await api(sy, 'GET', '/api/v1/data-lakes/down/syncs')).body.data.syncs[0];
  assert.equal(down.status, 'failed');
  assert.equal(down.errorCode, 'Segment.Internal');
  const downReportDir = path.join(sy.dataDir, 'datalake-s3', 'down', 'segment-data', 'reports', `day=${day}`, 'source=down');
  const [runDir] = fs.readdirSync(downReportDir);
  const downReport = fs.readFileSync(path.join(downReportDir, runDir!, 'report.json'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(Object.keys(downReport[0]), ['type', 'workspace_id', 'source_id', 'run_id', 'start_time', 'finish_time', 'duration_mins', 'status', 'error', 'error_code', 'table_name', 'database', 'emr_cluster_id', 's3_bucket']);
  assert.equal(downReport[0].error_code, 'Segment.Internal');

  // History and health.
  const syncs = await api(sy, 'GET', '/api/v1/data-lakes/local/syncs');
  assert.equal(syncs.body.data.syncs[0].status, 'finished');
  assert.equal(syncs.body.data.syncs[0].rows, 7);
  assert.deepEqual(syncs.body.data.syncs[0].collections, { identify: 1, order_completed: 5, page: 1 });
  const health = await api(sy, 'GET', '/api/v1/data-lakes/local/health');
  assert.equal(health.status, 200);
  assert.equal(health.body.data.days.length, 30);
  assert.deepEqual(health.body.data.today, { day, rows: 7, collections: 3 });
  assert.equal(health.body.data.days[29].collections[0].collection, 'order_completed');
  assert.equal((await api(sy, 'GET', '/api/v1/data-lakes/nope/health')).status, 404);

  // Fixing the credentials in the workspace file: the waiting events load (the failed sync is caught up).
  fs.writeFileSync(sy.configFile, workspace(s3.url).replace('AKIDWRONG', GOOD_KEY));
  await waitUntil('the bad-creds events in the bucket', async () => {
    await api(sy, 'POST', '/api/v1/data-lakes/bad/sync');
    return [...s3.objects.keys()].some((k) => k.includes('/data/bad-creds/segment_type=order_completed/'));
  }, { timeoutMs: 20_000, intervalMs: 500 });
  const fixed = (await api(sy, 'GET', '/api/v1/data-lakes/bad/syncs')).body.data.syncs.find((x: { status: string }) => x.status === 'finished');
  assert.equal(fixed.rows, 4); // identify + 2 tracks + page

  // Nothing new: another sync writes no report and no files.
  const before = fs.readdirSync(path.join(root, 'segment-data', 'reports', `day=${day}`, 'source=web')).length;
  await api(sy, 'POST', '/api/v1/data-lakes/local/sync');
  assert.equal(fs.readdirSync(path.join(root, 'segment-data', 'reports', `day=${day}`, 'source=web')).length, before);
});
