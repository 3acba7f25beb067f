import { flatten, snakecase, type FlatValue } from '../../protocol/warehouse-naming.js';
import { inferType } from '../warehouse/columns.js';
import type { LakeType } from './types.js';

/**
 * One Segment message → one Data Lakes row. Data Lakes "flatten the whole event"
 * (seed 001, comparing Data Lakes and Warehouses): every field becomes a column,
 * snake_cased with the warehouses' go-snakecase port, nested objects joined with
 * `_` (so `properties.billingAddress` → `properties_billing_address`, as the
 * seed's sync report shows), arrays as JSON strings, nulls create no column.
 * `messageId` is `id`, as in the warehouses; track calls keep `event` (the table
 * name) and `event_text` (the name as sent). The routing-only `integrations`
 * object and `writeKey` are left out.
 */
export interface LakeRow {
  /** The `segment_type` partition and the Glue table name. */
  segmentType: string;
  id: string;
  values: Map<string, FlatValue>;
}

/** One table per event type; track calls get one table per event name instead. */
export const TYPE_TABLES: ReadonlySet<string> = new Set(['identify', 'page', 'screen', 'group', 'alias', 'track']);

/**
 * `segment_type` of a track event: the name snake_cased (`Page Viewed` →
 * `page_viewed`, as in the seed's layout example). A name that maps to one of the
 * type tables, or starts with a digit, gets a leading `_`; one with no letters or
 * digits has no table ('' : the event is skipped).
 */
export function eventSegmentType(event: string): string {
  const name = snakecase(event);
  if (name === '') return '';
  return TYPE_TABLES.has(name) || /^[0-9]/.test(name) ? `_${name}` : name;
}

/** Columns whose type Segment fixes rather than infers. */
export const FIXED_LAKE_TYPES: ReadonlyMap<string, LakeType> = new Map([
  ['id', 'string'], ['anonymous_id', 'string'], ['user_id', 'string'], ['group_id', 'string'], ['previous_id', 'string'],
  ['event', 'string'], ['event_text', 'string'], ['type', 'string'], ['channel', 'string'],
  ['received_at', 'timestamp'], ['sent_at', 'timestamp'], ['timestamp', 'timestamp'], ['original_timestamp', 'timestamp'],
]);

export function lakeRowFor(message: Record<string, unknown>): LakeRow | null {
  const id = typeof message.messageId === 'string' ? message.messageId : '';
  if (!id) return null;
  let segmentType: string;
  switch (message.type) {
    case 'identify': case 'page': case 'screen': case 'group': case 'alias':
      segmentType = message.type;
      break;
    case 'track':
      segmentType = typeof message.event === 'string' ? eventSegmentType(message.event) : '';
      if (!segmentType) return null;
      break;
    default:
      return null;
  }
  const rest: Record<string, unknown> = { ...message };
  delete rest.messageId;
  delete rest.integrations;
  delete rest.writeKey;
  delete rest.event;
  const values = new Map<string, FlatValue>([['id', id]]);
  if (message.type === 'track') {
    values.set('event', segmentType);
    values.set('event_text', message.event as string);
  }
  for (const [k, v] of flatten(rest)) if (!values.has(k)) values.set(k, v);
  return { segmentType, id, values };
}

/**
 * The type of a new column from the group of values a sync sees (seed: "Data
 * Lakes is able to look at a group of events to infer the data type"): one kind →
 * that type; integers and decimals → decimal(38,6); anything else mixed → string.
 */
export function inferLakeType(values: readonly FlatValue[]): LakeType {
  let out: LakeType | null = null;
  for (const v of values) {
    if (v === null) continue;
    const w = inferType(v);
    const t: LakeType = w === 'double' ? 'decimal(38,6)' : w === 'varchar' ? 'string' : w;
    if (out === null || out === t) out = t;
    else if ((out === 'bigint' || out === 'decimal(38,6)') && (t === 'bigint' || t === 'decimal(38,6)')) out = 'decimal(38,6)';
    else return 'string';
  }
  return out ?? 'string';
}

/** What a value becomes in a column of type `t`: `null` = dropped (cannot be cast). */
export type LakeValue = string | number | boolean | bigint | null;

const NUMERIC = /^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/;
const INT64_MAX = 9223372036854775807n;

/**
 * The seed's casting rules ("Once Data Lakes sets a data type for a column, all
 * subsequent data will attempt to be cast into that data type"): a wider column
 * takes narrower data (an integer into decimal or string); a narrower one takes
 * what converts, losing precision as a Java cast does (3.9 into bigint → 3);
 * what cannot be cast at all (text into a number, a malformed date) is dropped.
 * Types of existing columns never change. Timestamps come back as UTC
 * `YYYY-MM-DD HH:MM:SS.fff`, decimals as their decimal text.
 */
export function castLake(v: FlatValue, t: LakeType): LakeValue {
  if (v === null) return null;
  switch (t) {
    case 'string':
      return typeof v === 'string' ? v : String(v);
    case 'bigint': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && NUMERIC.test(v) ? Number(v) : NaN;
      if (!Number.isFinite(n)) return null;
      const i = BigInt(Math.trunc(n));
      return i > INT64_MAX || i < -INT64_MAX - 1n ? null : i;
    }
    case 'decimal(38,6)': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && NUMERIC.test(v) ? Number(v) : NaN;
      // 38 digits with 6 after the point: at most 32 before it.
      if (!Number.isFinite(n) || Math.abs(n) >= 1e32) return null;
      return n.toFixed(6);
    }
    case 'boolean':
      if (typeof v === 'boolean') return v;
      if (typeof v === 'string' && /^(true|false)$/i.test(v.trim())) return v.trim().toLowerCase() === 'true';
      if (v === 1 || v === 0) return v === 1;
      return null;
    case 'timestamp': {
      if (typeof v !== 'string') return null;
      const ms = Date.parse(v);
      if (Number.isNaN(ms)) return null;
      const iso = new Date(ms).toISOString();
      return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
    }
  }
}

/** DuckDB's type for a lake type (Parquet: INT64, DECIMAL(38,6), BOOLEAN, UTF8 string, TIMESTAMP micros). */
export function duckType(t: LakeType): string {
  return { bigint: 'BIGINT', 'decimal(38,6)': 'DECIMAL(38,6)', boolean: 'BOOLEAN', string: 'VARCHAR', timestamp: 'TIMESTAMP' }[t];
}
