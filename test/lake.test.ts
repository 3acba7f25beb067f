/**
 * Data lakes (issue #6, seeds 000 and 001 "Data Lakes"): layout, types, casting,
 * dedupe, crash safety, the Glue-like catalog read back with DuckDB, and sync
 * reports checked field by field against seed 000, with the seed's four queries
 * run on `__segment_datalake.sync_reports`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { duckQuery } from './helpers/duckdb.js';
import { SyncHistory } from '../src/storage/warehouse/history.js';
import { LakeLoader, lakePaths } from '../src/storage/lake/loader.js';
import { dataKey, newRunId, partitionOf, partitionPath, reportKey, reportTime } from '../src/storage/lake/layout.js';
import { castLake, eventSegmentType, inferLakeType, lakeRowFor } from '../src/storage/lake/schema.js';
import { failedReport, successReport } from '../src/storage/lake/report.js';
import { DEDUPE_WINDOW_MS, LakeState } from '../src/storage/lake/state.js';
import { classifyError, localStore } from '../src/storage/lake/store.js';
import type { LakeConfig, LoaderLane, LoaderMessage, Partitioning } from '../src/storage/lake/types.js';
import { parseWorkspaceFile } from '../src/config/workspace-file.js';

const logger = pino({ level: 'silent' });

// ---- Seed 000, verbatim: the key order of each example object, and the four queries.
const SEED_SOURCE_KEYS = ['type', 'workspace_id', 'source_id', 'run_id', 'start_time', 'finish_time', 'duration_mins', 'status', 'table_name', 'database', 'row_count', 'emr_cluster_id', 's3_bucket'];
const SEED_EVENT_KEYS = ['type', 'workspace_id', 'source_id', 'run_id', 'start_time', 'finish_time', 'duration_mins', 'status', 'table_name', 'database', 'partitions', 'new_columns', 'row_count', 'emr_cluster_id', 's3_bucket'];
const SEED_EVENT_KEYS_NO_NEW = SEED_EVENT_KEYS.filter((k) => k !== 'new_columns');
const SEED_FAILED_KEYS = ['type', 'workspace_id', 'source_id', 'run_id', 'start_time', 'finish_time', 'duration_mins', 'status', 'error', 'error_code', 'table_name', 'database', 'emr_cluster_id', 's3_bucket'];
const SEED_QUERIES = {
  perEvent: `SELECT day,sum(row_count)
FROM "__segment_datalake"."sync_reports"
WHERE source_id=’9IP56Shn6’ and table_name='checkout_started'
GROUP BY day
ORDER BY day`,
  perDay: `SELECT day, table_name,sum(row_count)
FROM "__segment_datalake"."sync_reports"
WHERE source_id=’9IP56Shn6’ AND type=’event’
GROUP BY day, table_name
ORDER BY day`,
  lastSuccess: `SELECT max(finish_time)
FROM "__segment_datalake"."sync_reports"
WHERE source_id=’9IP56Shn6’ AND status='finished' AND date(day) = CURRENT_DATE
LIMIT 1`,
  failures: `SELECT run_id, status, error, error_code
FROM "__segment_datalake"."sync_reports"
WHERE source_id=’9IP56Shn6’ AND status='failed' AND date(day) >= (CURRENT_DATE - interval '2' day)`,
};
/** The only change to the seed's text: the docs page typeset some quotes as ’ (a SQL engine needs ASCII '). */
const ascii = (sql: string) => sql.replace(/[’‘]/g, "'");

class MemLane implements LoaderLane {
  queue: LoaderMessage[] = [];
  private retried: LoaderMessage[] = [];
  acked = 0;
  private seq = 0;
  push(sourceId: string, event: Record<string, unknown>, receivedAt = Date.now()): string {
    const messageId = (event.messageId as string | undefined) ?? randomUUID();
    const payload = JSON.stringify({ messageId, receivedAt: new Date(receivedAt).toISOString(), timestamp: new Date(receivedAt).toISOString(), ...event });
    this.queue.push({ seq: ++this.seq, sourceId, messageId, payload, receivedAt });
    return messageId;
  }
  async fetch(max: number): Promise<LoaderMessage[]> {
    return this.queue.splice(0, max);
  }
  ack(): void {
    this.acked++;
  }
  retry(m: LoaderMessage): void {
    this.retried.push(m);
  }
  async flush(): Promise<void> {
    this.queue.unshift(...this.retried.splice(0));
  }
  async close(): Promise<void> {}
}

