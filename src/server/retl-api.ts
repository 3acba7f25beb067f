import type { FastifyInstance } from 'fastify';
import { canReadWorkspace, forbidden, isOwner, principalOf } from './public-api/access.js';
import { apiError } from './public-api/http.js';
import type { RetlHost } from './retl-host.js';

/**
 * Reverse ETL syncs (seed 001, "Manage Reverse ETL Syncs"): the sync history of a
 * model and *Sync now*. A model reads a whole warehouse query and writes to any
 * destination, so it belongs to the workspace, not to a source: workspace owners
 * and Workspace Read-only read, owners trigger.
 */
export function registerRetlApi(app: FastifyInstance, host: RetlHost): void {
  app.get('/api/v1/reverse-etl/models', async (req, reply) => {
    if (!canReadWorkspace(principalOf(req))) return forbidden(reply, 'reading Reverse ETL models');
    return { data: { models: host.models() } };
  });

  app.get<{ Params: { id: string }; Querystring: { limit?: string } }>('/api/v1/reverse-etl/models/:id/syncs', async (req, reply) => {
    if (!canReadWorkspace(principalOf(req))) return forbidden(reply, 'reading Reverse ETL syncs');
    if (!host.model(req.params.id)) return apiError(reply, 404, 'not-found', `no Reverse ETL model "${req.params.id}"`);
    const limit = Math.min(Math.max(Number(req.query.limit ?? 100) || 100, 1), 1000);
    return { data: { syncs: host.syncs(req.params.id, limit) } };
  });

  // Answers when the sync finished, with its history row (failed syncs too: the run happened).
  app.post<{ Params: { id: string } }>('/api/v1/reverse-etl/models/:id/syncs', async (req, reply) => {
    if (!isOwner(principalOf(req))) return forbidden(reply, 'starting Reverse ETL syncs (workspace owners only)');
    const result = await host.trigger(req.params.id);
    switch (result.kind) {
      case 'not-found': return apiError(reply, 404, 'not-found', `no Reverse ETL model "${req.params.id}"`);
      case 'disabled': return apiError(reply, 409, 'conflict', `Reverse ETL model "${req.params.id}" is disabled`);
      case 'running': return apiError(reply, 409, 'conflict', `a sync of Reverse ETL model "${req.params.id}" is already running`);
      case 'done': return { data: { sync: result.sync } };
    }
  });
}
