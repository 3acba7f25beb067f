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

export interface PreparedEvent {
  messageId: string;
  /** Type and name (track `event`, page/screen `name`), for Delivery Overview's breakdowns. */
  type: string;
  name?: string;
  /** The enriched event, serialized once: what the log stores and destinations receive. */
  payload: string;
}

export interface PreparedRequest {
  events: PreparedEvent[];
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
  const events: PreparedEvent[] = new Array(items.length);
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
    const name = m.type === 'track' ? m.event : m.type === 'page' || m.type === 'screen' ? m.name : undefined;
    events[i] = name === undefined ? { messageId: m.messageId, type: m.type, payload } : { messageId: m.messageId, type: m.type, name, payload };
  }
  return { ok: true, value: { events, droppedProperties } };
}
