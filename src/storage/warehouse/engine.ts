import type { FlatValue } from '../../protocol/warehouse-naming.js';
import { schemaName } from '../../protocol/warehouse-naming.js';
import { castTo, inferType, widen } from './columns.js';
import { fieldSql, JsonSpec, readType, TrackShapes, type TrackShape } from './json-load.js';
import { DISCARDS_TABLE, FIXED_TYPES, rowsFor, type WarehouseRow } from './rows.js';
import type { ColumnType, Dialect, LoaderMessage, WarehouseConfig } from './types.js';

/**
 * Loads one batch of log messages into a warehouse, the same way for every
 * dialect:
 * 1. `prepare` (JavaScript only): track events → their shape and values
 *    (json-load.ts), other messages → rows per (schema, table) (rows.ts);
 * 2. `write`: schema evolution (tables and columns created when first seen,
 *    bigint columns widened to double when a float arrives; the DDL runs before the
 *    data transaction: it is idempotent, and DuckDB refuses some ALTERs inside one);
 *    track events whose values do not fit their columns as they are join the rows;
 * 3. one transaction for every table of the batch: rows go in with
 *    `INSERT ... WHERE NOT EXISTS (same id)`, track events by the dialect's bulk path
 *    (with the same id check), users/accounts are upserted keeping the latest
 *    non-null traits, uncastable values go to `discards`.
 * The caller acknowledges the batch on the log only after this resolves: a crash
 * before the commit loads nothing, a crash after it re-loads rows that the id check
 * skips, so no row is ever missing or duplicated.
 */
export interface LoadResult {
  /** Rows inserted (or upserted) per source id, per table. */
  rows: Map<string, Record<string, number>>;
}

interface TablePlan {
  schema: string;
  table: string;
  upsert: boolean;
  rows: WarehouseRow[];
}

/** A batch after its JavaScript half (WarehouseEngine.prepare), ready to write. */
export interface PreparedLoad {
  uuidTs: string;
  plans: Map<string, TablePlan>;
  tableSource: Map<string, string>;
  /** schema.table\0id of every row in the batch: the first of an id wins. */
  seen: Set<string>;
  /** source → shape → its track events. */
  shaped: Map<string, Map<TrackShape, ShapeBatch>>;
}

const PREPARE_SLICE = 1000;

/** The track events of one source and one shape, on their way to the JSON path (json-load.ts). */
interface ShapeBatch {
  shape: TrackShape;
  sourceId: string;
  schema: string;
  events: { payload: string; values: (string | number | boolean)[] }[];
  /** Per scalar: its type, widened over these events (as evolve widens a batch's values). */
  kinds: (ColumnType | undefined)[];
}

const DISCARD_COLUMNS: [string, ColumnType][] = [
  ['id', 'varchar'], ['table_name', 'varchar'], ['column_name', 'varchar'], ['column_type', 'varchar'],
  ['value', 'varchar'], ['reason', 'varchar'], ['received_at', 'timestamp'], ['uuid_ts', 'timestamp'],
];
const CHUNK = 500;
/** Where a dialect with a bulk path stages rows before the transaction. */
export const STAGING_SCHEMA = '_switchyard_staging';

export class WarehouseEngine {
  /** schema.table → column → type, as the target has it (read once, then kept current). */
  private readonly known = new Map<string, Map<string, ColumnType>>();
  private readonly schemas = new Set<string>();

  constructor(
    private readonly db: Dialect,
    /** source id → slug (the schema name is derived from the slug). */
    private readonly slugOf: (sourceId: string) => string | undefined,
    /** Test hook: runs inside the data transaction after each table's insert. */
    private readonly afterTable?: (table: string) => Promise<void>,
    overrides: WarehouseConfig['syncOverrides'] = [],
    /** Told when the target refused the staged track events and they went row by row instead. */
    private readonly onJsonFallback: (err: unknown) => void = () => {},
  ) {
    for (const o of overrides) {
      if (!o.collection) continue;
      const key = o.property ? `${o.sourceId}\0${o.collection}\0${o.property}` : `${o.sourceId}\0${o.collection}`;
      if (o.enabled) this.off.delete(key);
      else this.off.add(key);
    }
    for (const key of this.off) this.offSources.add(key.slice(0, key.indexOf('\0')));
  }