const duck = <T = Record<string, unknown>>(sql: string, init?: string) => duckQuery<T>(sql, { init });

function setup(opts: { partitioning?: Partitioning; sourceId?: string; batchSize?: number } = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-lake-'));
  const sourceId = opts.sourceId ?? '9IP56Shn6';
  const config: LakeConfig = {
    id: 'lake', workspaceId: 'P3IMS7SBDH', sources: [{ id: sourceId, slug: 'ios-prod' }],
    settings: { ...(opts.partitioning ? { partitioning: opts.partitioning } : {}) },
  };
  const lane = new MemLane();
  const history = new SyncHistory(path.join(dataDir, 'warehouse-syncs.db'));
  const paths = lakePaths(config, dataDir);
  const make = (extra: Partial<ConstructorParameters<typeof LakeLoader>[0]> = {}) =>
    new LakeLoader({ config, lane, dataDir, history, logger, batchSize: opts.batchSize, ...extra });
  const reports = () => {
    const out: { key: string; objects: Record<string, unknown>[]; text: string }[] = [];
    const root = path.join(paths.catalogDir, 'segment-data', 'reports');
    const walk = (dir: string) => {
      for (const e of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : []) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name === 'report.json') {
          const text = fs.readFileSync(p, 'utf8');
          out.push({ key: path.relative(paths.catalogDir, p).split(path.sep).join('/'), text, objects: text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) });
        }
      }
    };
    walk(root);
    return out.sort((a, b) => (String(a.objects[0]!.run_id) < String(b.objects[0]!.run_id) ? -1 : 1));
  };
  const parquetFiles = () => {
    const out: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : []) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else out.push(path.relative(paths.catalogDir, p).split(path.sep).join('/'));
      }
    };
    walk(path.join(paths.catalogDir, 'segment-data', 'data'));
    return out.sort();
  };
  const catalog = () => fs.readFileSync(path.join(paths.catalogDir, 'catalog.sql'), 'utf8');
  const cleanup = () => {
    history.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  return { dataDir, sourceId, config, lane, history, paths, make, reports, parquetFiles, catalog, cleanup };
}

test('layout: Segment\'s partition paths, every partitioning option, report keys and times', () => {
  const t = Date.UTC(2020, 4, 11, 11, 42, 7, 123);
  assert.equal(partitionPath(partitionOf(t, 'day/hr')), 'day=2020-05-11/hr=11');
  assert.equal(partitionPath(partitionOf(t, 'year/month/day/hr')), 'year=2020/month=05/day=11/hr=11');
  assert.equal(partitionPath(partitionOf(t, 'year/month/day')), 'year=2020/month=05/day=11');
  assert.equal(partitionPath(partitionOf(t, 'day')), 'day=2020-05-11');
  assert.equal(dataKey('SOURCE_ID', 'identify', partitionOf(t, 'day/hr'), 'f.parquet'), 'segment-data/data/SOURCE_ID/segment_type=identify/day=2020-05-11/hr=11/f.parquet');
  assert.equal(reportKey('2020-08-19', '9IP56Shn6', '1597581273464733073'), 'segment-data/reports/day=2020-08-19/source=9IP56Shn6/run_id=1597581273464733073/report.json');
  // The seed prints "2020-08-19 22:15:59.044084423" and "2020-08-19 22:18:12.891".
  assert.equal(reportTime(Date.UTC(2020, 7, 19, 22, 15, 59, 44), 84423), '2020-08-19 22:15:59.044084423');
  assert.equal(reportTime(Date.UTC(2020, 7, 19, 22, 18, 12, 891)), '2020-08-19 22:18:12.891');
  assert.equal(reportTime(Date.UTC(2020, 7, 19, 22, 18, 12, 0)), '2020-08-19 22:18:12');
  const a = newRunId();
  const b = newRunId();
  assert.match(a, /^\d{19}$/);
  assert.ok(BigInt(b) > BigInt(a));
});

