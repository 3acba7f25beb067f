/**
 * The loader's path for track events by shape. Track events are most of any event
 * stream, and building their rows in JavaScript (flatten, name, cast, one value at a
 * time into Maps) was most of a load. Here an event's structure (its name and the
 * keys that lead to scalars, in walk order) is named once, by trackLeaves with the
 * same walk and names as rows.ts, and found again through a trie (TrackShapes): per
 * event, JavaScript only parses the payload and collects its values. The engine
 * writes them as text lines while parsing and hands them to the target in bulk
 * (`copyNew`: PostgreSQL's COPY, DuckDB's CSV reader).
 *
 * An event takes this path only when the result is certain to be the row-by-row
 * path's: no two keys naming one column, ids and Segment's timestamps plain strings,
 * and after schema evolution every value already of its column's type (timestamps in
 * canonical ISO form). An array is a leaf whose value is its JSON, as rows.ts writes
 * it (Segment's e-commerce events carry `products`). Anything else (a value to cast
 * or discard, a key spelled two ways) goes through rows.ts, in the same transaction.
 */
import { contextColumnName, customColumnName, eventTableName, SEGMENT_TABLES, walkFlat } from '../../protocol/warehouse-naming.js';
import { DISCARDS_TABLE, FIXED_TYPES } from './rows.js';
import type { ColumnType } from './types.js';

/** A scalar of the event and where it sits in the payload. */
export interface Leaf {
  column: string;
  path: string[];
  value: string | number | boolean;
}

export interface TrackLeaves {
  /** The event's own table (`Order Completed` → `order_completed`). */
  table: string;
  /** Columns of both rows: ids, timestamps, context_*. */
  base: Leaf[];
  /** Properties, as columns of the event table only. */
  props: Leaf[];
}

const ROOT_FIELDS: readonly [string, string][] = [
  ['id', 'messageId'], ['anonymous_id', 'anonymousId'], ['user_id', 'userId'], ['received_at', 'receivedAt'],
  ['sent_at', 'sentAt'], ['timestamp', 'timestamp'], ['original_timestamp', 'originalTimestamp'],
];
const ROW_COLUMNS = new Set(['id', 'anonymous_id', 'user_id', 'received_at', 'sent_at', 'timestamp', 'original_timestamp', 'uuid_ts', 'event', 'event_text']);

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * A track event's leaves, or null when it must take the row-by-row path (see the
 * module comment). Names follow rows.ts: `context_*` flattened and cut to 63
 * characters, properties flattened, reserved columns dropped, sqlName applied.
 */
export function trackLeaves(msg: Record<string, unknown>): TrackLeaves | null {
  const eventText = msg.event;
  if (typeof eventText !== 'string' || eventText === '') return null;
  let table = eventTableName(eventText);
  if (table === '') return null;
  if (SEGMENT_TABLES.has(table) || table === DISCARDS_TABLE) table = `_${table}`;
  const base: Leaf[] = [];
  let hasId = false;
  for (const [column, key] of ROOT_FIELDS) {
    const v = rootValue(key, msg[key]);
    if (v === undefined) continue;
    if (v === null) return null;
    if (column === 'id') hasId = true;
    base.push({ column, path: [key], value: v });
  }
  if (!hasId) return null;
  const columns = new Set<string>();
  const ctx = msg.context;
  if (ctx !== undefined && ctx !== null) {
    if (!isObject(ctx)) return null;
    const ok = walkFlat(ctx, 'context', ['context'], (name, value, path) => {
      const column = contextColumnName(name);
      if (columns.has(column)) return false;
      columns.add(column);
      base.push({ column, path: path.slice(), value });
    });
    if (!ok) return null;
  }
  const props: Leaf[] = [];
  const p = msg.properties;
  if (isObject(p)) {
    const ok = walkFlat(p, '', ['properties'], (name, value, path) => {
      const column = customColumnName(name);
      if (column === null) return true; // dropped, as customColumns does
      if (columns.has(column) || ROW_COLUMNS.has(column)) return false;
      columns.add(column);
      props.push({ column, path: path.slice(), value });
    });
    if (!ok) return null;
  }
  return { table, base, props };
}

/**
 * A structure of track event (its event name and the keys that lead to scalars,
 * in the order a walk meets them), with each scalar's column, computed once by
 * trackLeaves. Most events of a stream share a handful of structures, so the
 * per-event work is a walk that collects values and follows a trie.
 */
export interface TrackShape {
  table: string;
  /** The event's name as sent (the `event_text` column); a shape is per name. */
  eventText: string;
  /** Per scalar in walk order: its column, or null when rows.ts drops it (a reserved name). */
  columns: (string | null)[];
  /** Whether the scalar is a column of both rows (ids, timestamps, context) or of the event table only. */
  base: boolean[];
  /** The type Segment's schema fixes for the column (timestamps, ids), if any. */
  fixed: (ColumnType | undefined)[];
}

interface TrieNode {
  scalar?: Map<string, TrieNode>;
  object?: Map<string, TrieNode>;
  close?: TrieNode;
  /** undefined: not built yet; null: events of this structure take the row path. */
  shape?: TrackShape | null;
}

const ROOT_KEYS = ROOT_FIELDS.map(([, key]) => key);

