/**
 * The loader's direct path by shape, for the events that make most of a stream: track
 * events, pages, screens, identifies and groups. Building their rows in JavaScript
 * (flatten, name, cast, one value at a time into Maps) was most of a load. Here an
 * event's structure (its type, its event name for a track event, and the keys that
 * lead to scalars, in walk order) is named once, by shapeLeaves with the same walk and
 * names as rows.ts, and found again through a trie (EventShapes): per event,
 * JavaScript only parses the payload and collects its values. The engine writes them
 * as text lines while parsing and hands them to the target in bulk (`copyNew`:
 * PostgreSQL's COPY, DuckDB's CSV reader).
 *
 * An event takes this path only when the result is certain to be the row-by-row
 * path's: no two keys naming one column, ids and Segment's timestamps plain strings,
 * and after schema evolution every value already of its column's type (timestamps in
 * canonical ISO form). An array is a leaf whose value is its JSON, as rows.ts writes
 * it (Segment's e-commerce events carry `products`). Anything else (a value to cast
 * or discard, a key spelled two ways, a page named only in its properties) goes
 * through rows.ts, in the same transaction. The `users` and `accounts` rows of
 * identifies and groups (upserts) always do.
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

export interface ShapeLeaves {
  /** The row's table: the event's own for a track event (`Order Completed` → `order_completed`). */
  table: string;
  /** Columns every row of the event has, whatever its values: a track event's `event` and `event_text`. */
  consts: [string, string][];
  /** Root fields and context_*: for a track event, the columns of both its rows. */
  base: Leaf[];
  /** Properties or traits, as un-prefixed columns (of a track event's own table only). */
  props: Leaf[];
}

/** How rows.ts makes the row of one type of event. */
interface Kind {
  /** The row's table (a track event's is its event name's). */
  table: string | null;
  /** Root fields: [column, key]; messageId first. */
  roots: readonly (readonly [string, string])[];
  /** The object whose keys are un-prefixed columns. */
  custom: 'properties' | 'traits';
  /** Columns the call itself sets: a property named so is dropped (pages' and screens' name and category). */
  own: readonly string[];
  /** Whether the base scalars also make a `tracks` row. */
  aside: boolean;
  /** Whether rows.ts also makes an upsert row of the event (identify: `users`, group: `accounts`). */
  upserts: boolean;
}

const ROOT_FIELDS: readonly [string, string][] = [
  ['id', 'messageId'], ['anonymous_id', 'anonymousId'], ['user_id', 'userId'], ['received_at', 'receivedAt'],
  ['sent_at', 'sentAt'], ['timestamp', 'timestamp'], ['original_timestamp', 'originalTimestamp'],
];
const PAGE: Omit<Kind, 'table'> = { roots: [...ROOT_FIELDS, ['name', 'name'], ['category', 'category']], custom: 'properties', own: ['name', 'category'], aside: false, upserts: false };
const KINDS: ReadonlyMap<unknown, Kind> = new Map<unknown, Kind>([
  ['track', { table: null, roots: ROOT_FIELDS, custom: 'properties', own: [], aside: true, upserts: false }],
  ['page', { table: 'pages', ...PAGE }],
  ['screen', { table: 'screens', ...PAGE }],
  ['identify', { table: 'identifies', roots: ROOT_FIELDS, custom: 'traits', own: [], aside: false, upserts: true }],
  ['group', { table: 'groups', roots: [...ROOT_FIELDS, ['group_id', 'groupId']], custom: 'traits', own: [], aside: false, upserts: true }],
]);
/** The types of event that can take the direct path. */
export const SHAPED_TYPES: ReadonlySet<unknown> = new Set(KINDS.keys());
/** Columns rows.ts sets on every row besides the root fields. */
const ROW_COLUMNS = new Set(['uuid_ts', 'event', 'event_text']);

/** Root keys rows.ts reads as text (str): a number there is written as its text. */
const TEXT_KEYS = new Set(['userId', 'anonymousId', 'name', 'category', 'groupId']);

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * An event's leaves, or null when it must take the row-by-row path (see the module
 * comment). Names follow rows.ts: `context_*` flattened and cut to 63 characters,
 * properties and traits flattened, reserved columns dropped, sqlName applied.
 */
export function shapeLeaves(msg: Record<string, unknown>): ShapeLeaves | null {
  const kind = KINDS.get(msg.type);
  if (!kind) return null;
  let table = kind.table;
  const consts: [string, string][] = [];
  if (table === null) {
    const eventText = msg.event;
    if (typeof eventText !== 'string' || eventText === '') return null;
    table = eventTableName(eventText);
    if (table === '') return null;
    if (SEGMENT_TABLES.has(table) || table === DISCARDS_TABLE) table = `_${table}`;
    consts.push(['event', table], ['event_text', eventText]);
  }
  const base: Leaf[] = [];
  const columns = new Set<string>();
  for (const [column, key] of kind.roots) {
    const v = rootValue(key, msg[key]);
    if (v === undefined) continue;
    if (v === null) return null;
    base.push({ column, path: [key], value: v });
    columns.add(column);
  }
  if (!columns.has('id')) return null;
  const custom = msg[kind.custom];
  for (const column of kind.own) {
    // rows.ts names a page from its properties when the call has no name: that stays on the row path.
    if (!columns.has(column) && isObject(custom) && custom[column] !== undefined && custom[column] !== null) return null;
  }
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
  if (isObject(custom)) {
    const ok = walkFlat(custom, '', [kind.custom], (name, value, path) => {
      const column = customColumnName(name);
      if (column === null || kind.own.includes(column)) return true; // dropped, as customColumns and rows.ts drop it
      if (columns.has(column) || ROW_COLUMNS.has(column) || kind.roots.some(([c]) => c === column)) return false;
      columns.add(column);
      props.push({ column, path: path.slice(), value });
    });
    if (!ok) return null;
  }
  return { table, consts, base, props };
}