test('schema: the whole event flattened, one table per event type and per track event', () => {
  const row = lakeRowFor({
    type: 'track', event: 'Order Completed', messageId: 'm1', userId: 'u1', anonymousId: 'a1', channel: 'server',
    receivedAt: '2020-08-16T10:00:00.000Z', timestamp: '2020-08-16T10:00:00.000Z',
    properties: { billingAddress: 'Main St', revenue: 10, products: [{ sku: 'a' }] },
    context: { library: { name: 'analytics-node', version: '3' } }, integrations: { All: true }, writeKey: 'wk',
  })!;
  assert.equal(row.segmentType, 'order_completed');
  const cols = [...row.values.keys()];
  assert.equal(cols[0], 'id');
  assert.equal(row.values.get('id'), 'm1');
  assert.equal(row.values.get('event'), 'order_completed');
  assert.equal(row.values.get('event_text'), 'Order Completed');
  assert.equal(row.values.get('properties_billing_address'), 'Main St'); // the seed's new column
  assert.equal(row.values.get('properties_products'), '[{"sku":"a"}]');
  assert.equal(row.values.get('context_library_name'), 'analytics-node');
  assert.equal(row.values.get('type'), 'track');
  assert.equal(row.values.get('channel'), 'server');
  for (const gone of ['integrations_all', 'write_key', 'message_id']) assert.ok(!row.values.has(gone), gone);
  assert.equal(lakeRowFor({ type: 'identify', messageId: 'm2', traits: { email: 'x' } })!.segmentType, 'identify');
  assert.equal(lakeRowFor({ type: 'identify', messageId: 'm2', traits: { email: 'x' } })!.values.get('traits_email'), 'x');
  for (const t of ['page', 'screen', 'group', 'alias']) assert.equal(lakeRowFor({ type: t, messageId: 'm' })!.segmentType, t);
  assert.equal(eventSegmentType('Page Viewed'), 'page_viewed'); // the seed's layout example
  assert.equal(eventSegmentType('Identify'), '_identify'); // never mixes into a type table
  assert.equal(eventSegmentType('1st Purchase'), '_1st_purchase');
  assert.equal(eventSegmentType('$$$'), '');
  assert.equal(lakeRowFor({ type: 'track', event: '$$$', messageId: 'm' }), null);
});

test('types: inferred from the group of values; the seed\'s casting rules afterwards', () => {
  assert.equal(inferLakeType([1, 2, 3]), 'bigint');
  assert.equal(inferLakeType([1, 2.5]), 'decimal(38,6)');
  assert.equal(inferLakeType([true, false]), 'boolean');
  assert.equal(inferLakeType(['2020-08-16T10:00:00Z', '2020-08-17T10:00:00.123Z']), 'timestamp');
  assert.equal(inferLakeType(['2020-08-16T10:00:00Z', 'soon']), 'string');
  assert.equal(inferLakeType([1, 'one']), 'string');
  assert.equal(inferLakeType([1, true]), 'string');
  assert.equal(inferLakeType(['x']), 'string');
  // A wider column takes narrower data.
  assert.equal(castLake(5, 'string'), '5');
  assert.equal(castLake(true, 'string'), 'true');
  assert.equal(castLake(5, 'decimal(38,6)'), '5.000000');
  // A narrower one: numbers lose precision (a Java cast truncates); text that is no number is dropped.
  assert.equal(castLake(3.9, 'bigint'), 3n);
  assert.equal(castLake(-3.9, 'bigint'), -3n);
  assert.equal(castLake('42', 'bigint'), 42n);
  assert.equal(castLake('lots', 'bigint'), null);
  assert.equal(castLake(1e30, 'bigint'), null);
  assert.equal(castLake('2.5', 'decimal(38,6)'), '2.500000');
  assert.equal(castLake('abc', 'decimal(38,6)'), null);
  assert.equal(castLake(1.23456789, 'decimal(38,6)'), '1.234568');
  assert.equal(castLake('TRUE', 'boolean'), true);
  assert.equal(castLake(0, 'boolean'), false);
  assert.equal(castLake('yes', 'boolean'), null);
  assert.equal(castLake('2020-08-16T10:00:00+02:00', 'timestamp'), '2020-08-16 08:00:00.000');
  assert.equal(castLake('not a date', 'timestamp'), null);
  assert.equal(castLake(12, 'timestamp'), null);
});

