import { randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { prepareEvents, type IngestFailure } from '../core/ingest.js';
import type { AppendRecord, EventLog } from '../log/types.js';
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

export interface IngestDeps {
  log: EventLog;
  stats: StatsRecorder;
  logger: Logger;
  sourceByWriteKey: (writeKey: string) => Source | undefined;
  /** False while free disk is under the threshold: answer 503 so clients retry later. */
  canAccept: () => boolean;
}

const OK = '{"success":true}';

/** The Tracking API: what Segment's libraries send, answered the way Segment answers. */
export function registerIngest(app: FastifyInstance, deps: IngestDeps): void {
  const { log, stats } = deps;
  const reject = (reply: FastifyReply, status: number, scope: string, reason: string, body: object) => {
    stats.count(scope, 'failed_ingest', 1, reason);
    return reply.code(status).type('application/json').send(JSON.stringify({ success: false, ...body }));
  };

  // A body over the limit is refused by fastify before the handler runs; count it
  // here so oversize requests show up under "failed on ingest" like every other refusal.
  const errorHandler = (err: Error & { code?: string; statusCode?: number }, req: FastifyRequest, reply: FastifyReply) => {
    if (err.code !== 'FST_ERR_CTP_BODY_TOO_LARGE') throw err;
    const key = writeKeyFromAuthorization(req.headers.authorization);
    const source = key === undefined ? undefined : deps.sourceByWriteKey(key);
    return reject(reply, 400, source ? `source:${source.id}` : 'ingest', 'request_too_large', {
      error: 'the request exceeds the 500KB limit',
      field: 'body',
      limit: '500KB per request',
    });
  };

  app.post<{ Params: { call: string } }>('/v1/:call', { bodyLimit: MAX_REQUEST_BYTES, errorHandler }, async (req, reply) => {
    const route = CALLS[req.params.call];
    if (!route) return reply.code(404).send({ success: false, error: `unknown Tracking API path /v1/${req.params.call}` });
    if (!deps.canAccept()) {
      return reject(reply, 503, 'ingest', 'storage_unavailable', { error: 'Switchyard cannot store events safely right now (disk nearly full); retry later' });
    }
    const headerKey = writeKeyFromAuthorization(req.headers.authorization);
    let source: Source | undefined;
    if (headerKey !== undefined) {
      source = deps.sourceByWriteKey(headerKey);
      if (!source) return reject(reply, 401, 'ingest', 'invalid_write_key', { error: 'invalid write key' });
    }
    const text = decodeBody(req);
    if (typeof text !== 'string') return reject(reply, 400, source ? `source:${source.id}` : 'ingest', text.reason, text.body);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      return reject(reply, 400, source ? `source:${source.id}` : 'ingest', 'malformed_json', {
        error: `malformed JSON: ${(err as Error).message}`,
        field: 'body',
      });
    }
    if (!source) {
      const bodyKey = (body as { writeKey?: unknown } | null)?.writeKey;
      if (typeof bodyKey !== 'string' || bodyKey === '') {
        return reject(reply, 401, 'ingest', 'missing_write_key', { error: 'missing write key: send it as the Basic auth username or as "writeKey" in the body' });
      }
      source = deps.sourceByWriteKey(bodyKey);
      if (!source) return reject(reply, 401, 'ingest', 'invalid_write_key', { error: 'invalid write key' });
    }
    const scope = `source:${source.id}`;
    if (!source.enabled) return reject(reply, 401, scope, 'source_disabled', { error: `source ${source.slug} is disabled` });

    const receivedAt = Date.now();
    const prepared = prepareEvents({
      body,
      call: route.call,
      channel: route.channel,
      receivedAt,
      ip: req.ip,
      maxProperties: MAX_PROPERTIES,
      newMessageId: randomUUID,
    });
    if (!prepared.ok) return reject(reply, 400, scope, prepared.error.reason, errorBody(prepared.error));
    const { events, droppedProperties } = prepared.value;
    const records: AppendRecord[] = new Array(events.length);
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      records[i] = { workspaceId: source.workspaceId, sourceId: source.id, messageId: e.messageId, payload: e.payload, receivedAt };
    }
    try {
      const outcome = await log.append(records);
      stats.count(scope, 'received', outcome.accepted);
      stats.count(scope, 'duplicate', outcome.duplicates);
      stats.count(scope, 'properties_dropped', droppedProperties);
    } catch (err) {
      deps.logger.error({ err, source: source.id }, 'event log append failed');
      return reject(reply, 503, scope, 'storage_unavailable', { error: 'the event log is unavailable; retry later' });
    }
    return reply.type('application/json').send(OK);
  });
}

function errorBody(e: IngestFailure): object {
  return e.limit ? { error: e.message, field: e.field, limit: e.limit } : { error: e.message, field: e.field };
}

/** Segment's libraries send `Authorization: Basic base64(writeKey + ":")`. */
function writeKeyFromAuthorization(header: string | undefined): string | undefined {
  if (!header || !header.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const key = colon === -1 ? decoded : decoded.slice(0, colon);
  return key === '' ? undefined : key;
}

type DecodeError = { reason: string; body: object };

function decodeBody(req: FastifyRequest): string | DecodeError {
  const raw = req.body;
  if (!Buffer.isBuffer(raw) || raw.length === 0) return { reason: 'empty_body', body: { error: 'the request body is empty', field: 'body' } };
  const encoding = req.headers['content-encoding'];
  if (!encoding || encoding === 'identity') return raw.toString('utf8');
  if (encoding !== 'gzip') {
    return { reason: 'unsupported_encoding', body: { error: `unsupported Content-Encoding "${encoding}"; use gzip or none`, field: 'content-encoding' } };
  }
  try {
    return gunzipSync(raw, { maxOutputLength: MAX_REQUEST_BYTES }).toString('utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      return { reason: 'request_too_large', body: { error: 'the decompressed request exceeds the 500KB limit', field: 'body', limit: '500KB per request' } };
    }
    return { reason: 'bad_gzip', body: { error: `the body is not valid gzip: ${(err as Error).message}`, field: 'body' } };
  }
}
