import type { FastifyInstance } from 'fastify';
import type { SyncHistory } from '../storage/warehouse/history.js';
import type { WarehouseConfig } from '../storage/warehouse/types.js';
import type { LakeApiDeps } from './lake-api.js';
import { apiError } from './public-api/http.js';

/**
 * Warehouse sync history (seed: Warehouse Syncs → Sync History), health and an
 * on-demand sync under /api/v1, for the warehouses the loader runs (the workspace
 * file's and the Public API's). The Public API paths (`WarehousesApi`,
 * `SelectiveSyncApi`) are in public-api/warehouses.ts.
 */
export interface WarehouseApiDeps {
  history: SyncHistory;
  /** The warehouses the loader runs (enabled ones, from the workspace file and the Public API). */
  warehouses: () => readonly WarehouseConfig[];
  syncNow: (id: string) => Promise<boolean>;
  /** Data lakes run on the same loader thread; their API is registered beside this one (lake-api.ts). */
  lakes?: LakeApiDeps;
}

export function registerWarehouseApi(app: FastifyInstance, deps: WarehouseApiDeps): void {
  const find = (id: string) => deps.warehouses().find((w) => w.id === id);

  app.get<{ Params: { id: string }; Querystring: { sourceId?: string; limit?: string } }>('/api/v1/warehouses/:id/syncs', async (req, reply) => {
    if (!find(req.params.id)) return apiError(reply, 404, 'not-found', `no warehouse "${req.params.id}" (or it is disabled)`);
    const limit = Math.min(Math.max(Number(req.query.limit ?? 100) || 100, 1), 1000);
    return { data: { syncs: deps.history.list(req.params.id, { sourceId: req.query.sourceId, limit }) } };
  });
  // Health: rows synced per day and source over the last 30 days.
  app.get<{ Params: { id: string } }>('/api/v1/warehouses/:id/health', async (req, reply) => {
    if (!find(req.params.id)) return apiError(reply, 404, 'not-found', `no warehouse "${req.params.id}" (or it is disabled)`);
    const since = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()) - 29 * 86_400_000;
    return { data: { days: deps.history.health(req.params.id, since) } };
  });
  app.post<{ Params: { id: string } }>('/api/v1/warehouses/:id/sync', async (req, reply) => {
    if (!find(req.params.id)) return apiError(reply, 404, 'not-found', `no warehouse "${req.params.id}" (or it is disabled)`);
    const found = await deps.syncNow(req.params.id);
    if (!found) return apiError(reply, 409, 'conflict', `warehouse "${req.params.id}" is not running (disabled, or it could not be opened: see its syncs)`);
    return { data: { syncs: deps.history.list(req.params.id, { limit: 1 }) } };
  });
}