test('reports: the seed\'s objects, field by field and in order', () => {
  const run = {
    workspaceId: 'P3IMS7SBDH', sourceId: '9IP56Shn6', runId: '1597581273464733073',
    startedAt: Date.UTC(2020, 7, 19, 22, 15, 59, 44), startedNanos: 84423, finishedAt: Date.UTC(2020, 7, 19, 22, 18, 12, 891),
    database: 'ios_prod', emrClusterId: 'j-3SXSUSDNPIS', s3Bucket: 'segment-datalakes-bucket',
  };
  const objects = successReport(run, [
    { table: 'track_order_completed', rows: 20020, partitions: [{ day: '2020-08-16', hr: '10' }, { day: '2020-08-16', hr: '11' }], newColumns: [{ name: 'properties_billing_address', type: 'string' }] },
    { table: 'track_product_added', rows: 20260, partitions: [{ day: '2020-08-16', hr: '10' }], newColumns: [] },
  ]);
  // The seed's successful example, as printed there (its source object's row_count, 81020, is not the sum of
  // the two event objects it shows; ours is the sum of the tables the run wrote).
  assert.deepEqual(objects[0], {
    type: 'source', workspace_id: 'P3IMS7SBDH', source_id: '9IP56Shn6', run_id: '1597581273464733073',
    start_time: '2020-08-19 22:15:59.044084423', finish_time: '2020-08-19 22:18:12.891', duration_mins: 2, status: 'finished',
    table_name: '', database: 'ios_prod', row_count: 40280, emr_cluster_id: 'j-3SXSUSDNPIS', s3_bucket: 'segment-datalakes-bucket',
  });
  assert.deepEqual(objects[1], {
    type: 'event', workspace_id: 'P3IMS7SBDH', source_id: '9IP56Shn6', run_id: '1597581273464733073',
    start_time: '2020-08-19 22:15:59.044084423', finish_time: '2020-08-19 22:18:12.891', duration_mins: 2, status: 'finished',
    table_name: 'track_order_completed', database: 'ios_prod',
    partitions: [{ day: '2020-08-16', hr: '10' }, { day: '2020-08-16', hr: '11' }],
    new_columns: [{ name: 'properties_billing_address', type: 'string' }],
    row_count: 20020, emr_cluster_id: 'j-3SXSUSDNPIS', s3_bucket: 'segment-datalakes-bucket',
  });
  assert.deepEqual(Object.keys(objects[0]!), SEED_SOURCE_KEYS);
  assert.deepEqual(Object.keys(objects[1]!), SEED_EVENT_KEYS);
  assert.deepEqual(Object.keys(objects[2]!), SEED_EVENT_KEYS_NO_NEW);
  // The seed's failed example: 20:04:58.368616813 → 20:49:48.308318686 is 44 minutes.
  const failed = failedReport({ ...run, runId: '1597867438900010296', startedAt: Date.UTC(2020, 7, 19, 20, 4, 58, 368), startedNanos: 616813, finishedAt: Date.UTC(2020, 7, 19, 20, 49, 48, 308), finishedNanos: 318686, s3Bucket: 'segment-datalakes-demo-stage' },
    'Data Lakes Destination has invalid configuration for "AWS Role ARN": field is required.', 'Segment.Internal');
  assert.deepEqual(failed, [{
    type: 'source', workspace_id: 'P3IMS7SBDH', source_id: '9IP56Shn6', run_id: '1597867438900010296',
    start_time: '2020-08-19 20:04:58.368616813', finish_time: '2020-08-19 20:49:48.308318686', duration_mins: 44, status: 'failed',
    error: 'Data Lakes Destination has invalid configuration for "AWS Role ARN": field is required.', error_code: 'Segment.Internal',
    table_name: '', database: 'ios_prod', emr_cluster_id: 'j-3SXSUSDNPIS', s3_bucket: 'segment-datalakes-demo-stage',
  }]);
  assert.deepEqual(Object.keys(failed[0]!), SEED_FAILED_KEYS);
});

