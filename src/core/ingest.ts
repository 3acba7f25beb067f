import { MAX_EVENT_BYTES } from '../protocol/limits.js';
import { enrichMessage } from '../protocol/normalize.js';
import { validateBatchBody, validateMessage } from '../protocol/validate.js';
import type { Channel, EventType, FieldError, JsonObject, Result } from '../protocol/types.js';

/**
 * Enrichment adds receivedAt, timestamp, originalTimestamp, messageId, channel
 * and context.ip to each event (about 200 bytes). The 32 KB limit is checked on the
 * stored event, so this allowance keeps an event the client measured at just
 * under 32 KB from being refused for what we added.
 */
export const ENRICHMENT_ALLOWANCE_BYTES = 1024;

export interface IngestInput {
  body: unknown;
  /** A single call type (`/v1/track`, `/v1/t`) or a batch (`/v1/batch`, `/v1/b`, `/v1/import`). */
  call: EventType | 'batch';
  channel: Channel;
  receivedAt: number;
  ip?: string;
  maxProperties: number;
  newMessageId: () => string;
}

/** How many events of one request share a type and name (track `event`, page/screen `name`), for Delivery Overview. */
export interface EventKind {
  type: string;
  name: string;
  n: number;
}

/**
 * One request's events in columns: `payloads[i]` (the enriched event, serialized
 * once: what the log stores and destinations receive) belongs to `messageIds[i]`.
 * Plain arrays of strings, not an object per event: the result crosses threads,
 * and cloning 100 small objects cost the HTTP thread more than the strings.
 */
export interface PreparedRequest {
  messageIds: string[];
  payloads: string[];
  kinds: EventKind[];
  droppedProperties: number;
}

/** The reason code counted under "Failed on ingest", and the error the client gets. */
export interface IngestFailure extends FieldError {
  reason: 'invalid_batch' | 'invalid_event' | 'event_too_large';
}

/**
 * Validates and enriches one request's events. A batch is all-or-nothing: one bad
 * event refuses the request with the path of the bad field (`batch[3].event`), so
 * the client learns what to fix, and nothing half-accepted needs explaining.
 */
export function prepareEvents(input: IngestInput): Result<PreparedRequest, IngestFailure> {
  let items: unknown[];
  let batch: { context?: JsonObject; integrations?: JsonObject; sentAt?: string } = {};
  let prefix: (i: number) => string;
  if (input.call === 'batch') {
    const body = validateBatchBody(input.body);
    if (!body.ok) return { ok: false, error: { ...body.error, reason: 'invalid_batch' } };
    items = body.value.batch;
    batch = body.value;
    prefix = (i) => `batch[${i}]`;
  } else {
    items = [input.body];
    prefix = () => 'body';
  }
  const messageIds: string[] = new Array(items.length);
  const payloads: string[] = new Array(items.length);
  const kinds: EventKind[] = [];
  let droppedProperties = 0;
  for (let i = 0; i < items.length; i++) {
    const field = prefix(i);
    const valid = validateMessage(items[i], field, input.call === 'batch' ? undefined : input.call);
    if (!valid.ok) return { ok: false, error: { ...valid.error, reason: 'invalid_event' } };
    const enriched = enrichMessage(valid.value, {
      receivedAt: input.receivedAt,
      sentAt: batch.sentAt,
      ip: input.ip,
      channel: input.channel,
      batchContext: batch.context,
      batchIntegrations: batch.integrations,
      maxProperties: input.maxProperties,
      newMessageId: input.newMessageId,
    });
    droppedProperties += enriched.droppedProperties;
    const payload = JSON.stringify(enriched.message);
    // Cheap bound first: a UTF-8 string is at most 3 bytes per UTF-16 unit.
    if (payload.length * 3 > MAX_EVENT_BYTES && Buffer.byteLength(payload) > MAX_EVENT_BYTES + ENRICHMENT_ALLOWANCE_BYTES) {
      return {
        ok: false,
        error: { field, message: `the event is ${Buffer.byteLength(payload)} bytes; the limit is 32KB per event`, limit: '32KB per event', reason: 'event_too_large' },
      };
    }
    const m = enriched.message;
    const name = (m.type === 'track' ? m.event : m.type === 'page' || m.type === 'screen' ? m.name : undefined) ?? '';
    messageIds[i] = m.messageId;
    payloads[i] = payload;
    countKind(kinds, m.type, name);
  }
  return { ok: true, value: { messageIds, payloads, kinds, droppedProperties } };
}

/** Batches usually hold a handful of kinds: a linear search beats a map. */
function countKind(kinds: EventKind[], type: string, name: string): void {
  for (let k = kinds.length - 1; k >= 0; k--) {
    const kind = kinds[k]!;
    if (kind.type === type && kind.name === name) {
      kind.n++;
      return;
    }
  }
  kinds.push({ type, name, n: 1 });
}