/**
 * A structure of event (its type, a track event's name, and the keys that lead to
 * scalars, in the order a walk meets them), with each scalar's column, computed once by
 * shapeLeaves. Most events of a stream share a handful of structures, so the
 * per-event work is a walk that collects values and follows a trie.
 */
export interface EventShape {
  table: string;
  /** Cells every row of the shape ends with before `uuid_ts` (ShapeLeaves.consts). */
  consts: [string, string][];
  /** The longest of the consts' values (a target with a varchar width must take it as it is). */
  widest: number;
  /** Whether the base scalars also make a `tracks` row (track events). */
  aside: boolean;
  /** Whether the event also has an upsert row, which rows.ts makes (identifies, groups). */
  upserts: boolean;
  /** Per scalar in walk order: its column, or null when rows.ts drops it (a reserved name). */
  columns: (string | null)[];
  /** Whether the scalar is a base column (ids, timestamps, context: a track event's `tracks` row has them). */
  base: boolean[];
  /** The type Segment's schema fixes for the column (timestamps, ids), if any. */
  fixed: (ColumnType | undefined)[];
}

interface TrieNode {
  scalar?: Map<string, TrieNode>;
  object?: Map<string, TrieNode>;
  close?: TrieNode;
  /** undefined: not built yet; null: events of this structure take the row path. */
  shape?: EventShape | null;
}

/**
 * A root field's value on this path, as rows.ts reads it: undefined when it gives no
 * value (absent, null, an empty string), the string to write, or null when the event
 * must take the row path (a number where a time belongs, an object, a boolean). A
 * number where rows.ts writes text (userId, anonymousId, a page's name) is written as
 * rows.ts writes it: String(v).
 */
function rootValue(key: string, v: unknown): string | null | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && TEXT_KEYS.has(key)) return String(v);
  return null;
}
/** Trie nodes kept at most (an event's keys are a node each, whether its walk ends in a shape or not). */
const MAX_NODES = 200_000;

/** Finds (or builds, once) the shape of each event. */
export class EventShapes {
  /** Track events' tries by event name, the other types' by type. */
  private tracks = new Map<string, TrieNode>();
  private typed = new Map<unknown, TrieNode>();
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
   * walk order (the message id first); null when it must take the row path (a type
   * without one, a non-string id or timestamp, a structure shapeLeaves refuses).
   */
  find(msg: Record<string, unknown>, values: (string | number | boolean)[]): EventShape | null {
    const kind = KINDS.get(msg.type);
    if (!kind) return null;
    if (this.nodes > MAX_NODES) {
      // A stream of ever-new keys: start over rather than grow without bound.
      this.tracks = new Map();
      this.typed = new Map();
      this.nodes = 0;
    }
    let node: TrieNode | undefined;
    if (kind.table === null) {
      const eventText = msg.event;
      if (typeof eventText !== 'string' || eventText === '') return null;
      node = this.tracks.get(eventText);
      if (!node) this.tracks.set(eventText, (node = {}));
    } else {
      node = this.typed.get(msg.type);
      if (!node) this.typed.set(msg.type, (node = {}));
    }
    values.length = 0;
    for (const [, key] of kind.roots) {
      const v = rootValue(key, msg[key]);
      if (v === undefined) continue;
      if (v === null) return null;
      const n: TrieNode = node;
      node = this.child(n.scalar, key, (m) => (n.scalar = m));
      values.push(v);
    }
    for (const key of ['context', kind.custom]) {
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
    if (node.shape === undefined) node.shape = buildShape(msg, kind);
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

/** The shape of `msg`'s structure: the scalars a walk meets, named by shapeLeaves. */
function buildShape(msg: Record<string, unknown>, kind: Kind): EventShape | null {
  const leaves = shapeLeaves(msg);
  if (!leaves) return null;
  const named = new Map<string, { leaf: Leaf; base: boolean }>();
  for (const l of leaves.base) named.set(JSON.stringify(l.path), { leaf: l, base: true });
  for (const l of leaves.props) named.set(JSON.stringify(l.path), { leaf: l, base: false });
  const shape: EventShape = {
    table: leaves.table, consts: leaves.consts, widest: Math.max(0, ...leaves.consts.map(([, v]) => v.length)), aside: kind.aside, upserts: kind.upserts,
    columns: [], base: [], fixed: [],
  };
  const visit = (path: string[]) => {
    const n = named.get(JSON.stringify(path));
    named.delete(JSON.stringify(path));
    shape.columns.push(n ? n.leaf.column : null);
    shape.base.push(n ? n.base : false);
    shape.fixed.push(n ? FIXED_TYPES.get(n.leaf.column) : undefined);
  };
  for (const [, key] of kind.roots) if (typeof rootValue(key, msg[key]) === 'string') visit([key]);
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
  for (const key of ['context', kind.custom]) if (isObject(msg[key])) walk(msg[key] as Record<string, unknown>, [key]);
  // Every column shapeLeaves named must have been met by the walk.
  return named.size === 0 ? shape : null;
}