test('loader: Parquet in Segment\'s layout, read back through the catalog with inferred types; reports and the seed\'s queries', async () => {
  const s = setup();
  const loader = s.make();
  try {
    const hour10 = Date.UTC(2026, 0, 5, 10, 30);
    const hour11 = Date.UTC(2026, 0, 5, 11, 5);
    s.lane.push(s.sourceId, { type: 'identify', userId: 'u1', traits: { email: 'u1@x.io', seats: 3, vip: true, signedUpAt: '2025-12-01T08:00:00Z' } }, hour10);
    s.lane.push(s.sourceId, { type: 'track', event: 'Checkout Started', userId: 'u1', properties: { revenue: 10, coupon: 'A' } }, hour10);
    s.lane.push(s.sourceId, { type: 'track', event: 'Checkout Started', userId: 'u2', properties: { revenue: 12.5 } }, hour11);
    s.lane.push(s.sourceId, { type: 'page', userId: 'u1', name: 'Home', properties: { path: '/' } }, hour11);
    await loader.syncNow();

    assert.deepEqual(s.parquetFiles().map((f) => f.replace(/part-[\d-]+\.snappy\.parquet$/, 'part.parquet')), [
      `segment-data/data/${s.sourceId}/segment_type=checkout_started/day=2026-01-05/hr=10/part.parquet`,
      `segment-data/data/${s.sourceId}/segment_type=checkout_started/day=2026-01-05/hr=11/part.parquet`,
      `segment-data/data/${s.sourceId}/segment_type=identify/day=2026-01-05/hr=10/part.parquet`,
      `segment-data/data/${s.sourceId}/segment_type=page/day=2026-01-05/hr=11/part.parquet`,
    ]);
    // Glue-like catalog: one database per source (the slug), a JSON file per table.
    const glue = JSON.parse(fs.readFileSync(path.join(s.paths.catalogDir, 'glue', 'ios_prod', 'checkout_started.json'), 'utf8'));
    assert.equal(glue.DatabaseName, 'ios_prod');
    assert.deepEqual(glue.PartitionKeys, [{ Name: 'day', Type: 'string' }, { Name: 'hr', Type: 'string' }]);
    const types = Object.fromEntries(glue.StorageDescriptor.Columns.map((c: { Name: string; Type: string }) => [c.Name, c.Type]));
    assert.equal(types.id, 'string');
    assert.equal(types.properties_revenue, 'decimal(38,6)'); // 10 and 12.5 seen together
    assert.equal(types.received_at, 'timestamp');
    assert.deepEqual(glue.Partitions.map((p: { Values: string[] }) => p.Values), [['2026-01-05', '10'], ['2026-01-05', '11']]);

    // DuckDB reads the lake through catalog.sql, with the types the catalog says.
    const init = s.catalog();
    const rows = await duck<{ id: string; properties_revenue: unknown; day: string; hr: string; event_text: string }>(
      'SELECT id, properties_revenue::DOUBLE AS properties_revenue, day, hr, event_text FROM ios_prod.checkout_started ORDER BY hr', init);
    assert.deepEqual(rows.map((r) => [r.properties_revenue, r.day, r.hr, r.event_text]), [[10, '2026-01-05', '10', 'Checkout Started'], [12.5, '2026-01-05', '11', 'Checkout Started']]);
    const described = await duck<{ column_name: string; column_type: string }>('DESCRIBE ios_prod.identify', init);
    const dt = Object.fromEntries(described.map((d) => [d.column_name, d.column_type]));
    assert.equal(dt.traits_seats, 'BIGINT');
    assert.equal(dt.traits_vip, 'BOOLEAN');
    assert.equal(dt.traits_signed_up_at, 'TIMESTAMP');
    assert.equal(dt.received_at, 'TIMESTAMP');
    assert.equal(dt.properties_revenue, undefined);

    // One report for the run: a source object and an event object per table, shaped as the seed's.
    const [report, ...none] = s.reports();
    assert.equal(none.length, 0);
    const runId = String(report!.objects[0]!.run_id);
    assert.equal(report!.key, reportKey(new Date().toISOString().slice(0, 10), s.sourceId, runId));
    const [src, ...events] = report!.objects;
    assert.deepEqual(Object.keys(src!), SEED_SOURCE_KEYS);
    assert.equal(src!.row_count, 4);
    assert.equal(src!.database, 'ios_prod');
    assert.equal(src!.workspace_id, 'P3IMS7SBDH');
    assert.equal(src!.s3_bucket, '');
    assert.deepEqual(events.map((e) => [e.table_name, e.row_count]), [['checkout_started', 2], ['identify', 1], ['page', 1]]);
    for (const e of events) assert.deepEqual(Object.keys(e), SEED_EVENT_KEYS);
    assert.deepEqual(events[0]!.partitions, [{ day: '2026-01-05', hr: '10' }, { day: '2026-01-05', hr: '11' }]);
    assert.ok((events[0]!.new_columns as { name: string }[]).some((c) => c.name === 'properties_coupon'));

    // Next sync: a duplicate messageId is dropped; a new property mid-stream is a new column; values are cast.
    const firstId = (await duck<{ id: string }>('SELECT id FROM ios_prod.identify', init))[0]!.id;
    s.lane.push(s.sourceId, { type: 'identify', messageId: firstId, userId: 'u1', traits: { email: 'again' } }, hour11);
    s.lane.push(s.sourceId, { type: 'identify', userId: 'u3', traits: { seats: 'lots', vip: 'true', plan: 'pro' } }, hour11);
    s.lane.push(s.sourceId, { type: 'identify', userId: 'u4', traits: { seats: 7.9, signedUpAt: 'yesterday' } }, hour11);
    await loader.syncNow();
    const init2 = s.catalog();
    const ids = await duck<{ user_id: string; traits_seats: bigint | null; traits_vip: boolean | null; traits_plan: string | null; traits_signed_up_at: unknown }>(
      'SELECT user_id, traits_seats, traits_vip, traits_plan, traits_signed_up_at FROM ios_prod.identify ORDER BY user_id', init2);
    assert.deepEqual(ids.map((r) => r.user_id), ['u1', 'u3', 'u4']); // the duplicate is not there
    assert.deepEqual(ids.map((r) => (r.traits_seats === null ? null : Number(r.traits_seats))), [3, null, 7]); // "lots" dropped, 7.9 → 7
    assert.deepEqual(ids.map((r) => r.traits_vip), [true, true, null]);
    assert.deepEqual(ids.map((r) => r.traits_plan), [null, 'pro', null]);
    assert.equal(ids[2]!.traits_signed_up_at, null);
    const second = s.reports()[1]!;
    const identifyEvent = second.objects.find((o) => o.table_name === 'identify')!;
    assert.equal(identifyEvent.row_count, 2);
    assert.deepEqual(identifyEvent.new_columns, [{ name: 'traits_plan', type: 'string' }]);

    // A failed run (the target refuses writes) writes a failed report; the events wait and load next time.
    const failing = s.make({
      store: { ...localStore(s.paths.catalogDir), async putFile() { throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }); } },
    });
    s.lane.push(s.sourceId, { type: 'track', event: 'Checkout Started', userId: 'u9', properties: { revenue: 1 } }, hour11);
    await failing.syncNow();
    const failedRun = s.reports()[2]!;
    assert.equal(failedRun.objects.length, 1);
    assert.deepEqual(Object.keys(failedRun.objects[0]!), SEED_FAILED_KEYS);
    assert.equal(failedRun.objects[0]!.status, 'failed');
    assert.equal(failedRun.objects[0]!.error_code, 'Segment.InsufficientPermissions');
    assert.match(String(failedRun.objects[0]!.error), /permission/);
    assert.equal(s.lane.queue.length, 1);
    await loader.syncNow();
    assert.equal(s.lane.queue.length, 0);

    // The seed's four queries, unchanged but for its typographic quotes, on __segment_datalake.sync_reports.
    const init3 = s.catalog();
    const perEvent = await duck(ascii(SEED_QUERIES.perEvent), init3);
    assert.deepEqual(perEvent.map((r) => Object.values(r).map((v) => (typeof v === 'bigint' ? Number(v) : v))), [[new Date().toISOString().slice(0, 10), 3]]);
    const perDay = await duck<Record<string, unknown>>(ascii(SEED_QUERIES.perDay), init3);
    const byTable = Object.fromEntries(perDay.map((r) => [r.table_name as string, Number(r['sum(row_count)'])]));
    assert.deepEqual(byTable, { checkout_started: 3, identify: 3, page: 1 });
    const last = await duck<Record<string, unknown>>(ascii(SEED_QUERIES.lastSuccess), init3);
    const finishes = s.reports().filter((r) => r.objects[0]!.status === 'finished').map((r) => String(r.objects[0]!.finish_time)).sort();
    assert.equal(last[0]!['max(finish_time)'], finishes[finishes.length - 1]);
    const failures = await duck<Record<string, unknown>>(ascii(SEED_QUERIES.failures), init3);
    assert.deepEqual(failures.map((r) => [r.run_id, r.status, r.error_code]), [[failedRun.objects[0]!.run_id, 'failed', 'Segment.InsufficientPermissions']]);
    assert.match(String(failures[0]!.error), /permission/);

    // Sync history (the warehouses' table, under datalake:<id>) holds every run.
    const history = s.history.list('datalake:lake');
    assert.deepEqual(history.map((h) => h.status), ['success', 'failed', 'success', 'success']);
    assert.equal(history[0]!.rows.checkout_started, 1);
  } finally {
    await loader.stop();
    s.cleanup();
  }
});