/**
 * A root field's value on this path, as rows.ts reads it: undefined when it gives no
 * value (absent, null, an empty string), the string to write, or null when the event
 * must take the row path (a number where a time belongs, an object, a boolean). A
 * numeric userId or anonymousId is written as rows.ts writes it: String(v).
 */
function rootValue(key: string, v: unknown): string | null | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && (key === 'userId' || key === 'anonymousId')) return String(v);
  return null;
}
/** Trie nodes kept at most (an event's keys are a node each, whether its walk ends in a shape or not). */
const MAX_NODES = 200_000;

/** Finds (or builds, once) the shape of each track event. */
export class TrackShapes {
  private roots = new Map<string, TrieNode>();
  private nodes = 0;

  /** The node after an object's last key. */
  private closeOf(n: TrieNode): TrieNode {
    if (!n.close) {
      n.close = {};
      this.nodes++;
    }
    return n.close;
  }

  private child(map: Map<string, TrieNode> | undefined, key: string, set: (m: Map<string, TrieNode>) => void): TrieNode {
    let m = map;
    if (!m) set((m = new Map()));
    let n = m.get(key);
    if (!n) {
      m.set(key, (n = {}));
      this.nodes++;
    }
    return n;
  }

  /**
   * The event's shape, with its scalars (arrays as their JSON) pushed onto `values` in
   * walk order; null when it must take the row path (a non-string id or timestamp, a
   * structure trackLeaves refuses).
   */
  find(msg: Record<string, unknown>, values: (string | number | boolean)[]): TrackShape | null {
    const eventText = msg.event;
    if (typeof eventText !== 'string' || eventText === '') return null;
    if (this.nodes > MAX_NODES) {
      // A stream of ever-new keys: start over rather than grow without bound.
      this.roots = new Map();
      this.nodes = 0;
    }
    let node = this.roots.get(eventText);
    if (!node) this.roots.set(eventText, (node = {}));
    values.length = 0;
    for (const key of ROOT_KEYS) {
      const v = rootValue(key, msg[key]);
      if (v === undefined) continue;
      if (v === null) return null;
      const n: TrieNode = node;
      node = this.child(n.scalar, key, (m) => (n.scalar = m));
      values.push(v);
    }
    for (const key of ['context', 'properties']) {
      const v = msg[key];
      if (v === undefined || v === null) continue;
      if (!isObject(v)) {
        if (key === 'context') return null;
        continue;
      }
      const n: TrieNode = node;
      const walked = this.walk(this.child(n.object, key, (m) => (n.object = m)), v, values);
      if (!walked) return null;
      node = this.closeOf(walked);
    }
    if (node.shape === undefined) node.shape = buildShape(msg);
    return node.shape;
  }

  private walk(node: TrieNode, obj: Record<string, unknown>, values: (string | number | boolean)[]): TrieNode | null {
    for (const key in obj) {
      if (!Object.hasOwn(obj, key)) continue;
      const v = obj[key];
      if (v === undefined || v === null) continue;
      const n: TrieNode = node;
      if (Array.isArray(v)) {
        // A leaf, as walkFlat makes it: its JSON.
        node = this.child(n.scalar, key, (m) => (n.scalar = m));
        values.push(JSON.stringify(v));
      } else if (typeof v === 'object') {
        const walked = this.walk(this.child(n.object, key, (m) => (n.object = m)), v as Record<string, unknown>, values);
        if (!walked) return null;
        node = this.closeOf(walked);
      } else {
        node = this.child(n.scalar, key, (m) => (n.scalar = m));
        values.push(v as string | number | boolean);
      }
    }
    return node;
  }
}

/** The shape of `msg`'s structure: the scalars a walk meets, named by trackLeaves. */
function buildShape(msg: Record<string, unknown>): TrackShape | null {
  const leaves = trackLeaves(msg);
  if (!leaves) return null;
  const named = new Map<string, { leaf: Leaf; base: boolean }>();
  for (const l of leaves.base) named.set(JSON.stringify(l.path), { leaf: l, base: true });
  for (const l of leaves.props) named.set(JSON.stringify(l.path), { leaf: l, base: false });
  const shape: TrackShape = { table: leaves.table, eventText: msg.event as string, columns: [], base: [], fixed: [] };
  const visit = (path: string[]) => {
    const n = named.get(JSON.stringify(path));
    named.delete(JSON.stringify(path));
    shape.columns.push(n ? n.leaf.column : null);
    shape.base.push(n ? n.base : false);
    shape.fixed.push(n ? FIXED_TYPES.get(n.leaf.column) : undefined);
  };
  for (const key of ROOT_KEYS) if (typeof rootValue(key, msg[key]) === 'string') visit([key]);
  const walk = (obj: Record<string, unknown>, path: string[]) => {
    for (const key in obj) {
      if (!Object.hasOwn(obj, key)) continue;
      const v = obj[key];
      if (v === undefined || v === null) continue;
      path.push(key);
      if (typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, path);
      else visit(path);
      path.pop();
    }
  };
  for (const key of ['context', 'properties']) if (isObject(msg[key])) walk(msg[key] as Record<string, unknown>, [key]);
  // Every column trackLeaves named must have been met by the walk.
  return named.size === 0 ? shape : null;
}
