/**
 * The Segment spec as types. This layer imports nothing from the project.
 * A message is what a Segment library sends for one call (identify, track, ...).
 */
/**
 * What joins a batch's serialized events (`AppendBatch.payloads`, the SQLite log's
 * segment files, the NATS log's splitting): `JSON.stringify` never emits a raw newline.
 */
export const PAYLOAD_SEPARATOR = '\n';

export const EVENT_TYPES = ['identify', 'track', 'page', 'screen', 'group', 'alias'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export type JsonObject = { [key: string]: unknown };

export type Channel = 'client' | 'server';

/** A message after validation and enrichment, as stored in the log and sent to destinations. */
export interface SegmentMessage extends JsonObject {
  type: EventType;
  messageId: string;
  userId?: string | null;
  anonymousId?: string | null;
  event?: string;
  name?: string;
  groupId?: string;
  previousId?: string;
  properties?: JsonObject;
  traits?: JsonObject;
  context?: JsonObject;
  integrations?: JsonObject;
  timestamp?: string;
  originalTimestamp?: string;
  sentAt?: string;
  receivedAt?: string;
  channel?: Channel;
}

/** A client error the Tracking API answers with 400/413: which field, which limit. */
export interface FieldError {
  /** JSON path of the bad field, e.g. `batch[3].event` or `body`. */
  field: string;
  message: string;
  /** Set when a size or count limit was exceeded, e.g. `32KB per event`. */
  limit?: string;
}

export type Result<T, E> = { ok: true; value: T } | { ok: false; error: E };
