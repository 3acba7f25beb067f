import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ingestBody } from '../core/ingest-body.js';
import type { IngestPool } from './ingest-pool.js';
import type { SourceDebugger } from '../observability/debugger.js';
import type { EventLog } from '../log/types.js';
import type { StatsRecorder } from '../observability/stats.js';
import { MAX_PROPERTIES, MAX_REQUEST_BYTES } from '../protocol/limits.js';
import type { Channel, EventType } from '../protocol/types.js';
import type { Source } from '../store/types.js';

/** Path segment → call. One-letter paths are analytics.js's; they mark the `client` channel. */
const CALLS: Record<string, { call: EventType | 'batch'; channel: Channel }> = {
  identify: { call: 'identify', channel: 'server' },
  track: { call: 'track', channel: 'server' },
  page: { call: 'page', channel: 'server' },
  screen: { call: 'screen', channel: 'server' },
  group: { call: 'group', channel: 'server' },
  alias: { call: 'alias', channel: 'server' },
  batch: { call: 'batch', channel: 'server' },
  import: { call: 'batch', channel: 'server' },
  i: { call: 'identify', channel: 'client' },
  t: { call: 'track', channel: 'client' },
  p: { call: 'page', channel: 'client' },
  s: { call: 'screen', channel: 'client' },
  g: { call: 'group', channel: 'client' },
  a: { call: 'alias', channel: 'client' },
  b: { call: 'batch', channel: 'client' },
};

/** The CORS headers of every `/v1/...` answer: browsers (analytics.js) post from any origin, with credentials. */
export function trackingCors(origin: string | undefined): Record<string, string> {
  return { 'access-control-allow-origin': origin ?? '*', 'access-control-allow-credentials': 'true', vary: 'Origin' };
}

/** Whether `/v1/<call>` is a Tracking API path. */
export function isTrackingCall(call: string): boolean {
  return Object.hasOwn(CALLS, call);
}

export interface IngestDeps {
  log: EventLog;
  stats: StatsRecorder;
  logger: Logger;
  sourceByWriteKey: (writeKey: string) => Source | undefined;
  /** The live sample of what each source receives; absent: off. */
  debugger?: SourceDebugger;
  /** Threads for large bodies; absent: everything runs on the HTTP thread. */
  pool?: IngestPool;
  /** False while free disk is under the threshold: answer 503 so clients retry later. */
  canAccept: () => boolean;
}

/** What the Tracking API answers: a status and a JSON body. */
export interface TrackingAnswer {
  status: number;
  body: string;
}

/** One Tracking API request, whatever serves it (tracking-server.ts on sockets, the fastify route for inject). */
export interface TrackingRequest {
  /** The path segment after `/v1/` (a key of CALLS). */
  call: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The client's address (trusted proxies applied). */
  ip: string | undefined;
}

export interface Tracking {
  handle(req: TrackingRequest): Promise<TrackingAnswer>;
  /** The answer to a body over the 500 KB limit (refused before it is read), counted like every refusal. */
  tooLarge(headers: IncomingHttpHeaders): TrackingAnswer;
}

const OK: TrackingAnswer = { status: 200, body: '{"success":true}' };
const EMPTY = Buffer.alloc(0);
/** Bodies at least this large are prepared in the ingest pool (a 100-event batch is ~40 KB). */
const OFFLOAD_BYTES = 8 * 1024;
/** At most this many events of one request go to the debugger (it is a sample). */
const DEBUGGER_PER_REQUEST = 10;

