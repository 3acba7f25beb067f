/**
 * Validation of Tracking API payloads against the Segment spec.
 *
 * Runs once per event on the ingest hot path, so it reads the parsed JSON in
 * place and makes one shallow copy per message; nested objects are shared with
 * the input, never cloned. It stops at the first problem: a client that sends
 * a broken event gets one clear, user-facing reason naming the JSON path.
 *
 * Leniency, chosen for drop-in compatibility with real SDKs: JSON `null` counts
 * as "absent" for ids and optional scalars (analytics-python sends
 * `"name": null`, `"anonymousId": null`). Object fields (`properties`,
 * `traits`, `context`, `integrations`) must be real objects when present; null
 * there is rejected, since no official SDK sends it.
 */
import { EVENT_TYPES } from './types.js';
import type { EventType, FieldError, JsonObject, Result, SegmentMessage } from './types.js';

const EVENT_TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);
const OBJECT_FIELDS = ['properties', 'traits', 'context', 'integrations'] as const;
const DATE_FIELDS = ['timestamp', 'sentAt', 'originalTimestamp'] as const;

export function isPlainObject(value: unknown): value is JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Shallow copy of `a`, then `b`'s keys over it (b wins). Used instead of
 * `{ ...a, ...b }` on the hot path: in Node 20, adding a property to an object
 * made by spread costs microseconds (each clone gets a map that later
 * additions cannot share), while Object.assign copies cost tens of ns.
 * Object.assign would turn an own "__proto__" key (legal in JSON) into a
 * prototype change, so such objects take the spread path.
 */
export function copyObject(a: JsonObject, b?: JsonObject): JsonObject {
  if (Object.hasOwn(a, '__proto__') || (b !== undefined && Object.hasOwn(b, '__proto__'))) return { ...a, ...b };
  const out: JsonObject = Object.assign({}, a);
  return b === undefined ? out : Object.assign(out, b);
}

// Validation parses an event's `timestamp` and enrichment needs its value next:
// the last few strings parsed are remembered so each is parsed once (Date.parse
// is ~3% of batch ingest).
const DATE_MEMO = 4;
const memoKeys: string[] = new Array<string>(DATE_MEMO).fill('');
const memoMs: number[] = new Array<number>(DATE_MEMO).fill(Number.NaN);
let memoNext = 0;

/** Date.parse, remembering the last few strings. */
export function dateMs(value: string): number {
  for (let i = 0; i < DATE_MEMO; i++) if (memoKeys[i] === value) return memoMs[i]!;
  const ms = Date.parse(value);
  memoKeys[memoNext] = value;
  memoMs[memoNext] = ms;
  memoNext = (memoNext + 1) % DATE_MEMO;
  return ms;
}

/** A date Segment accepts: ISO 8601, or any date string Date.parse understands. */
export function isDateString(value: unknown): value is string {
  return typeof value === 'string' && !Number.isNaN(dateMs(value));
}

function fail(field: string, message: string): { ok: false; error: FieldError } {
  return { ok: false, error: { field, message } };
}