test('loader: a crash after the files are in place and before the commit neither duplicates nor loses', async () => {
  const s = setup();
  try {
    const crashing = s.make({ afterPut: async () => { throw new Error('simulated crash'); } });
    for (let i = 0; i < 5; i++) s.lane.push(s.sourceId, { type: 'track', event: 'Order Completed', userId: `u${i}`, properties: { n: i } });
    await crashing.syncNow();
    // The batch went back on the lane; what it had put in place was removed.
    assert.equal(s.lane.queue.length, 5);
    assert.deepEqual(s.parquetFiles(), []);
    // A real crash leaves the batch pending: recovery at the next run removes its objects first.
    const state = new LakeState(s.paths.stateFile);
    state.begin('ghost-0', ['segment-data/data/x/segment_type=ghost/day=2026-01-01/hr=00/part-ghost.parquet'], [[s.sourceId, 'ghost-id']], Date.now());
    state.close();
    fs.mkdirSync(path.join(s.paths.catalogDir, 'segment-data/data/x/segment_type=ghost/day=2026-01-01/hr=00'), { recursive: true });
    fs.writeFileSync(path.join(s.paths.catalogDir, 'segment-data/data/x/segment_type=ghost/day=2026-01-01/hr=00/part-ghost.parquet'), 'half');
    s.lane.push(s.sourceId, { type: 'track', event: 'Order Completed', messageId: 'ghost-id', userId: 'g' });
    const loader = s.make();
    await loader.syncNow();
    await loader.syncNow();
    await loader.stop();
    assert.ok(!s.parquetFiles().some((f) => f.includes('ghost')));
    const n = await duck<{ n: bigint; d: bigint }>('SELECT count(*) AS n, count(DISTINCT id) AS d FROM ios_prod.order_completed', s.catalog());
    assert.equal(Number(n[0]!.n), 6); // the 5 + the ghost's event (its messageId was forgotten with the batch)
    assert.equal(Number(n[0]!.d), 6);
  } finally {
    s.cleanup();
  }
});