/** The Tracking API: what Segment's libraries send, answered the way Segment answers. */
export function tracking(deps: IngestDeps): Tracking {
  const { log, stats } = deps;
  const reject = (status: number, scope: string, reason: string, body: object): TrackingAnswer => {
    stats.count(scope, 'failed_ingest', 1, reason);
    const sourceId = scope.startsWith('source:') ? scope.slice(7) : '';
    stats.step('failed_on_ingest', { sourceId, destinationId: '', eventType: '', eventName: '', reason });
    return { status, body: JSON.stringify({ success: false, ...body }) };
  };

  const handle = async (req: TrackingRequest): Promise<TrackingAnswer> => {
    const route = CALLS[req.call];
    if (!route) return { status: 404, body: JSON.stringify({ success: false, error: `unknown Tracking API path /v1/${req.call}` }) };
    if (!deps.canAccept()) {
      return reject(503, 'ingest', 'storage_unavailable', { error: 'Switchyard cannot store events safely right now (disk nearly full); retry later' });
    }
    const headerKey = writeKeyFromAuthorization(req.headers.authorization);
    let source: Source | undefined;
    if (headerKey !== undefined) {
      source = deps.sourceByWriteKey(headerKey);
      if (!source) return reject(401, 'ingest', 'invalid_write_key', { error: 'invalid write key' });
    }
    const receivedAt = Date.now();
    const raw = req.body;
    const encoding = req.headers['content-encoding'];
    const ctx = { call: route.call, channel: route.channel, receivedAt, ip: req.ip, maxProperties: MAX_PROPERTIES };
    // Large bodies go to the ingest pool, unless the source debugger wants a sample of
    // this source now: then the request stays here, where the raw events are at hand.
    const sampling = deps.debugger !== undefined && (source === undefined || deps.debugger.wants(source.id, receivedAt));
    const prepared =
      deps.pool && raw.length >= OFFLOAD_BYTES && !sampling
        ? await deps.pool.run(raw, encoding, ctx)
        : ingestBody(raw, encoding, ctx, randomUUID, sampling);
    if (!source) {
      // Without an Authorization header the write key is in the body (analytics.js):
      // a body that cannot be read cannot name its source.
      if (prepared.kind === 'refused' && prepared.stage === 'body') return reject(400, 'ingest', prepared.reason, prepared.error);
      if (prepared.bodyWriteKey === undefined) {
        return reject(401, 'ingest', 'missing_write_key', { error: 'missing write key: send it as the Basic auth username or as "writeKey" in the body' });
      }
      source = deps.sourceByWriteKey(prepared.bodyWriteKey);
      if (!source) return reject(401, 'ingest', 'invalid_write_key', { error: 'invalid write key' });
    }
    const scope = `source:${source.id}`;
    if (!source.enabled) return reject(401, scope, 'source_disabled', { error: `source ${source.slug} is disabled` });
    if (prepared.kind === 'refused') return reject(400, scope, prepared.reason, prepared.error);

    const { messageIds, payloads, kinds, droppedProperties } = prepared;
    try {
      const outcome = await log.appendBatch({ workspaceId: source.workspaceId, sourceId: source.id, receivedAt, messageIds, payloads });
      stats.count(scope, 'received', outcome.accepted);
      // One counter call per distinct (type, name) of the request, not per event.
      for (const k of kinds) stats.step('successfully_received', { sourceId: source.id, destinationId: '', eventType: k.type, eventName: k.name, reason: '' }, k.n);
      stats.count(scope, 'duplicate', outcome.duplicates);
      stats.count(scope, 'properties_dropped', droppedProperties);
    } catch (err) {
      deps.logger.error({ err, source: source.id }, 'event log append failed');
      return reject(503, scope, 'storage_unavailable', { error: 'the event log is unavailable; retry later' });
    }
    if (prepared.raw && prepared.enriched && deps.debugger) {
      const { raw, enriched } = prepared;
      const n = Math.min(DEBUGGER_PER_REQUEST, enriched.length);
      deps.debugger.record(source.id, receivedAt, Array.from({ length: n }, (_, i) => ({ raw: raw[i], enriched: enriched[i]!, messageId: messageIds[i]! })));
    }
    return OK;
  };

  // A body over the limit is refused before it is read; it is counted under "failed on
  // ingest" like every other refusal, under its source when the header names one.
  const tooLarge = (headers: IncomingHttpHeaders): TrackingAnswer => {
    const key = writeKeyFromAuthorization(headers.authorization);
    const source = key === undefined ? undefined : deps.sourceByWriteKey(key);
    return reject(400, source ? `source:${source.id}` : 'ingest', 'request_too_large', {
      error: 'the request exceeds the 500KB limit',
      field: 'body',
      limit: '500KB per request',
    });
  };
  return { handle, tooLarge };
}

/**
 * The Tracking API as a fastify route. Requests on sockets reach tracking-server.ts
 * first, which answers them without fastify (the same `Tracking`); this route serves
 * what reaches fastify itself (`app.inject`, a process whose server has no fast path).
 */
export function registerIngest(app: FastifyInstance, t: Tracking): void {
  const send = (reply: FastifyReply, a: TrackingAnswer) => reply.code(a.status).type('application/json').send(a.body);
  const errorHandler = (err: Error & { code?: string }, req: FastifyRequest, reply: FastifyReply) => {
    if (err.code !== 'FST_ERR_CTP_BODY_TOO_LARGE') throw err;
    return send(reply, t.tooLarge(req.headers));
  };
  app.post<{ Params: { call: string } }>('/v1/:call', { bodyLimit: MAX_REQUEST_BYTES, errorHandler }, async (req, reply) =>
    send(reply, await t.handle({ call: req.params.call, headers: req.headers, body: Buffer.isBuffer(req.body) ? req.body : EMPTY, ip: req.ip })));
}

/** Segment's libraries send `Authorization: Basic base64(writeKey + ":")`. */
function writeKeyFromAuthorization(header: string | undefined): string | undefined {
  if (!header || !header.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const key = colon === -1 ? decoded : decoded.slice(0, colon);
  return key === '' ? undefined : key;
}