/** A short, safe rendering of a bad value for an error message. */
function preview(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : describe(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' || typeof value === 'undefined' ? `an ${typeof value}` : `a ${typeof value}`;
}

/**
 * Reads an identifier. Segment accepts numbers and stores them as strings.
 * Returns the usable string, null when absent or empty, false when the type is wrong.
 */
function readId(value: unknown): string | null | false {
  if (typeof value === 'string') return value.length > 0 ? value : null;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : false;
  if (value === undefined || value === null) return null;
  return false;
}

/** Per-type rules; each may write coerced values into the copy. */
type TypeRule = (msg: JsonObject, prefix: string) => FieldError | null;

function requireId(msg: JsonObject, key: string, prefix: string, message: string): FieldError | null {
  const id = readId(msg[key]);
  if (id === null || id === false) return { field: `${prefix}.${key}`, message };
  if (id !== msg[key]) msg[key] = id; // number -> string
  return null;
}

function optionalName(msg: JsonObject, prefix: string): FieldError | null {
  const name = msg.name;
  if (name === null) {
    delete msg.name; // keep SegmentMessage.name honest: string or absent
    return null;
  }
  if (name === undefined || typeof name === 'string') return null;
  return { field: `${prefix}.name`, message: `"name" must be a string when present, got ${describe(name)}` };
}

const TYPE_RULES: Record<EventType, TypeRule> = {
  identify: () => null,
  track: (msg, prefix) =>
    typeof msg.event === 'string' && msg.event.length > 0
      ? null
      : { field: `${prefix}.event`, message: 'track calls require a non-empty "event" string' },
  page: optionalName,
  screen: optionalName,
  group: (msg, prefix) =>
    requireId(msg, 'groupId', prefix, 'group calls require a non-empty "groupId" (string or number)'),
  alias: (msg, prefix) =>
    requireId(msg, 'previousId', prefix, 'alias calls require a non-empty "previousId" (string or number)') ??
    requireId(msg, 'userId', prefix, 'alias calls require a non-empty "userId" (string or number)'),
};

/**
 * Validates one message and returns a shallow copy with `type` set and numeric
 * ids converted to strings. `field` prefixes error paths (`body`, `batch[3]`).
 * `forcedType` comes from single-call endpoints (/v1/track ...): the endpoint
 * decides the type, whatever the body says.
 *
 * Note: `messageId` may still be missing on the result; enrichMessage fills it.
 */
export function validateMessage(
  raw: unknown,
  field: string,
  forcedType?: EventType,
): Result<SegmentMessage, FieldError> {
  if (!isPlainObject(raw)) return fail(field, `each message must be a JSON object, got ${describe(raw)}`);

  let type: EventType;
  if (forcedType !== undefined) {
    type = forcedType;
  } else if (typeof raw.type === 'string' && EVENT_TYPE_SET.has(raw.type)) {
    type = raw.type as EventType;
  } else {
    const got = raw.type === undefined ? 'it is missing' : `got ${preview(raw.type)}`;
    return fail(`${field}.type`, `"type" must be one of ${EVENT_TYPES.join(', ')} (${got})`);
  }

  const msg = copyObject(raw);
  msg.type = type;

  // Identity: one of the two ids is required for every call type.
  const userId = readId(raw.userId);
  if (userId === false) return fail(`${field}.userId`, `"userId" must be a string or a number, got ${describe(raw.userId)}`);
  const anonymousId = readId(raw.anonymousId);
  if (anonymousId === false) {
    return fail(`${field}.anonymousId`, `"anonymousId" must be a string or a number, got ${describe(raw.anonymousId)}`);
  }
  if (userId === null && anonymousId === null) {
    return fail(`${field}.userId`, 'every call requires a non-empty "userId" or "anonymousId"');
  }
  if (typeof raw.userId === 'number') msg.userId = userId;
  if (typeof raw.anonymousId === 'number') msg.anonymousId = anonymousId;

  const typeError = TYPE_RULES[type](msg, field);
  if (typeError !== null) return { ok: false, error: typeError };

  for (const key of OBJECT_FIELDS) {
    const value = raw[key];
    if (value !== undefined && !isPlainObject(value)) {
      return fail(`${field}.${key}`, `"${key}" must be a JSON object when present, got ${describe(value)}`);
    }
  }

  for (const key of DATE_FIELDS) {
    const value = raw[key];
    if (value === undefined) continue;
    if (value === null) {
      delete msg[key];
      continue;
    }
    if (!isDateString(value)) {
      return fail(`${field}.${key}`, `"${key}" must be an ISO 8601 date string, got ${preview(value)}`);
    }
  }

  if (raw.messageId === null) delete msg.messageId;
  else if (raw.messageId !== undefined && typeof raw.messageId !== 'string') {
    return fail(`${field}.messageId`, `"messageId" must be a string when present, got ${describe(raw.messageId)}`);
  }

  return { ok: true, value: msg as SegmentMessage };
}

export interface BatchBody {
  batch: unknown[];
  context?: JsonObject;
  integrations?: JsonObject;
  sentAt?: string;
}

/**
 * Validates the envelope of a /v1/batch body. Items are validated one by one
 * with validateMessage(item, `batch[${i}]`); the batch-level context,
 * integrations and sentAt are applied to every item by enrichMessage.
 */
export function validateBatchBody(raw: unknown): Result<BatchBody, FieldError> {
  if (!isPlainObject(raw)) return fail('body', `the request body must be a JSON object, got ${describe(raw)}`);
  const { batch, context, integrations, sentAt } = raw;
  if (!Array.isArray(batch)) {
    return fail('batch', `the body must contain a "batch" array of messages, got ${batch === undefined ? 'none' : describe(batch)}`);
  }
  const value: BatchBody = { batch };
  if (context !== undefined) {
    if (!isPlainObject(context)) return fail('context', `"context" must be a JSON object when present, got ${describe(context)}`);
    value.context = context;
  }
  if (integrations !== undefined) {
    if (!isPlainObject(integrations)) {
      return fail('integrations', `"integrations" must be a JSON object when present, got ${describe(integrations)}`);
    }
    value.integrations = integrations;
  }
  if (sentAt !== undefined && sentAt !== null) {
    if (!isDateString(sentAt)) return fail('sentAt', `"sentAt" must be an ISO 8601 date string, got ${preview(sentAt)}`);
    value.sentAt = sentAt;
  }
  return { ok: true, value };
}
