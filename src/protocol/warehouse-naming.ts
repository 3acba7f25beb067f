/**
 * Segment's warehouse naming rules, as pure functions (issue #6, seed 001
 * "Warehouse Schemas"): collection and property names go camelCase → snake_case
 * with the go-snakecase algorithm, nested objects are flattened with `_`, arrays
 * are stored as JSON strings, properties that collide with a reserved column are
 * discarded, and names that are reserved SQL words get a leading `_` (as Segment
 * does for Redshift: `open` → `_open`).
 */

/**
 * Names are computed for every key of every event the loader sees, and the same few
 * keys come back all the time: remember the answers (bounded: cleared when full, so
 * a stream of ever-new keys costs memory only up to the bound).
 */
function memo(fn: (s: string) => string, max = 20_000): (s: string) => string {
  let cache = new Map<string, string>();
  return (s) => {
    let v = cache.get(s);
    if (v === undefined) {
      v = fn(s);
      if (cache.size >= max) cache = new Map();
      cache.set(s, v);
    }
    return v;
  };
}

/** A byte-for-byte port of github.com/segmentio/go-snakecase (ASCII only, as there). */
export const snakecase = memo(snakecaseOnce);

function snakecaseOnce(s: string): string {
  const isLower = (c: number) => c >= 97 && c <= 122;
  const isUpper = (c: number) => c >= 65 && c <= 90;
  const isDigit = (c: number) => c >= 48 && c <= 57;
  const isAlnum = (c: number) => isLower(c) || isUpper(c) || isDigit(c);
  const at = (i: number) => s.charCodeAt(i);
  let idx = 0;
  while (idx < s.length && (isLower(at(idx)) || isDigit(at(idx)) ||
    (at(idx) === 95 && idx < s.length - 1 && (isLower(at(idx + 1)) || isDigit(at(idx + 1)))))) idx++;
  if (idx === s.length) return s;
  // A digit followed by an uppercase letter starts a new word.
  if (idx > 0 && isDigit(at(idx - 1))) idx--;
  let out = s.slice(0, idx);
  while (idx < s.length) {
    if (!isAlnum(at(idx))) {
      idx++;
      continue;
    }
    if (out.length > 0) out += '_';
    while (idx < s.length && (isUpper(at(idx)) || isDigit(at(idx)))) out += s[idx++]!.toLowerCase();
    while (idx < s.length && (isLower(at(idx)) || isDigit(at(idx)))) out += s[idx++]!;
  }
  return out;
}

/**
 * Columns Segment writes itself; a property or trait with one of these names is
 * discarded (seed: "Segment discards properties with the same name as the
 * reserved column name (for example, user_id)"). `context_*` columns are
 * reserved as a family.
 */
export const RESERVED_COLUMNS: ReadonlySet<string> = new Set([
  'id', 'anonymous_id', 'user_id', 'group_id', 'previous_id', 'event', 'event_text',
  'received_at', 'sent_at', 'timestamp', 'original_timestamp', 'uuid', 'uuid_ts', 'loaded_at', 'channel',
]);

/**
 * Redshift's reserved words (the list Segment follows for every warehouse), plus a
 * few PostgreSQL/DuckDB ones. A name in this set gets a leading `_`.
 */
export const RESERVED_WORDS: ReadonlySet<string> = new Set(`aes128 aes256 all allowoverwrite analyse analyze and any array as asc
authorization az64 backup between binary blanksasnull both bytedict bzip2 case cast check collate column constraint create
credentials cross current_date current_time current_timestamp current_user current_user_id default deferrable deflate
defrag delta delta32k desc disable distinct do else emptyasnull enable encode encrypt encryption end except explicit false
for foreign freeze from full globaldict256 globaldict64k grant group gzip having identity ignore ilike in initially inner
intersect interval into is isnull join language leading left like limit localtime localtimestamp lun luns lzo lzop minus
mostly16 mostly32 mostly8 natural new not notnull null nulls off offline offset oid old on only open or order outer overlaps
parallel partition percent permissions pivot placing primary raw readratio recover references rejectlog resort respect
restore returning right select session_user similar snapshot some sysdate system table tag tdes text255 text32k then
timestamp to top trailing true truncatecolumns union unique unnest unpivot user using verbose wallet when where with without
qualify lateral window fetch`.split(/\s+/).filter(Boolean));