  /** Selective sync: `source\0table` and `source\0table\0column` turned off. */
  private readonly off = new Set<string>();
  /** Sources with any of those (their events take the row-by-row path). */
  private readonly offSources = new Set<string>();
  /** Track event structures seen, for the JSON path. */
  private readonly shapes = new TrackShapes();

  /** Loads one batch: prepare (JavaScript only), then write (the target). */
  async load(messages: readonly LoaderMessage[], now = new Date()): Promise<LoadResult> {
    return this.write(await this.prepare(messages, now));
  }

  /**
   * The JavaScript half of a load, which needs nothing from the target: parses every
   * payload, finds each track event's shape, builds the other events' rows. It yields
   * to the event loop every PREPARE_SLICE events, so the loader can prepare the next
   * batch while the target is busy writing this one (its COPY data keeps flowing).
   */
  async prepare(messages: readonly LoaderMessage[], now = new Date()): Promise<PreparedLoad> {
    const p: PreparedLoad = { uuidTs: now.toISOString(), plans: new Map(), tableSource: new Map(), seen: new Set(), shaped: new Map() };
    const { seen, shaped } = p;
    const json = this.db.stageJson !== undefined || this.db.copyNew !== undefined;
    for (let n = 0; n < messages.length; n++) {
      if (n % PREPARE_SLICE === PREPARE_SLICE - 1) await new Promise((r) => setImmediate(r));
      const m = messages[n]!;
      const slug = this.slugOf(m.sourceId);
      if (!slug) continue;
      const schema = schemaName(slug);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(m.payload) as Record<string, unknown>;
      } catch {
        continue; // the log only holds validated JSON; nothing to load from anything else
      }
      if (json && msg.type === 'track' && !this.offSources.has(m.sourceId)) {
        const values: (string | number | boolean)[] = [];
        const shape = this.shapes.find(msg, values);
        if (shape) {
          const id = values[0] as string; // messageId: a shape always has it, first
          const own = `${schema}.${shape.table}\0${id}`;
          const tracks = `${schema}.tracks\0${id}`;
          if (seen.has(own) && seen.has(tracks)) continue;
          if (!seen.has(own) && !seen.has(tracks)) {
            seen.add(own);
            seen.add(tracks);
            let bySource = shaped.get(m.sourceId);
            if (!bySource) shaped.set(m.sourceId, (bySource = new Map()));
            let b = bySource.get(shape);
            if (!b) bySource.set(shape, (b = { shape, sourceId: m.sourceId, schema, events: [], kinds: new Array(shape.columns.length) }));
            b.events.push({ payload: m.payload, values });
            for (let i = 0; i < values.length; i++) {
              if (shape.columns[i] === null) continue;
              const k = shape.fixed[i] ?? inferType(values[i]!);
              const prev = b.kinds[i];
              if (prev !== k) b.kinds[i] = prev ? widen(prev, k) : k;
            }
            continue;
          }
        }
      }
      this.addRows(p, m.sourceId, schema, msg, true);
    }
    return p;
  }

  /** A message's rows (rows.ts) into the load's table plans, selective sync applied. */
  private addRows(p: PreparedLoad, sourceId: string, schema: string, msg: Record<string, unknown>, dedupe: boolean): void {
    for (const row of rowsFor(msg, p.uuidTs).rows) {
      if (this.off.size > 0) {
        if (this.off.has(`${sourceId}\0${row.table}`)) continue;
        for (const col of row.values.keys()) {
          if (col !== 'id' && !FIXED_TYPES.has(col) && this.off.has(`${sourceId}\0${row.table}\0${col}`)) row.values.delete(col);
        }
      }
      const key = `${schema}.${row.table}`;
      // Same id twice in a batch: keep the first (upserts merge instead).
      if (dedupe && !row.upsert) {
        const idKey = `${key}\0${String(row.values.get('id'))}`;
        if (p.seen.has(idKey)) continue;
        p.seen.add(idKey);
      }
      let plan = p.plans.get(key);
      if (!plan) p.plans.set(key, (plan = { schema, table: row.table, upsert: row.upsert, rows: [] }));
      plan.rows.push(row);
      p.tableSource.set(key, sourceId);
    }
  }

  /** The target half of a load: schema evolution, then one transaction for every table. */
  async write(p: PreparedLoad): Promise<LoadResult> {
    const { uuidTs, plans, tableSource, shaped } = p;
    // Schema evolution first: the columns every row and every JSON event needs.
    const wanted = new Map<string, { schema: string; table: string; upsert: boolean; types: Map<string, ColumnType> }>();
    const want = (schema: string, table: string, upsert: boolean) => {
      const key = `${schema}.${table}`;
      let w = wanted.get(key);
      if (!w) wanted.set(key, (w = { schema, table, upsert, types: new Map([['id', 'varchar']]) }));
      return w.types;
    };
    const note = (types: Map<string, ColumnType>, col: string, t: ColumnType) => {
      const prev = types.get(col);
      if (prev !== t) types.set(col, prev ? widen(prev, t) : t);
    };
    for (const plan of plans.values()) {
      if (plan.upsert) plan.rows = mergeUpserts(plan.rows);
      const types = want(plan.schema, plan.table, plan.upsert);
      for (const row of plan.rows) {
        for (const [col, v] of row.values) {
          if (v !== null) note(types, col, FIXED_TYPES.get(col) ?? inferType(v)); // a column is created only for a non-null value
        }
      }
    }
    const shapeBatches = [...shaped.values()].flatMap((m) => [...m.values()]);
    for (const b of shapeBatches) {
      const own = want(b.schema, b.shape.table, false);
      const tracks = want(b.schema, 'tracks', false);
      for (const types of [own, tracks]) {
        note(types, 'uuid_ts', 'timestamp');
        note(types, 'event', 'varchar');
        note(types, 'event_text', 'varchar');
      }
      b.shape.columns.forEach((col, i) => {
        if (col === null || b.kinds[i] === undefined) return;
        note(own, col, b.kinds[i]!);
        if (b.shape.base[i]) note(tracks, col, b.kinds[i]!);
      });
    }
    const typesOf = new Map<string, Map<string, ColumnType>>();
    for (const [key, w] of wanted) typesOf.set(key, await this.ensureTable(w.schema, w.table, w.types, w.upsert));

    // JSON events whose values all fit their columns as they are stay on the JSON
    // path; the others take the row-by-row one (casts, discards) after all.
    const spec = new JsonSpec();
    const staged: ShapeBatch[] = [];
    for (const b of shapeBatches) {
      const fitting = this.jsonFit(b, typesOf.get(`${b.schema}.${b.shape.table}`)!, typesOf.get(`${b.schema}.tracks`)!, spec);
      // Parsed again when needed: keeping every event's object for this rare case costs more.
      for (const e of b.events) if (!fitting.has(e)) this.addRows(p, b.sourceId, b.schema, JSON.parse(e.payload) as Record<string, unknown>, false);
      if (fitting.size > 0) staged.push({ ...b, events: b.events.filter((e) => fitting.has(e)) });
    }

    const scratch: string[] = [];
    let jsonInserts: { sourceId: string; table: string; sql: string }[] = [];
    if (staged.length > 0 && this.db.stageJson) {
      try {
        jsonInserts = await this.jsonInsertSql(staged, spec, typesOf, uuidTs, scratch);
      } catch (err) {
        // The target could not read a payload as the spec says (a string it takes for
        // invalid, say): these events go the row-by-row way, so the batch still loads.
        this.onJsonFallback(err);
        for (const b of staged) for (const e of b.events) this.addRows(p, b.sourceId, b.schema, JSON.parse(e.payload) as Record<string, unknown>, false);
      }
    }
    const copies = staged.length > 0 && !this.db.stageJson ? copyGroups(staged, uuidTs) : [];
    const discards = new Map<string, string[]>(); // schema → value tuples for discards
    const inserts: { plan: TablePlan; sql: string[] }[] = [];
    for (const plan of plans.values()) {
      inserts.push({ plan, sql: await this.insertSql(plan, typesOf.get(`${plan.schema}.${plan.table}`)!, discards, scratch) });
    }
    for (const schema of discards.keys()) await this.ensureTable(schema, DISCARDS_TABLE, new Map(DISCARD_COLUMNS), false);

    const result: LoadResult = { rows: new Map() };
    await this.db.exec('BEGIN TRANSACTION');
    try {
      for (const { plan, sql } of inserts) {
        let n = 0;
        for (const s of sql) n += await this.db.exec(s);
        const sourceId = tableSource.get(`${plan.schema}.${plan.table}`)!;
        const counts = result.rows.get(sourceId) ?? {};
        counts[plan.table] = (counts[plan.table] ?? 0) + n;
        result.rows.set(sourceId, counts);
        await this.afterTable?.(plan.table);
      }
      for (const c of copies) {
        const n = await this.db.copyNew!(`${this.db.quote(c.schema)}.${this.db.quote(c.table)}`, c.columns, c.rows);
        const counts = result.rows.get(c.sourceId) ?? {};
        counts[c.table] = (counts[c.table] ?? 0) + n;
        result.rows.set(c.sourceId, counts);
        await this.afterTable?.(c.table);
      }
      for (const { sourceId, table, sql } of jsonInserts) {
        const n = await this.db.exec(sql);
        const counts = result.rows.get(sourceId) ?? {};
        counts[table] = (counts[table] ?? 0) + n;
        result.rows.set(sourceId, counts);
        await this.afterTable?.(table);
      }
      for (const [schema, tuples] of discards) {
        const t = `${this.db.quote(schema)}.${this.db.quote(DISCARDS_TABLE)}`;
        const cols = DISCARD_COLUMNS.map(([c]) => this.db.quote(c)).join(', ');
        for (let i = 0; i < tuples.length; i += CHUNK) {
          await this.db.exec(`INSERT INTO ${t} (${cols}) SELECT ${cols} FROM (VALUES ${tuples.slice(i, i + CHUNK).join(', ')}) AS v (${cols})
            WHERE NOT EXISTS (SELECT 1 FROM ${t} x WHERE x.id = v.id AND x.table_name = v.table_name AND x.column_name = v.column_name)`);
        }
      }
      await this.db.exec('COMMIT');
      for (const t of scratch) await this.db.exec(`DROP TABLE IF EXISTS ${t}`);
    } catch (err) {
      await this.db.exec('ROLLBACK').catch(() => {});
      // What we believe about the target's columns may be stale after a failure.
      this.known.clear();
      this.schemas.clear();
      throw err;
    }
    return result;
  }

  private async ensureTable(schema: string, table: string, wanted: Map<string, ColumnType>, primaryKey: boolean): Promise<Map<string, ColumnType>> {
    const q = this.db.quote;
    const key = `${schema}.${table}`;
    const fq = `${q(schema)}.${q(table)}`;
    if (!this.schemas.has(schema)) {
      await this.db.exec(`CREATE SCHEMA IF NOT EXISTS ${q(schema)}`);
      this.schemas.add(schema);
    }
    let known = this.known.get(key);
    if (!known) {
      known = await this.readColumns(schema, table);
      if (known.size === 0) {
        const cols = [...wanted].map(([c, t]) => `${q(c)} ${this.db.sqlType(t)}${c === 'id' && primaryKey ? ' PRIMARY KEY' : ''}`);
        await this.db.exec(`CREATE TABLE IF NOT EXISTS ${fq} (${cols.join(', ')})`);
        if (this.db.indexIds && !primaryKey) await this.db.exec(`CREATE INDEX IF NOT EXISTS ${q(`${table}_id_idx`.slice(0, 63))} ON ${fq} (id)`);
        known = await this.readColumns(schema, table);
      }
      this.known.set(key, known);
    }
    for (const [col, t] of wanted) {
      const has = known.get(col);
      if (!has) {
        await this.db.exec(`ALTER TABLE ${fq} ADD COLUMN ${q(col)} ${this.db.sqlType(t)}`);
        known.set(col, t);
      } else if (has === 'bigint' && t === 'double') {
        // Widening int → float loses nothing; anything else keeps the column's type (cast or discard).
        await this.db.exec(`ALTER TABLE ${fq} ALTER COLUMN ${q(col)} TYPE ${this.db.sqlType('double')}`);
        known.set(col, 'double');
      }
    }
    return known;
  }

  private async readColumns(schema: string, table: string): Promise<Map<string, ColumnType>> {
    const rows = await this.db.query(`SELECT column_name, data_type FROM information_schema.columns
      WHERE table_schema = ${this.db.literal(schema, 'varchar')} AND table_name = ${this.db.literal(table, 'varchar')}`);
    return new Map(rows.map((r) => [String(r.column_name), this.db.columnType(String(r.data_type))]));
  }

  /**
   * The events of a shape whose values all fit their columns as they are (castTo
   * would hand them back unchanged); none when the shape's scalars cannot be read
   * with one type each (a context column typed differently in the two tables) or
   * do not fit the load's read_json spec.
   */
  private jsonFit(b: ShapeBatch, own: Map<string, ColumnType>, tracks: Map<string, ColumnType>, spec: JsonSpec): Set<ShapeBatch['events'][number]> {
    const fitting = new Set<ShapeBatch['events'][number]>();
    const { columns, base, paths } = b.shape;
    const ownTypes: (ColumnType | undefined)[] = [];
    const trackTypes: (ColumnType | undefined)[] = [];
    const reads: { path: string[]; type: string }[] = [{ path: ['event'], type: 'VARCHAR' }];
    for (let i = 0; i < columns.length; i++) {
      const col = columns[i];
      if (col === null) continue;
      ownTypes[i] = own.get(col);
      if (ownTypes[i] === undefined) return fitting;
      if (base[i]) {
        trackTypes[i] = tracks.get(col);
        if (trackTypes[i] === undefined || readType(trackTypes[i]!) !== readType(ownTypes[i]!)) return fitting;
      }
      reads.push({ path: paths[i]!, type: readType(ownTypes[i]!) });
    }
    const width = this.db.varcharWidth;
    if (width !== null && b.shape.eventText.length > width) return fitting; // event_text would need truncating
    if (this.db.stageJson && !spec.add(reads)) return fitting;
    // quickCast answers exactly when castTo would hand the value back unchanged.
    next: for (const e of b.events) {
      for (let i = 0; i < columns.length; i++) {
        if (columns[i] === null) continue;
        const v = e.values[i]!;
        if (quickCast(v, ownTypes[i]!, width) === undefined) continue next;
        if (base[i] && trackTypes[i] !== ownTypes[i] && quickCast(v, trackTypes[i]!, width) === undefined) continue next;
      }
      fitting.add(e);
    }
    return fitting;
  }

  /** Stages the JSON events' payloads and returns one INSERT per event table and one per source's `tracks`. */
  private async jsonInsertSql(batches: ShapeBatch[], spec: JsonSpec, typesOf: Map<string, Map<string, ColumnType>>, uuidTs: string, scratch: string[]) {
    const q = this.db.quote;
    const lit = (s: string) => this.db.literal(s, 'varchar');
    interface Group { sourceId: string; schema: string; table: string; index: number; columns: Map<string, string[][]> }
    const groups = new Map<string, Group>();
    const group = (sourceId: string, schema: string, table: string) => {
      const key = `${sourceId}\0${table}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { sourceId, schema, table, index: groups.size, columns: new Map() }));
      return g;
    };
    const use = (g: Group, column: string, path: string[]) => {
      const paths = g.columns.get(column);
      if (!paths) g.columns.set(column, [path]);
      else if (!paths.some((p) => p.length === path.length && p.every((k, i) => k === path[i]))) paths.push(path);
    };
    const lines: string[] = [];
    for (const b of batches) {
      const own = group(b.sourceId, b.schema, b.shape.table);
      const tracks = group(b.sourceId, b.schema, 'tracks');
      b.shape.columns.forEach((col, i) => {
        if (col === null) return;
        use(own, col, b.shape.paths[i]!);
        if (b.shape.base[i]) use(tracks, col, b.shape.paths[i]!);
      });
      const head = `{"k":${own.index},"s":${tracks.index},"t":${JSON.stringify(b.shape.table)},"p":`;
      for (const e of b.events) lines.push(`${head}${e.payload}}`);
    }
    const stage = await this.db.stageJson!('_switchyard_json', { k: 'INTEGER', s: 'INTEGER', t: 'VARCHAR', p: spec.sqlType() }, lines);
    scratch.push(stage);
    const out: { sourceId: string; table: string; sql: string }[] = [];
    for (const g of groups.values()) {
      const types = typesOf.get(`${g.schema}.${g.table}`)!;
      const cols: string[] = [];
      const exprs: string[] = [];
      for (const [column, paths] of g.columns) {
        const reads = paths.map((p) => fieldSql(p, lit));
        const read = reads.length === 1 ? reads[0]! : `COALESCE(${reads.join(', ')})`;
        cols.push(column);
        exprs.push(types.get(column) === 'timestamp' ? `CAST(${read} AS ${this.db.sqlType('timestamp')})` : read);
      }
      cols.push('event', 'event_text', 'uuid_ts');
      exprs.push('v.t', fieldSql(['event'], lit), this.db.literal(uuidTs, 'timestamp'));
      const fq = `${q(g.schema)}.${q(g.table)}`;
      const which = g.table === 'tracks' ? `v.s = ${g.index}` : `v.k = ${g.index}`;
      out.push({
        sourceId: g.sourceId,
        table: g.table,
        sql: `INSERT INTO ${fq} (${cols.map(q).join(', ')}) SELECT ${exprs.join(', ')} FROM ${stage} AS v
          WHERE ${which} AND NOT EXISTS (SELECT 1 FROM ${fq} x WHERE x.id = ${fieldSql(['messageId'], lit)})`,
      });
    }
    return out;
  }

  private async insertSql(plan: TablePlan, types: Map<string, ColumnType>, discards: Map<string, string[]>, staged: string[]): Promise<string[]> {
    const q = this.db.quote;
    const colSet = new Set<string>();
    for (const r of plan.rows) for (const [c, v] of r.values) if (v !== null) colSet.add(c);
    const cols = [...colSet];
    if (!colSet.has('id')) cols.unshift('id');
    const colTypes = cols.map((c): [string, ColumnType] => [c, types.get(c)!]);
    const width = this.db.varcharWidth;
    const cells: (string | number | boolean | null)[][] = [];
    for (const row of plan.rows) {
      if (typeof row.values.get('id') !== 'string') continue;
      const cellRow = new Array<string | number | boolean | null>(colTypes.length);
      for (let i = 0; i < colTypes.length; i++) {
        const [c, t] = colTypes[i]!;
        const v = row.values.get(c) ?? null;
        const quick = v === null ? null : quickCast(v, t, width);
        if (quick !== undefined) {
          cellRow[i] = quick;
          continue;
        }
        const cast = castTo(v!, t, width);
        if (cast.ok) cellRow[i] = cast.value;
        else {
          this.discard(discards, plan, row, c, t, v!, cast.reason);
          cellRow[i] = null;
        }
      }
      cells.push(cellRow);
    }
    const fq = `${q(plan.schema)}.${q(plan.table)}`;
    const list = cols.map(q).join(', ');
    const tail = plan.upsert
      ? ` ON CONFLICT (id) DO UPDATE SET ${cols.filter((c) => c !== 'id').map((c) => `${q(c)} = ${this.db.keepOld(plan.table, c)}`).join(', ')}`
      : ` WHERE NOT EXISTS (SELECT 1 FROM ${fq} x WHERE x.id = v.id)`;
    if (this.db.stage) {
      // Scratch tables (the session's temporary tables in both dialects) are replaced
      // by the next load; a failure leaves one behind, never a partial target table.
      const stage = await this.db.stage(STAGING_SCHEMA, `${plan.schema}__${plan.table}`.slice(0, 63), colTypes, cells);
      staged.push(stage);
      const select = colTypes.map(([c, t]) => `CAST(v.${q(c)} AS ${this.db.sqlType(t)})`).join(', ');
      return [`INSERT INTO ${fq} (${list}) SELECT ${select} FROM ${stage} AS v${plan.upsert ? ' WHERE true' : ''}${tail}`];
    }
    const tuples = cells.map((row) => `(${row.map((v, i) => this.db.literal(v, colTypes[i]![1])).join(', ')})`);
    const out: string[] = [];
    for (let i = 0; i < tuples.length; i += CHUNK) {
      const values = tuples.slice(i, i + CHUNK).join(', ');
      out.push(plan.upsert
        ? `INSERT INTO ${fq} (${list}) VALUES ${values}${tail}`
        : `INSERT INTO ${fq} (${list}) SELECT ${list} FROM (VALUES ${values}) AS v (${list})${tail}`);
    }
    return out;
  }

  private discard(discards: Map<string, string[]>, plan: TablePlan, row: WarehouseRow, column: string, type: ColumnType, value: FlatValue, reason: string): void {
    const l = (v: string | null, t: ColumnType = 'varchar') => this.db.literal(v === null ? null : (castTo(v, t, this.db.varcharWidth) as { value: string }).value ?? null, t);
    const list = discards.get(plan.schema) ?? [];
    list.push(`(${[
      l(String(row.values.get('id'))), l(plan.table), l(column), l(type), l(String(value)), l(reason),
      l(row.values.get('received_at') as string | null, 'timestamp'), l(row.values.get('uuid_ts') as string, 'timestamp'),
    ].join(', ')})`);
    discards.set(plan.schema, list);
  }
}

const CANONICAL_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{3}Z$/;
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * castTo's answer for the common cases without allocating (a value already of the
 * column's type; a timestamp already in toISOString's form, which castTo would
 * return unchanged); undefined means "ask castTo".
 */
function quickCast(v: FlatValue, t: ColumnType, width: number | null): string | number | boolean | undefined {
  switch (t) {
    case 'varchar':
      return typeof v === 'string' && (width === null || v.length <= width) ? v : undefined;
    case 'bigint':
      return typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined;
    case 'double':
      return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
    case 'boolean':
      return typeof v === 'boolean' ? v : undefined;
    case 'timestamp': {
      const m = typeof v === 'string' ? CANONICAL_TIME.exec(v) : null;
      if (!m) return undefined;
      const y = Number(m[1]), mo = Number(m[2]), d = Number(m[3]);
      const leap = mo === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 1 : 0;
      const ok = mo >= 1 && mo <= 12 && d >= 1 && d <= DAYS[mo - 1]! + leap && Number(m[4]) < 24 && Number(m[5]) < 60 && Number(m[6]) < 60;
      return ok ? (v as string) : undefined;
    }
  }
}

/** Several identifies of one user in a batch become one row: later non-null traits win. */
function mergeUpserts(rows: WarehouseRow[]): WarehouseRow[] {
  const byId = new Map<string, WarehouseRow>();
  for (const r of rows) {
    const id = String(r.values.get('id'));
    const prev = byId.get(id);
    if (!prev) byId.set(id, { ...r, values: new Map(r.values) });
    else for (const [k, v] of r.values) if (v !== null) prev.values.set(k, v);
  }
  return [...byId.values()];
}

/**
 * The direct path's rows (a dialect with `copyNew`): per source and table, the
 * columns its events use (id first) and each event's values in that order.
 */
function copyGroups(batches: ShapeBatch[], uuidTs: string) {
  type Cell = string | number | boolean | null;
  interface Group { sourceId: string; schema: string; table: string; columns: string[]; at: Map<string, number>; rows: Cell[][] }
  const groups = new Map<string, Group>();
  // First every table's columns, so each row is made at its full length (a packed array).
  const plans = batches.flatMap((b) => [true, false].map((own) => {
    const { columns, base, table } = b.shape;
    const name = own ? table : 'tracks';
    const key = `${b.sourceId}\0${name}`;
    let g = groups.get(key);
    if (!g) {
      const first = ['id', 'event', 'event_text', 'uuid_ts'];
      groups.set(key, (g = { sourceId: b.sourceId, schema: b.schema, table: name, columns: first, at: new Map(first.map((c, i) => [c, i])), rows: [] }));
    }
    // Where each of the shape's values goes in this table's rows (-1: not one of its columns).
    const slots = columns.map((c, i) => {
      if (c === null || (!own && !base[i])) return -1;
      let at = g.at.get(c);
      if (at === undefined) {
        g.at.set(c, (at = g.columns.length));
        g.columns.push(c);
      }
      return at;
    });
    return { b, g, slots };
  }));
  for (const { b, g, slots } of plans) {
    const width = g.columns.length;
    for (const e of b.events) {
      const row = new Array<Cell>(width).fill(null);
      row[1] = b.shape.table;
      row[2] = b.shape.eventText;
      row[3] = uuidTs;
      for (let i = 0; i < slots.length; i++) if (slots[i]! >= 0) row[slots[i]!] = e.values[i]!;
      g.rows.push(row);
    }
  }
  return [...groups.values()];
}
