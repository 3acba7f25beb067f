import { gunzipSync } from 'node:zlib';
import { MAX_REQUEST_BYTES } from '../protocol/limits.js';
import { PAYLOAD_SEPARATOR, type Channel, type EventType } from '../protocol/types.js';
import { prepareEvents, type PreparedRequest } from './ingest.js';

export interface BodyContext {
  call: EventType | 'batch';
  channel: Channel;
  receivedAt: number;
  ip?: string;
  maxProperties: number;
}

/** What one Tracking API request body turns into. Plain data: it crosses threads. */
export type BodyOutcome =
  | {
      kind: 'prepared';
      bodyWriteKey?: string;
      messageIds: string[];
      /** The enriched events, UTF-8, joined by `\n` (an AppendBatch's payloads). */
      payloads: Uint8Array;
      kinds: PreparedRequest['kinds'];
      droppedProperties: number;
      /** Kept only when asked (the source debugger): the events as sent, and as enriched, same order. */
      raw?: unknown[];
      enriched?: string[];
    }
  | {
      kind: 'refused';
      /** `body`: the bytes could not be read as JSON (no write key could be read from them either). */
      stage: 'body' | 'events';
      reason: string;
      error: { error: string; field?: string; limit?: string };
      bodyWriteKey?: string;
    };

/**
 * Decodes (gzip), parses and prepares one request body: every CPU-heavy step of
 * ingest, as one pure function so it can run on the request's thread or in the
 * ingest pool (large batches) with the same answers.
 */
export function ingestBody(
  raw: Uint8Array,
  encoding: string | undefined,
  ctx: BodyContext,
  newMessageId: () => string,
  keepRaw = false,
): BodyOutcome {
  if (raw.length === 0) return refusedBody('empty_body', { error: 'the request body is empty', field: 'body' });
  let text: string;
  if (!encoding || encoding === 'identity') {
    text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  } else if (encoding !== 'gzip') {
    return refusedBody('unsupported_encoding', { error: `unsupported Content-Encoding "${encoding}"; use gzip or none`, field: 'content-encoding' });
  } else {
    try {
      text = gunzipSync(raw, { maxOutputLength: MAX_REQUEST_BYTES }).toString('utf8');
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        return refusedBody('request_too_large', { error: 'the decompressed request exceeds the 500KB limit', field: 'body', limit: '500KB per request' });
      }
      return refusedBody('bad_gzip', { error: `the body is not valid gzip: ${(err as Error).message}`, field: 'body' });
    }
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return refusedBody('malformed_json', { error: `malformed JSON: ${(err as Error).message}`, field: 'body' });
  }
  const key = (body as { writeKey?: unknown } | null)?.writeKey;
  const bodyWriteKey = typeof key === 'string' && key !== '' ? key : undefined;
  const prepared = prepareEvents({ body, ...ctx, newMessageId });
  if (!prepared.ok) {
    const e = prepared.error;
    const error = e.limit ? { error: e.message, field: e.field, limit: e.limit } : { error: e.message, field: e.field };
    return { kind: 'refused', stage: 'events', reason: e.reason, error, bodyWriteKey };
  }
  const { messageIds, payloads, kinds, droppedProperties } = prepared.value;
  // One line per event (AppendBatch): JSON.stringify never emits a raw newline.
  const outcome: BodyOutcome = { kind: 'prepared', bodyWriteKey, messageIds, payloads: Buffer.from(payloads.join(PAYLOAD_SEPARATOR)), kinds, droppedProperties };
  if (!keepRaw) return outcome;
  return { ...outcome, raw: ctx.call === 'batch' ? (body as { batch: unknown[] }).batch : [body], enriched: payloads };
}

function refusedBody(reason: string, error: { error: string; field?: string; limit?: string }): BodyOutcome {
  return { kind: 'refused', stage: 'body', reason, error };
}
