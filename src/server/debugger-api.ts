import type { FastifyInstance } from 'fastify';
import type { DebuggerEntry, DebuggerFilter, SourceDebugger } from '../observability/debugger.js';
import type { ControlPlaneStore } from '../store/types.js';
import { findSource } from './lookup.js';

const HEARTBEAT_MS = 15_000;

/**
 * The source debugger over HTTP: `GET /api/v1/sources/:id/debugger/recent` (JSON,
 * newest first) and `GET /api/v1/sources/:id/debugger` (Server-Sent Events: one
 * `recent` event with the buffer, newest first, then an `event` per sampled event).
 * Both take `type` and `event` filters.
 */
export function registerDebugger(app: FastifyInstance, deps: { store: ControlPlaneStore; debugger: SourceDebugger }): void {
  const sourceExists = (id: string): boolean => findSource(deps.store, id) !== undefined;
  const view = (e: DebuggerEntry) => ({ ...e, enriched: JSON.parse(e.enriched) as unknown });

  app.get<{ Params: { id: string }; Querystring: DebuggerFilter & { limit?: string } }>('/api/v1/sources/:id/debugger/recent', async (req, reply) => {
    if (!sourceExists(req.params.id)) return reply.code(404).send({ errors: [{ type: 'not-found', message: `no source ${req.params.id}` }] });
    const limit = req.query.limit === undefined ? undefined : Number(req.query.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
      return reply.code(400).send({ errors: [{ type: 'validation', message: '"limit" must be a positive integer', field: 'limit' }] });
    }
    return { data: { events: deps.debugger.recent(req.params.id, filterOf(req.query), limit).map(view) } };
  });

  app.get<{ Params: { id: string }; Querystring: DebuggerFilter }>('/api/v1/sources/:id/debugger', async (req, reply) => {
    if (!sourceExists(req.params.id)) return reply.code(404).send({ errors: [{ type: 'not-found', message: `no source ${req.params.id}` }] });
    const filter = filterOf(req.query);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    send('recent', deps.debugger.recent(req.params.id, filter).map(view));
    const unsubscribe = deps.debugger.subscribe(req.params.id, filter, (e) => send('event', view(e)));
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    res.on('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
    });
  });
}

function filterOf(q: DebuggerFilter): DebuggerFilter {
  return { ...(q.type ? { type: q.type } : {}), ...(q.event ? { event: q.event } : {}) };
}
