import { registerEventsVolume } from './events-volume-api.js';
import { mayRead } from './source-scope.js';
import type Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { deliveryStats, failureSamples, ingestStats } from '../observability/query.js';
import type { ControlPlaneStore } from '../store/types.js';
import type { LaneBacklog } from '../log/types.js';
import { registerCatalog } from './catalog-api.js';
import { registerAnalyticsJs } from './analytics-js.js';
import { registerFiltersApi } from './filters-api.js';
import { registerEventDelivery } from './event-delivery-api.js';
import { registerOverview } from './overview-api.js';
import { registerDeliveryOverview } from './delivery-overview-api.js';
import { snapshotOrNull } from './lookup.js';

const RANGES: Record<string, number> = { '10m': 600_000, '1h': 3_600_000, '24h': 86_400_000, '7d': 604_800_000, '14d': 1_209_600_000 };
const MAX_RANGE_MS = RANGES['14d']!;

export interface ApiDeps {
  store: ControlPlaneStore;
  statsDb: Database.Database;
  laneBacklog: (laneId: string) => LaneBacklog | null;
}

type Range = { from: number; to: number } | { error: string };

/** `range=10m|1h|24h|7d|14d` (default 24h), or `from`/`to` ISO dates within the last two weeks. */
function parseRange(q: { range?: string; from?: string; to?: string }, now: number): Range {
  if (q.from || q.to) {
    const from = Date.parse(q.from ?? '');
    const to = q.to ? Date.parse(q.to) : now;
    if (Number.isNaN(from) || Number.isNaN(to)) return { error: '"from" and "to" must be ISO 8601 dates' };
    if (to <= from) return { error: '"to" must be after "from"' };
    if (from < now - MAX_RANGE_MS) return { error: 'custom ranges must lie within the last 2 weeks' };
    return { from, to };
  }
  const span = RANGES[q.range ?? '24h'];
  if (!span) return { error: `"range" must be one of ${Object.keys(RANGES).join(', ')}` };
  return { from: now - span, to: now };
}

/**
 * Read-only operational endpoints until the Public API (issue #7) lands:
 * per-destination delivery figures and per-source ingest figures.
 */
export function registerApi(app: FastifyInstance, deps: ApiDeps): void {

  const snapshot = () => snapshotOrNull(deps.store);

  app.get<{ Params: { id: string }; Querystring: { range?: string; from?: string; to?: string } }>(
    '/api/v1/destinations/:id/delivery',
    async (req, reply) => {
      const destination = snapshot()?.destinations.find((d) => d.id === req.params.id);
      if (!destination) return reply.code(404).send({ errors: [{ type: 'not-found', message: `no destination ${req.params.id}` }] });
      const range = parseRange(req.query, Date.now());
      if ('error' in range) return reply.code(400).send({ errors: [{ type: 'validation', message: range.error, field: 'range' }] });
      const backlog = deps.laneBacklog(destination.id) ?? { pending: 0, retrying: 0 };
      return {
        data: {
          destination: { id: destination.id, name: destination.name, type: destination.type, enabled: destination.enabled },
          ...deliveryStats(deps.statsDb, `dest:${destination.id}`, range.from, range.to),
          retrying: backlog.retrying,
          backlog: backlog.pending,
          failures: failureSamples(deps.statsDb, `dest:${destination.id}`),
        },
      };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { range?: string; from?: string; to?: string } }>(
    '/api/v1/sources/:id/ingest',
    async (req, reply) => {
      const source = snapshot()?.sources.find((s) => s.id === req.params.id);
      if (!source) return reply.code(404).send({ errors: [{ type: 'not-found', message: `no source ${req.params.id}` }] });
      const range = parseRange(req.query, Date.now());
      if ('error' in range) return reply.code(400).send({ errors: [{ type: 'validation', message: range.error, field: 'range' }] });
      const unattributed = ingestStats(deps.statsDb, 'ingest', range.from, range.to);
      return {
        data: {
          source: { id: source.id, slug: source.slug },
          ...ingestStats(deps.statsDb, `source:${source.id}`, range.from, range.to),
          // Refusals before a write key identified a source (bad or missing key, disk full).
          unattributedFailures: unattributed.failedOnIngest,
        },
      };
    },
  );

  registerCatalog(app);
  registerAnalyticsJs(app);
  registerFiltersApi(app, { store: deps.store });
  registerEventDelivery(app, { store: deps.store, statsDb: deps.statsDb });
  registerOverview(app, { store: deps.store, statsDb: deps.statsDb, laneBacklog: deps.laneBacklog });
  registerDeliveryOverview(app, { statsDb: deps.statsDb });
  registerEventsVolume(app, { statsDb: deps.statsDb, store: deps.store });

  app.get('/api/v1/destinations', async (req) => {
    const snap = snapshot();
    return { data: { destinations: (snap?.destinations ?? []).filter((d) => mayRead(req.principal, d.sourceIds)).map((d) => ({ id: d.id, name: d.name, type: d.type, enabled: d.enabled, sourceIds: d.sourceIds })) } };
  });
}
