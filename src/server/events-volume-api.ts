import type Database from 'better-sqlite3';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ControlPlaneStore } from '../store/types.js';
import { pageOf, pagination, timeWindow } from './delivery-overview-api.js';
import { snapshotOrNull } from './lookup.js';
import { listOf, parseBracketQuery } from './query.js';
import { mayRead } from './source-scope.js';

/**
 * The workspace's event volume in the Public API's shape (`EventsApi.getEventsVolumeFromWorkspace`
 * of @segment/public-api-sdk-typescript): `GET /events/volume` with `granularity`
 * (DAY, HOUR, MINUTE), `startTime` (inclusive), `endTime` (exclusive), `groupBy`
 * (eventName, eventType, source), filters `sourceId`, `eventName`, `eventType`, and
 * `pagination` over the result's series (ordered by total, largest first). Counts are
 * Delivery Overview's "successfully received" (events accepted and stored), kept two weeks. Every bucket of the window is in each series, zeros
 * included. `appVersion` is refused: Switchyard does not count by app version. A role
 * scoped to some sources counts only theirs (source-scope.ts).
 */
const GROUPS = ['eventName', 'eventType', 'source'] as const;
/** Buckets at most per series (two weeks by minute is 20,160: ask for hours). */
const MAX_BUCKETS = 10_080;

interface Row { bucket: number; source_id: string; event_type: string; event_name: string; n: number }

export function registerEventsVolume(app: FastifyInstance, deps: { statsDb: Database.Database; store: ControlPlaneStore }): void {
  const bad = (reply: FastifyReply, message: string, field: string) => reply.code(400).send({ errors: [{ type: 'validation', message, field, status: 400 }] });

  app.get('/events/volume', async (req, reply) => {
    const q = parseBracketQuery(req.raw.url ?? '');
    const window = timeWindow(q);
    if ('error' in window) return bad(reply, window.error, window.field);
    const { start, end, size } = window;
    const first = Math.floor(start / 60_000 / size) * size;
    const buckets = Math.ceil((end / 60_000 - first) / size);
    if (buckets > MAX_BUCKETS) return bad(reply, `the window holds ${buckets} buckets of this granularity; at most ${MAX_BUCKETS}: choose a coarser granularity or a shorter window`, 'granularity');
    const groupBy = listOf(q.groupBy).flatMap((g) => g.split(',')).map((g) => g.trim()).filter(Boolean);
    for (const g of groupBy) if (!(GROUPS as readonly string[]).includes(g)) return bad(reply, `"groupBy" takes ${GROUPS.join(', ')}; got "${g}"`, 'groupBy');
    if (listOf(q.appVersion).length > 0) return bad(reply, 'Switchyard does not count events by app version: leave "appVersion" out', 'appVersion');
    const page = pageOf(q);
    if ('error' in page) return bad(reply, page.error, page.field);

    const snap = snapshotOrNull(deps.store);
    const known = new Map((snap?.sources ?? []).filter((s) => mayRead(req.principal, [s.id])).map((s) => [s.id, s]));
    const sourceIds = listOf(q.sourceId);
    for (const id of sourceIds) {
      if (!known.has(id)) return reply.code(404).send({ errors: [{ type: 'not-found', message: `no source ${id} among the sources your role covers`, field: 'sourceId', status: 404 }] });
    }
    // The query as understood, as Segment echoes it.
    const lists = Object.fromEntries((['sourceId', 'eventName', 'eventType'] as const).map((k) => [k, listOf(q[k])]).filter(([, v]) => v.length > 0));
    const echo = {
      workspaceId: snap?.workspace.id ?? '',
      granularity: String(q.granularity).toUpperCase(),
      startTime: new Date(start).toISOString(),
      endTime: new Date(end).toISOString(),
      ...(groupBy.length > 0 ? { groupBy } : {}),
      ...lists,
    };
    const where = ["step = 'successfully_received'", "destination_id = ''", 'minute >= ?', 'minute < ?'];
    const params: (string | number)[] = [Math.floor(start / 60_000), Math.ceil(end / 60_000)];
    const scope = sourceIds.length > 0 ? sourceIds : [...known.keys()];
    if (scope.length === 0) return { data: { path: '/events/volume', query: echo, result: [], pagination: pagination(0, page.count, 0) } };
    where.push(`source_id IN (${scope.map(() => '?').join(', ')})`);
    params.push(...scope);
    for (const [key, column] of [['eventName', 'event_name'], ['eventType', 'event_type']] as const) {
      const values = listOf(q[key]);
      if (values.length === 0) continue;
      // Types are stored as the Tracking API names them (track); Segment's examples write them in any case.
      where.push(key === 'eventType' ? `lower(${column}) IN (${values.map(() => 'lower(?)').join(', ')})` : `${column} IN (${values.map(() => '?').join(', ')})`);
      params.push(...values);
    }
    const rows = deps.statsDb.prepare(
      `SELECT (minute / ${size}) * ${size} AS bucket, source_id, event_type, event_name, SUM(count) AS n
         FROM step_counters WHERE ${where.join(' AND ')} GROUP BY bucket, source_id, event_type, event_name`,
    ).all(...params) as Row[];

    const series = new Map<string, { key: Record<string, unknown>; total: number; counts: number[] }>();
    for (const r of rows) {
      const key: Record<string, unknown> = {};
      if (groupBy.includes('source')) {
        const s = known.get(r.source_id);
        key.source = { id: r.source_id, ...(s ? { slug: s.slug, name: s.name } : {}) };
      }
      if (groupBy.includes('eventName')) key.eventName = r.event_name;
      if (groupBy.includes('eventType')) key.eventType = r.event_type;
      const id = JSON.stringify(key);
      let entry = series.get(id);
      if (!entry) series.set(id, (entry = { key, total: 0, counts: new Array<number>(buckets).fill(0) }));
      entry.total += r.n;
      entry.counts[(r.bucket - first) / size]! += r.n;
    }
    const all = [...series.values()].sort((a, b) => b.total - a.total);
    const result = all.slice(page.offset, page.offset + page.count).map((e) => ({
      ...e.key,
      total: e.total,
      series: e.counts.map((count, i) => ({ time: new Date((first + i * size) * 60_000).toISOString(), count })),
    }));
    return { data: { path: '/events/volume', query: echo, result, pagination: pagination(page.offset, page.count, all.length) } };
  });
}
