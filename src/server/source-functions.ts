import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { RequestFn } from '../core/request.js';
import { deployedFunction } from '../functions/deployed.js';
import type { EmittedMessage } from '../functions/types.js';
import type { ControlPlaneStore, Source } from '../store/types.js';
import type { Tracking } from './ingest.js';
import { snapshotOrNull } from './lookup.js';
import type { FunctionErrorLog } from './function-errors.js';
import { canReadFunctions, forbidden, principalOf } from './public-api/access.js';

/** Segment's limit on a source function's incoming webhook payload. */
export const MAX_SOURCE_FUNCTION_BODY = 512 * 1024;

export interface SourceFunctionDeps {
  store: ControlPlaneStore & { sourceByWriteKey(key: string): Source | undefined };
  tracking: Tracking;
  /** What the code's `fetch` goes through. */
  request: RequestFn;
  logger: Logger;
  /** The functions' Errors tabs (stats.db); absent: failures go to the server log only. */
  errors?: FunctionErrorLog;
}

/**
 * A source function's webhook: `POST /fn?b=<token>`, the token being the source's
 * write key in base64url (Segment's `https://fn.segmentapis.com/?b=...`). The
 * function's `onRequest(request, settings)` runs in its sandbox; the messages it
 * sends with `Segment.track()` and the like enter the source as one Tracking API
 * batch (validated, enriched, deduplicated and routed like any other), so a bad
 * message refuses the whole request and names its field.
 *
 * Answers: 200 `{success: true}`; a `RetryError` or a timeout is 503 with
 * Retry-After so the sender tries again (Segment retries these itself; here the
 * sender's own retries stand in); any other error is 400 with the error's name and
 * message. `Segment.set()` (objects for warehouses) is not supported: such calls
 * are counted in the answer and dropped.
 */
export function registerSourceFunctions(app: FastifyInstance, deps: SourceFunctionDeps): void {
  const findSource = (token: string | undefined): { source: Source; writeKey: string } | undefined => {
    if (!token) return undefined;
    const writeKey = Buffer.from(token, 'base64url').toString('utf8');
    const source = deps.store.sourceByWriteKey(writeKey);
    return source && { source, writeKey };
  };

  // The Errors tab: the latest 100 failures of a source function's webhooks, 30 days at most.
  app.get<{ Params: { functionId: string } }>('/api/v1/functions/:functionId/errors', async (req, reply) => {
    if (!canReadFunctions(principalOf(req))) return forbidden(reply, 'reading functions');
    const spec = snapshotOrNull(deps.store)?.functions.find((f) => f.id === req.params.functionId);
    if (!spec) return reply.code(404).send({ errors: [{ type: 'not-found', message: `no function ${req.params.functionId}`, status: 404 }] });
    return { data: { errors: (deps.errors?.list(spec.id) ?? []).map((e) => ({ ...e, at: new Date(e.at).toISOString() })) } };
  });

  app.post('/fn', { bodyLimit: MAX_SOURCE_FUNCTION_BODY }, async (req, reply) => {
    const token = (req.query as Record<string, string | undefined>).b;
    const found = findSource(token);
    if (!found) return reply.code(401).send({ success: false, error: 'unknown or missing source token (the b query parameter)' });
    const { source, writeKey } = found;
    if (!source.enabled) return reply.code(404).send({ success: false, error: `source ${source.id} is disabled` });
    const spec = snapshotOrNull(deps.store)?.functions.find((f) => f.id === source.metadataId && f.kind === 'SOURCE');
    if (!spec || !spec.deployed) return reply.code(404).send({ success: false, error: `source ${source.id} is not made from a deployed source function` });

    const body = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    const headers = Object.entries(req.headers).flatMap(([k, v]): [string, string][] => (v === undefined ? [] : [[k, Array.isArray(v) ? v.join(', ') : v]]));
    const url = `${req.protocol}://${req.headers.host ?? 'localhost'}${req.url}`;
    /** Kept with an error: the request without its token (the write key). */
    const kept = () => {
      const u = new URL(url);
      u.searchParams.delete('b');
      return { method: req.method, url: u.toString(), headers: Object.fromEntries(headers), body };
    };
    let fn;
    try {
      fn = await deployedFunction(spec, deps.request);
    } catch (err) {
      deps.logger.error({ err, source: source.id, function: spec.id }, 'the source function does not compile');
      const error = `the source function does not compile: ${(err as Error).message}`;
      deps.errors?.record({ functionId: spec.id, sourceId: source.id, kind: 'Error', error, logs: [], request: kept() });
      return reply.code(500).send({ success: false, error });
    }
    const r = await fn.invoke('onRequest', [{ url, method: req.method, headers, body }, source.settings]);
    if (!r.ok) {
      const error = `${r.error.name}: ${r.error.message}`;
      deps.logger.warn({ source: source.id, function: spec.id, kind: r.error.kind, error, logs: r.logs.length }, 'source function failed');
      deps.errors?.record({ functionId: spec.id, sourceId: source.id, kind: r.error.kind, error, logs: r.logs, request: kept() });
      if (r.error.kind === 'RetryError' || r.error.kind === 'Timeout' || r.error.kind === 'MemoryLimit') {
        return reply.code(503).header('retry-after', '60').send({ success: false, error, logs: r.logs });
      }
      return reply.code(400).send({ success: false, error, logs: r.logs });
    }
    const batch = r.emitted.filter((m) => m.type !== 'set').map(toMessage);
    const dropped = r.emitted.length - batch.length;
    if (batch.length === 0) return { success: true, events: 0, ...(dropped ? { droppedSetCalls: dropped } : {}) };
    const answer = await deps.tracking.handle({
      call: 'batch',
      headers: { authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`, 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify({ batch })),
      ip: req.ip,
    });
    if (answer.status !== 200) {
      const error = `the messages it sent were refused: ${answer.body}`;
      deps.errors?.record({ functionId: spec.id, sourceId: source.id, kind: 'InvalidEventPayload', error, logs: r.logs, request: kept() });
      return reply.code(answer.status).type('application/json').send(answer.body);
    }
    return { success: true, events: batch.length, ...(dropped ? { droppedSetCalls: dropped } : {}) };
  });
}

/** A `Segment.track({...})` call as a Tracking API message (the call's fields, with its type). */
function toMessage(m: EmittedMessage): Record<string, unknown> {
  return { ...m.fields, type: m.type };
}
