import type Database from 'better-sqlite3';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Step } from '../observability/stats.js';
import { listOf, parseBracketQuery, type QueryObject } from './query.js';

/**
 * Delivery Overview in the Public API's shape (`DeliveryOverviewApi` of
 * @segment/public-api-sdk-typescript): one path per pipeline step, `sourceId`,
 * `destinationConfigId` (destination steps), `startTime`, `endTime`,
 * `granularity` (day | hour | minute), `groupBy` (eventName, eventType,
 * discardReason), `filter`, and `pagination` over the grouped datasets. Answers
 * `{data: {total, dataset: [{eventName?, eventType?, discardReason?, total,
 * totalRetryCount?, series: [{time, count, retryCount?}]}], pagination}}`.
 * Series hold the buckets that have events (empty buckets are left out).
 */
const STEPS: Record<string, { step: Step; destination: boolean }> = {
  'successfully-received': { step: 'successfully_received', destination: false },
  'failed-on-ingest': { step: 'failed_on_ingest', destination: false },
  'filtered-at-source': { step: 'filtered_at_source', destination: false },
  'filtered-at-destination': { step: 'filtered_at_destination', destination: true },
  'failed-delivery': { step: 'failed_delivery', destination: true },
  'successful-delivery': { step: 'successful_delivery', destination: true },
};
const GROUPS: Record<string, 'event_name' | 'event_type' | 'reason'> = { eventName: 'event_name', eventType: 'event_type', discardReason: 'reason' };
const BUCKET_MINUTES = { minute: 1, hour: 60, day: 1440 } as const;
const HISTORY_MS = 14 * 86_400_000;
const MAX_COUNT = 1000;

interface Row {
  bucket: number;
  event_type: string;
  event_name: string;
  reason: string;
  n: number;
  retries: number;
}

export function registerDeliveryOverview(app: FastifyInstance, deps: { statsDb: Database.Database }): void {
  const bad = (reply: FastifyReply, message: string, field: string) =>
    reply.code(400).send({ errors: [{ type: 'validation', message, field }] });

  app.get<{ Params: { step: string } }>('/delivery-overview/:step', async (req, reply) => {
    const route = STEPS[req.params.step];
    if (!route) return reply.code(404).send({ errors: [{ type: 'not-found', message: `unknown Delivery Overview step ${req.params.step}; one of ${Object.keys(STEPS).join(', ')}` }] });
    const q = parseBracketQuery(req.raw.url ?? '');
    const str = (k: string) => (typeof q[k] === 'string' ? (q[k] as string) : undefined);
    const sourceId = str('sourceId');
    if (!sourceId) return bad(reply, '"sourceId" is required', 'sourceId');
    const destinationId = str('destinationConfigId');
    if (route.destination && !destinationId) return bad(reply, `"destinationConfigId" is required for ${req.params.step}`, 'destinationConfigId');
    const window = timeWindow(q);
    if ('error' in window) return bad(reply, window.error, window.field);
    const { start, end, size } = window;
    const groupBy = listOf(q.groupBy);
    for (const g of groupBy) if (!(g in GROUPS)) return bad(reply, `"groupBy" takes ${Object.keys(GROUPS).join(', ')}; got "${g}"`, 'groupBy');
    const filter = (typeof q.filter === 'object' && !Array.isArray(q.filter) ? q.filter : {}) as QueryObject;
    for (const k of Object.keys(filter)) if (!(k in GROUPS)) return bad(reply, `"filter" takes ${Object.keys(GROUPS).join(', ')}; got "${k}"`, 'filter');
    const page = pageOf(q);
    if ('error' in page) return bad(reply, page.error, page.field);
    const { offset, count } = page;

    const where = ['step = ?', 'source_id = ?', 'destination_id = ?', 'minute >= ?', 'minute < ?'];
    const params: (string | number)[] = [route.step, sourceId, route.destination ? destinationId! : '', Math.floor(start / 60_000), Math.ceil(end / 60_000)];
    for (const [k, v] of Object.entries(filter)) {
      const values = listOf(v);
      if (values.length === 0) continue;
      where.push(`${GROUPS[k]} IN (${values.map(() => '?').join(', ')})`);
      params.push(...values);
    }
    const rows = deps.statsDb
      .prepare(
        `SELECT (minute / ${size}) * ${size} AS bucket, event_type, event_name, reason, SUM(count) AS n, SUM(retry_count) AS retries
           FROM step_counters WHERE ${where.join(' AND ')}
          GROUP BY bucket, event_type, event_name, reason ORDER BY bucket`,
      )
      .all(...params) as Row[];

    const datasets = new Map<string, { key: Record<string, string>; total: number; retries: number; series: Map<number, { count: number; retries: number }> }>();
    for (const r of rows) {
      const key: Record<string, string> = {};
      for (const g of groupBy) key[g] = r[GROUPS[g]!];
      const id = JSON.stringify(key);
      let d = datasets.get(id);
      if (!d) datasets.set(id, (d = { key, total: 0, retries: 0, series: new Map() }));
      d.total += r.n;
      d.retries += r.retries;
      const point = d.series.get(r.bucket) ?? { count: 0, retries: 0 };
      point.count += r.n;
      point.retries += r.retries;
      d.series.set(r.bucket, point);
    }
    const all = [...datasets.values()].sort((a, b) => b.total - a.total);
    const withRetries = route.step === 'successful_delivery';
    const dataset = all.slice(offset, offset + count).map((d) => ({
      ...d.key,
      total: d.total,
      ...(withRetries ? { totalRetryCount: d.retries } : {}),
      series: [...d.series].map(([bucket, p]) => ({
        time: new Date(bucket * 60_000).toISOString(),
        count: p.count,
        ...(withRetries ? { retryCount: p.retries } : {}),
      })),
    }));
    return { data: { total: all.reduce((s, d) => s + d.total, 0), dataset, pagination: pagination(offset, count, all.length) } };
  });
}