/** Postgres identifiers are at most 63 bytes; Redshift's 127. Keep the lower. */
export const MAX_IDENTIFIER_LENGTH = 63;

/** A column or table name: snake_case, reserved SQL words prefixed with `_`, never empty or digit-led. */
export const sqlName = memo(sqlNameOnce);

function sqlNameOnce(raw: string): string {
  let name = snakecase(raw);
  if (name === '') return '';
  if (/^[0-9]/.test(name)) name = `_${name}`;
  if (RESERVED_WORDS.has(name)) name = `_${name}`;
  return name.slice(0, MAX_IDENTIFIER_LENGTH);
}

/** Table name for a track event: `Order Completed` → `order_completed`; `Open` → `_open`. */
export function eventTableName(event: string): string {
  return sqlName(event);
}

/**
 * Tables Segment keeps for itself in every source schema: an event whose name
 * maps to one of them gets a `_` prefix rather than mixing rows into it.
 */
export const SEGMENT_TABLES: ReadonlySet<string> = new Set(['identifies', 'users', 'groups', 'accounts', 'pages', 'screens', 'tracks', 'aliases']);

/** Source slug → schema name (`web-prod` → `web_prod`). */
export function schemaName(sourceSlug: string): string {
  return sqlName(sourceSlug) || 'source';
}

export type FlatValue = string | number | boolean | null;

/**
 * Flattens an object into column → value: nested objects joined with `_`
 * (each key snake_cased), arrays as JSON strings, nulls skipped (Segment creates
 * a column only for a non-null value). Later keys that map to the same column
 * overwrite earlier ones, as a JSON object with duplicate keys would.
 */
export function flatten(value: Record<string, unknown>, prefix = '', out: Map<string, FlatValue> = new Map()): Map<string, FlatValue> {
  walkFlat(value, prefix, [], (name, v) => {
    out.set(name, v);
  });
  return out;
}

/**
 * The walk behind `flatten`, for callers that also need where each value sits:
 * `visit` gets the flattened name, the value (arrays already as JSON strings) and
 * the keys leading to it (a shared stack: copy it to keep it), and whether the
 * value was an array. Returning false stops the walk.
 */
export function walkFlat(
  value: Record<string, unknown>,
  prefix: string,
  path: string[],
  visit: (name: string, v: string | number | boolean, path: string[], array: boolean) => boolean | void,
): boolean {
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const v = value[key];
    const part = snakecase(key);
    if (part === '') continue;
    if (v === null || v === undefined) continue;
    const name = prefix ? `${prefix}_${part}` : part;
    path.push(key);
    let go: boolean | void = true;
    if (Array.isArray(v)) go = visit(name, JSON.stringify(v), path, true);
    else if (typeof v === 'object') go = walkFlat(v as Record<string, unknown>, name, path, visit);
    else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') go = visit(name, v, path, false);
    path.pop();
    if (go === false) return false;
  }
  return true;
}

/**
 * The column a flattened property or trait name goes to, or null when it is
 * discarded: it collides with a reserved column (or the `context_` family).
 */
export function customColumnName(flatName: string): string | null {
  return RESERVED_COLUMNS.has(flatName) || flatName.startsWith('context_') ? null : sqlName(flatName);
}

/** The column of a flattened `context_*` name (cut to the identifier limit). */
export function contextColumnName(flatName: string): string {
  return flatName.slice(0, MAX_IDENTIFIER_LENGTH);
}

/**
 * Properties or traits as un-prefixed columns: flattened, reserved columns
 * (and the `context_` family) dropped and reported, reserved words prefixed.
 */
export function customColumns(value: unknown): { columns: Map<string, FlatValue>; discarded: string[] } {
  const columns = new Map<string, FlatValue>();
  const discarded: string[] = [];
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { columns, discarded };
  for (const [name, v] of flatten(value as Record<string, unknown>)) {
    const column = customColumnName(name);
    if (column === null) discarded.push(name);
    else columns.set(column, v);
  }
  return { columns, discarded };
}

/** `context` flattened with the `context_` prefix (`context.library.name` → `context_library_name`). */
export function contextColumns(context: unknown): Map<string, FlatValue> {
  const out = new Map<string, FlatValue>();
  if (!context || typeof context !== 'object' || Array.isArray(context)) return out;
  for (const [name, v] of flatten(context as Record<string, unknown>, 'context')) out.set(contextColumnName(name), v);
  return out;
}
