import type { FastifyInstance, FastifyReply } from 'fastify';
import { previewFilter, validateFilter } from '../core/filters.js';
import type { SegmentMessage } from '../protocol/types.js';
import type { ControlPlaneStore, DestinationInstance, SavedFilter } from '../store/types.js';
import { findDestination } from './lookup.js';

/**
 * Destination filters in the Public API's shape (`DestinationFiltersApi`):
 * list and get (`/destination/:destinationId/filters[/:filterId]`), and the
 * stateless preview (`POST /destination/filters/preview` with `{filter: {if,
 * actions}, payload}` → `{inputPayload, result}`, `result` null when dropped).
 * Filters of destinations defined in the workspace file are edited in the file:
 * the file is the source of truth for what it defines, so writes here answer 409
 * saying so (the API owns only what the API creates; issue #7).
 */
export function registerFiltersApi(app: FastifyInstance, deps: { store: ControlPlaneStore }): void {
  const destination = (id: string): DestinationInstance | undefined => findDestination(deps.store, id);
  const notFound = (reply: FastifyReply, message: string) => reply.code(404).send({ errors: [{ type: 'not-found', message }] });
  const view = (f: SavedFilter) => ({
    id: f.id,
    sourceId: f.sourceId,
    destinationId: f.destinationId,
    if: f.if,
    actions: f.actions,
    title: f.title,
    ...(f.description === undefined ? {} : { description: f.description }),
    enabled: f.enabled,
    createdAt: new Date(f.savedAt).toISOString(),
    updatedAt: new Date(f.savedAt).toISOString(),
  });

  app.get<{ Params: { destinationId: string } }>('/destination/:destinationId/filters', async (req, reply) => {
    const d = destination(req.params.destinationId);
    if (!d) return notFound(reply, `no destination ${req.params.destinationId}`);
    return { data: { filters: d.filters.map(view), pagination: { current: 'MA==', next: null, previous: null, totalEntries: d.filters.length } } };
  });

  app.get<{ Params: { destinationId: string; filterId: string } }>('/destination/:destinationId/filters/:filterId', async (req, reply) => {
    const d = destination(req.params.destinationId);
    if (!d) return notFound(reply, `no destination ${req.params.destinationId}`);
    const f = d.filters.find((x) => x.id === req.params.filterId);
    if (!f) return notFound(reply, `no filter ${req.params.filterId} on destination ${d.id}`);
    return { data: { filter: view(f) } };
  });

  // Writes (create, update, delete) are in public-api/destinations.ts.

  app.post('/destination/filters/preview', async (req, reply) => {
    let body: { filter?: { if?: unknown; actions?: unknown }; payload?: unknown };
    try {
      body = JSON.parse(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '') as typeof body;
    } catch (err) {
      return reply.code(400).send({ errors: [{ type: 'validation', message: `malformed JSON: ${(err as Error).message}`, field: 'body' }] });
    }
    if (!body.payload || typeof body.payload !== 'object' || Array.isArray(body.payload)) {
      return reply.code(400).send({ errors: [{ type: 'validation', message: '"payload" must be an event object', field: 'payload' }] });
    }
    const checked = validateFilter(
      { id: 'preview', sourceId: 'preview', destinationId: 'preview', title: 'preview', enabled: true, ...(body.filter ?? {}) },
      'filter',
    );
    if (!checked.ok) return reply.code(400).send({ errors: checked.error.map((e) => ({ type: 'validation', message: e.message, field: e.field })) });
    const { result } = previewFilter(checked.value, body.payload as SegmentMessage);
    return { data: { inputPayload: body.payload, result: result.kind === 'keep' ? result.message : null } };
  });
}