test('loader: asked to stop mid-run, it ends after the batch in hand; the rest waits in the lane', async () => {
  const s = setup({ batchSize: 5 });
  try {
    for (let i = 0; i < 20; i++) s.lane.push(s.sourceId, { type: 'track', event: 'Order Completed', userId: `u${i}`, properties: { n: i } });
    let stopping: Promise<void> | undefined;
    const loader: LakeLoader = s.make({
      // The first batch's files are in place: the lease is lost.
      afterPut: async () => {
        stopping ??= loader.stop();
      },
    });
    await loader.syncNow();
    await stopping;
    assert.equal(s.lane.acked, 5, 'one batch was written and acknowledged');
    assert.equal(s.lane.queue.length, 15, 'the others were not read');
    const n = await duck<{ n: bigint }>('SELECT count(*) AS n FROM ios_prod.order_completed', s.catalog());
    assert.equal(Number(n[0]!.n), 5);
  } finally {
    s.cleanup();
  }
});

test('dedupe window: a messageId is a duplicate for 7 days after its sync, not after', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-lake-state-'));
  const state = new LakeState(path.join(dir, 's.db'));
  try {
    const t0 = Date.UTC(2026, 0, 1);
    state.begin('b', [], [['s', 'm1']], t0);
    state.commit('b', [], []);
    assert.equal(state.seen('s', 'm1', t0 + DEDUPE_WINDOW_MS - 1), true);
    assert.equal(state.seen('other', 'm1', t0), false);
    assert.equal(state.seen('s', 'm1', t0 + DEDUPE_WINDOW_MS + 1), false);
    assert.equal(state.prune(t0 + DEDUPE_WINDOW_MS + 1), 1);
  } finally {
    state.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('partitioning option year/month/day/hr: paths, catalog partition keys, report partitions', async () => {
  const s = setup({ partitioning: 'year/month/day/hr' });
  const loader = s.make();
  try {
    s.lane.push(s.sourceId, { type: 'group', groupId: 'g1', traits: { employees: 5 } }, Date.UTC(2026, 1, 3, 4, 5));
    await loader.syncNow();
    assert.match(s.parquetFiles()[0]!, new RegExp(`^segment-data/data/${s.sourceId}/segment_type=group/year=2026/month=02/day=03/hr=04/part-`));
    const rows = await duck<{ year: string; month: string; day: string; hr: string; traits_employees: bigint }>('SELECT year, month, day, hr, traits_employees FROM ios_prod."group"', s.catalog());
    assert.deepEqual(rows.map((r) => [r.year, r.month, r.day, r.hr, Number(r.traits_employees)]), [['2026', '02', '03', '04', 5]]);
    const event = s.reports()[0]!.objects[1]!;
    assert.deepEqual(event.partitions, [{ year: '2026', month: '02', day: '03', hr: '04' }]);
  } finally {
    await loader.stop();
    s.cleanup();
  }
});

test('errors are classified into the seed\'s three kinds', () => {
  const s3 = { kind: 's3' as const, bucket: 'b' };
  const http = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  assert.equal(classifyError(http('InvalidAccessKeyId', 403), s3).code, 'Segment.InsufficientPermissions');
  assert.equal(classifyError(http('AccessDenied', 403), s3).code, 'Segment.InsufficientPermissions');
  assert.equal(classifyError(http('NoSuchBucket', 404), s3).code, 'Segment.InvalidSettings');
  assert.equal(classifyError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), s3).code, 'Segment.Internal');
  assert.equal(classifyError(Object.assign(new Error('EACCES'), { code: 'EACCES' }), { kind: 'local', bucket: '' }).code, 'Segment.InsufficientPermissions');
});