/**
 * `startTime`, `endTime` and `granularity` (day, hour or minute, in any case: Delivery
 * Overview's SDK sends them lower-case, EventsApi upper-case) of an observability query,
 * within the two weeks the step counters keep; `size` is the bucket in minutes.
 */
export function timeWindow(q: QueryObject): { start: number; end: number; size: number } | { error: string; field: string } {
  const str = (k: string) => (typeof q[k] === 'string' ? (q[k] as string) : undefined);
  const start = Date.parse(str('startTime') ?? '');
  const end = Date.parse(str('endTime') ?? '');
  if (Number.isNaN(start)) return { error: '"startTime" must be an ISO 8601 date-time', field: 'startTime' };
  if (Number.isNaN(end)) return { error: '"endTime" must be an ISO 8601 date-time', field: 'endTime' };
  if (end <= start) return { error: '"endTime" must be after "startTime"', field: 'endTime' };
  if (start < Date.now() - HISTORY_MS) return { error: 'figures are kept two weeks: "startTime" must be within the last 14 days', field: 'startTime' };
  const granularity = str('granularity')?.toLowerCase();
  if (!granularity || !(granularity in BUCKET_MINUTES)) return { error: '"granularity" must be day, hour or minute', field: 'granularity' };
  return { start, end, size: BUCKET_MINUTES[granularity as keyof typeof BUCKET_MINUTES] };
}

/** `pagination[count]` (1..1000, default 100) and `pagination[cursor]` (an offset this API gave). */
export function pageOf(q: QueryObject): { offset: number; count: number } | { error: string; field: string } {
  const page = (typeof q.pagination === 'object' && !Array.isArray(q.pagination) ? q.pagination : {}) as QueryObject;
  const count = page.count === undefined ? 100 : Number(page.count);
  if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT) return { error: `"pagination.count" must be 1..${MAX_COUNT}`, field: 'pagination.count' };
  const offset = typeof page.cursor === 'string' ? Number(Buffer.from(page.cursor, 'base64url').toString()) : 0;
  if (!Number.isInteger(offset) || offset < 0) return { error: '"pagination.cursor" is not a cursor this API gave', field: 'pagination.cursor' };
  return { offset, count };
}

/** Segment's pagination object for `count` entries from `offset` of `total`. */
export function pagination(offset: number, count: number, total: number) {
  const cursor = (n: number) => Buffer.from(String(n)).toString('base64url');
  return {
    current: cursor(offset),
    next: offset + count < total ? cursor(offset + count) : null,
    previous: offset > 0 ? cursor(Math.max(0, offset - count)) : null,
    totalEntries: total,
  };
}
