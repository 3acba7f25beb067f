import type { FastifyInstance } from 'fastify';
import type { SyncHistory } from '../storage/warehouse/history.js';
import type { SyncRecord, WarehouseConfig } from '../storage/warehouse/types.js';
import type { LakeApiDeps } from './lake-api.js';

/**
 * Warehouse sync history (seed: Warehouse Syncs → Sync History), health and an
 * on-demand sync under /api/v1, plus the read paths of the Public API's
 * `SelectiveSyncApi` (@segment/public-api-sdk-typescript):
 * `listSyncsFromWarehouse`, `listSyncsFromWarehouseAndSource`,
 * `listSelectiveSyncsFromWarehouseAndSource`. Warehouses come from the workspace
 * file, so the write paths (create, update selective sync, schedules) are not here yet.
 */
export interface WarehouseApiDeps {
  history: SyncHistory;
  /** The warehouses the workspace file declares (enabled ones). */
  warehouses: () => readonly WarehouseConfig[];
  syncNow: (id: string) => Promise<boolean>;
  /** Data lakes run on the same loader thread; their API is registered beside this one (lake-api.ts). */
  lakes?: LakeApiDeps;
}

export function registerWarehouseApi(app: FastifyInstance, deps: WarehouseApiDeps): void {
  const find = (id: string) => deps.warehouses().find((w) => w.id === id);
  const notFound = (id: string) => ({ errors: [{ type: 'not-found', message: `no warehouse "${id}"` }] });

  app.get<{ Params: { id: string }; Querystring: { sourceId?: string; limit?: string } }>('/api/v1/warehouses/:id/syncs', async (req, reply) => {
    if (!find(req.params.id)) return reply.code(404).send({ error: `no warehouse "${req.params.id}"` });
    const limit = Math.min(Math.max(Number(req.query.limit ?? 100) || 100, 1), 1000);
    return { data: { syncs: deps.history.list(req.params.id, { sourceId: req.query.sourceId, limit }) } };
  });
  // Health: rows synced per day and source over the last 30 days.
  app.get<{ Params: { id: string } }>('/api/v1/warehouses/:id/health', async (req, reply) => {
    if (!find(req.params.id)) return reply.code(404).send({ error: `no warehouse "${req.params.id}"` });
    const since = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()) - 29 * 86_400_000;
    return { data: { days: deps.history.health(req.params.id, since) } };
  });
  app.post<{ Params: { id: string } }>('/api/v1/warehouses/:id/sync', async (req, reply) => {
    if (!find(req.params.id)) return reply.code(404).send({ error: `no warehouse "${req.params.id}"` });
    const found = await deps.syncNow(req.params.id);
    if (!found) return reply.code(409).send({ error: `warehouse "${req.params.id}" is not running (disabled, or it could not be opened: see its syncs)` });
    return { data: { syncs: deps.history.list(req.params.id, { limit: 1 }) } };
  });

  // Public API (SelectiveSyncApi).
  // The SDK sends `pagination` as a deep object; accept `pagination.count` and `pagination[count]`.
  type SyncsQuery = Record<string, string | undefined>;
  const reports = (id: string, sourceId: string | undefined, q: SyncsQuery) => {
    const count = Math.min(Math.max(Number(q['pagination.count'] ?? q['pagination[count]'] ?? 10) || 10, 1), 100);
    const rows = deps.history.list(id, { sourceId, limit: count });
    return { data: { reports: rows.map(syncV1), pagination: { current: q['pagination.cursor'] ?? q['pagination[cursor]'] ?? 'MA==', next: null, totalEntries: rows.length } } };
  };
  app.get<{ Params: { warehouseId: string }; Querystring: SyncsQuery }>('/warehouses/:warehouseId/syncs', async (req, reply) =>
    find(req.params.warehouseId) ? reports(req.params.warehouseId, undefined, req.query) : reply.code(404).send(notFound(req.params.warehouseId)));
  app.get<{ Params: { warehouseId: string; sourceId: string }; Querystring: SyncsQuery }>(
    '/warehouses/:warehouseId/connected-sources/:sourceId/syncs',
    async (req, reply) => (find(req.params.warehouseId) ? reports(req.params.warehouseId, req.params.sourceId, req.query) : reply.code(404).send(notFound(req.params.warehouseId))),
  );
  app.get<{ Params: { warehouseId: string; sourceId: string } }>('/warehouses/:warehouseId/connected-sources/:sourceId/selective-syncs', async (req, reply) => {
    const w = find(req.params.warehouseId);
    if (!w) return reply.code(404).send(notFound(req.params.warehouseId));
    // The collections with an override, each with its property overrides (all else syncs).
    const items = new Map<string, { sourceId: string; collection: string; warehouseId: string; enabled: boolean; properties: Record<string, boolean> }>();
    for (const o of w.syncOverrides ?? []) {
      if (o.sourceId !== req.params.sourceId || !o.collection) continue;
      const item = items.get(o.collection) ?? { sourceId: o.sourceId, collection: o.collection, warehouseId: w.id, enabled: true, properties: {} };
      if (o.property) item.properties[o.property] = o.enabled;
      else item.enabled = o.enabled;
      items.set(o.collection, item);
    }
    return { data: { items: [...items.values()], pagination: { current: 'MA==', next: null, totalEntries: items.size } } };
  });
}

/** Sync history row → the Public API's SyncV1. */
function syncV1(r: SyncRecord) {
  const seconds = Math.max(0, (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000);
  return {
    sourceId: r.sourceId,
    start: r.startedAt,
    end: r.finishedAt,
    status: r.status === 'success' ? 'SUCCESS' : 'FAILED',
    duration: seconds,
    humanDuration: seconds < 60 ? `${seconds.toFixed(1)}s` : `${Math.floor(seconds / 60)}m ${Math.round(seconds % 60)}s`,
    count: Object.values(r.rows).reduce((a, b) => a + b, 0),
    notices: r.error ? [{ level: 'error', message: r.error, createdAt: r.finishedAt }] : [],
  };
}