test('workspace file: dataLakes resolve their sources; errors name their path', () => {
  const head = `workspace: { slug: acme }
sources:
  - { slug: web, id: src_web, writeKey: k1 }
  - { slug: ios, writeKey: k2 }
  - { slug: tv, writeKey: k3 }
`;
  const ok = parseWorkspaceFile(`${head}dataLakes:
  - { id: local, sources: [web], settings: { path: lake, partitioning: year/month/day } }
  - id: s3
    enabled: false
    sources: [ios]
    settings: { s3: { bucket: my-lake, region: eu-west-1, endpoint: "http://127.0.0.1:9000", accessKeyId: AK, secretAccessKey: SK, prefix: x }, syncIntervalSeconds: 7200 }
`, 'w.yaml', new Map());
  assert.ok(ok.ok, JSON.stringify(!ok.ok && ok.error));
  assert.deepEqual(ok.value.dataLakes, [
    { id: 'local', enabled: true, sourceIds: ['src_web'], settings: { path: 'lake', partitioning: 'year/month/day' } },
    { id: 's3', enabled: false, sourceIds: ['ios'], settings: { s3: { bucket: 'my-lake', region: 'eu-west-1', endpoint: 'http://127.0.0.1:9000', accessKeyId: 'AK', secretAccessKey: 'SK', prefix: 'x' }, syncIntervalSeconds: 7200 } },
  ]);
  const shape = parseWorkspaceFile(`${head}dataLakes:
  - { id: a, sources: [web], settings: { partitioning: week, colour: red, s3: { bucket: "Bad_Bucket", region: x, endpoint: "ftp://x" } } }
  - { sources: [] }
`, 'w.yaml', new Map());
  assert.ok(!shape.ok);
  assert.deepEqual(shape.error.map((e) => e.path).sort(), [
    'dataLakes[0].settings.colour', 'dataLakes[0].settings.partitioning', 'dataLakes[0].settings.s3.bucket', 'dataLakes[0].settings.s3.endpoint',
    'dataLakes[1].id', 'dataLakes[1].sources',
  ]);
  const refs = parseWorkspaceFile(`${head}dataLakes:
  - { id: a, sources: [web, nope, web] }
  - { id: a, sources: [src_web, tv], settings: { path: p, s3: { bucket: abc, region: r, accessKeyId: AK } } }
`, 'w.yaml', new Map());
  assert.ok(!refs.ok);
  const byPath = Object.fromEntries(refs.error.map((e) => [e.path, e.message]));
  assert.deepEqual(Object.keys(byPath).sort(), [
    'dataLakes[0].sources[1]', 'dataLakes[0].sources[2]', 'dataLakes[1].id', 'dataLakes[1].settings.s3', 'dataLakes[1].settings.s3.secretAccessKey', 'dataLakes[1].sources[0]',
  ]);
  assert.match(byPath['dataLakes[1].sources[0]']!, /one data lake/);
  assert.match(byPath['dataLakes[0].sources[1]']!, /unknown source "nope"/);
});
