import { createHash } from 'node:crypto';
import type { FlatValue } from '../../protocol/warehouse-naming.js';
import { schemaName } from '../../protocol/warehouse-naming.js';
import { castTo, inferType, widen } from './columns.js';
import { copyText, CopyRows } from './copy-rows.js';
import { EventShapes, SHAPED_TYPES, type EventShape } from './event-shapes.js';
import { DISCARDS_TABLE, FIXED_TYPES, rowsFor, type WarehouseRow } from './rows.js';
import type { ColumnType, CopyPart, Dialect, LoaderMessage, WarehouseConfig } from './types.js';

/**
 * Loads one batch of log messages into a warehouse, the same way for every
 * dialect:
 * 1. `prepare` (JavaScript only): track events, pages, screens, identifies and groups
 *    → their shape, a summary of their values and their rows as text lines
 *    (event-shapes.ts), other messages (and the users/accounts upserts) → rows per
 *    (schema, table) (rows.ts);
 * 2. `write`: schema evolution (tables and columns created when first seen,
 *    bigint columns widened to double when a float arrives; the DDL runs before the
 *    data transaction: it is idempotent, and DuckDB refuses some ALTERs inside one);
 *    shaped events whose values do not fit their columns as they are join the rows;
 * 3. one transaction for every table of the batch: rows go in with
 *    `INSERT ... WHERE NOT EXISTS (same received_at and id)`, shaped events by the
 *    dialect's `copyNew` (with the same check; PostgreSQL's `tracks` rows through a
 *    second connection whose transaction commits just before this one; should the
 *    target refuse them, the batch is written again with them row by row), users/accounts
 *    are upserted keeping the latest non-null traits, uncastable values go to `discards`.
 * The caller acknowledges the batch on the log only after this resolves: a crash
 * before the commit loads nothing, a crash after it re-loads the same messages (same
 * received_at), which the check skips, so no row is ever missing or duplicated.
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
  /** source → shape → its events on the direct path. */
  shaped: Map<string, Map<EventShape, ShapeBatch>>;
}

const PREPARE_SLICE = 250;
/** Shape batches a load copies at most (the largest); the rest go row by row (see `write`). */
const MAX_SHAPE_BATCHES = 128;
/** Up to this many shape batches a load, each is copied whatever its size. */
const FEW_SHAPE_BATCHES = 32;
/** Past FEW_SHAPE_BATCHES, a shape batch smaller than this goes row by row. */
const MIN_SHAPE_EVENTS = 100;

/** What a scalar's values were, in JavaScript (ShapeBatch.types). */
const STRING = 1, INTEGER = 2, FRACTION = 4, BOOLEAN = 8;

/**
 * Where a shape's scalars go for one source, selective sync applied: its own table and
 * `tracks` (false: turned off), and per scalar whether it is a column of each (never for
 * a column rows.ts drops or one turned off; ids and Segment's fixed columns always).
 */
interface Targets {
  own: boolean;
  tracks: boolean;
  inOwn: boolean[];
  inTracks: boolean[];
}

/**
 * The events of one source and one shape, on their way to the direct path
 * (`copyNew`). Per scalar it keeps a summary of the events' values, not the
 * values: whether they all fit a column as they are is decided from it at write time.
 */
interface ShapeBatch {
  shape: EventShape;
  sourceId: string;
  schema: string;
  uuidTs: string;
  to: Targets;
  payloads: string[];
  /** Per scalar: its type, widened over these events (as evolve widens a batch's values). */
  kinds: (ColumnType | undefined)[];
  /** Per scalar: the kinds of JavaScript value it had (STRING | INTEGER | FRACTION | BOOLEAN). */
  types: number[];
  /** Per scalar: whether each of its strings is a timestamp in toISOString's form. */
  canonical: boolean[];
  /** Per scalar: its longest string. */
  longest: number[];
  /** The earliest and latest received_at (toISOString's form) when the shape has one. */
  received?: { at: number; first: string; last: string };
  /**
   * Per scalar: its strings are written in toISOString's form (recastTimes), so they go
   * as they are only into a timestamp column: Segment's timestamp columns, and those the
   * target had as timestamp when the batch was prepared.
   */
  timeOnly: boolean[];
  /**
   * Per scalar, the kind of JavaScript value (string, number, boolean: broadKind) of the
   * batch's first event; events that differ anywhere go to `deviants`, so one odd value
   * does not keep the other events of the batch off the direct path. Null in `deviants` itself.
   */
  first: number[] | null;
  deviants?: ShapeBatch;
  /** The rows of the event's own table and of `tracks`, as the dialect's text lines (copyCell). */
  copy: {
    own: CopyRows; ownColumns: string[]; tracks: CopyRows; trackColumns: string[];
    /** The last cells of every line (a track event's event and event_text, then uuid_ts): the same for all the batch's events. */
    suffix: string;
  };
}

/** A batch's shaped events failed on the direct path (staging them, or the target reading them): the batch loads row by row instead. */
class DirectPathError extends Error {
  constructor(step: string, cause: unknown) {
    super(`${step}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

const DISCARD_COLUMNS: [string, ColumnType][] = [
  ['id', 'varchar'], ['table_name', 'varchar'], ['column_name', 'varchar'], ['column_type', 'varchar'],
  ['value', 'varchar'], ['reason', 'varchar'], ['received_at', 'timestamp'], ['uuid_ts', 'timestamp'],
];
const CHUNK = 500;
/** Where a dialect with `stage` stages rows before the transaction. */
export const STAGING_SCHEMA = '_switchyard_staging';

export class WarehouseEngine {
  /** schema.table → column → type, as the target has it (read once, then kept current). */
  private readonly known = new Map<string, Map<string, ColumnType>>();
  private readonly schemas = new Set<string>();
  /** schema.table of the tables at the target's column limit. */
  private readonly full = new Set<string>();

  constructor(
    private readonly db: Dialect,
    /** source id → slug (the schema name is derived from the slug). */
    private readonly slugOf: (sourceId: string) => string | undefined,
    /** Test hook: runs inside the data transaction after each table's insert. */
    private readonly afterTable?: (table: string) => Promise<void>,
    overrides: WarehouseConfig['syncOverrides'] = [],
    /** Told (the table, the step and the reason) when the direct path failed and the shaped events went row by row instead. */
    private readonly onDirectFallback: (err: unknown) => void = () => {},
  ) {
    for (const o of overrides) {
      if (!o.collection) continue;
      const key = o.property ? `${o.sourceId}\0${o.collection}\0${o.property}` : `${o.sourceId}\0${o.collection}`;
      if (o.enabled) this.off.delete(key);
      else this.off.add(key);
    }
  }

  /** Selective sync: `source\0table` and `source\0table\0column` turned off. */
  private readonly off = new Set<string>();
  /** Track event structures seen, for the direct path. */
  private readonly shapes = new EventShapes();

  /** Loads one batch: prepare (JavaScript only), then write (the target). */
  async load(messages: readonly LoaderMessage[], now = new Date()): Promise<LoadResult> {
    return this.write(await this.prepare(messages, now));
  }

  /**
   * The JavaScript half of a load, which needs nothing from the target: parses every
   * payload, finds each event's shape (event-shapes.ts), builds the other events' rows. It yields
   * to the event loop every PREPARE_SLICE events, so the loader can prepare the next
   * batch while the target is busy writing this one (its COPY data keeps flowing).
   */
  async prepare(messages: readonly LoaderMessage[], now = new Date()): Promise<PreparedLoad> {
    const p: PreparedLoad = { uuidTs: now.toISOString(), plans: new Map(), tableSource: new Map(), seen: new Set(), shaped: new Map() };
    const { shaped } = p;
    const cell = this.db.copyNew ? (this.db.copyCell ?? copyText) : null;
    const values: (string | number | boolean)[] = [];
    /** schema and type → the message ids of its events in the batch (types with a direct path): the first of an id wins. */
    const shapedIds = new Map<string, Set<string>>();
    /** source id → its schema (null: a source this warehouse does not load), named once per batch. */
    const schemas = new Map<string, string | null>();
    for (let n = 0; n < messages.length; n++) {
      if (n % PREPARE_SLICE === PREPARE_SLICE - 1) await new Promise((r) => setImmediate(r));
      const m = messages[n]!;
      let schema = schemas.get(m.sourceId);
      if (schema === undefined) {
        const slug = this.slugOf(m.sourceId);
        schemas.set(m.sourceId, (schema = slug ? schemaName(slug) : null));
      }
      if (schema === null) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(m.payload) as Record<string, unknown>;
      } catch {
        continue; // the log only holds validated JSON; nothing to load from anything else
      }
      if (SHAPED_TYPES.has(msg.type)) {
        // One event of a type per message id and source in a batch: the first wins, whichever path it takes.
        const id = msg.messageId;
        if (typeof id === 'string' || typeof id === 'number') {
          const idsKey = `${schema}\0${String(msg.type)}`;
          let ids = shapedIds.get(idsKey);
          if (!ids) shapedIds.set(idsKey, (ids = new Set()));
          const key = String(id);
          if (ids.has(key)) continue;
          ids.add(key);
        }
        const shape = cell ? this.shapes.find(msg, values) : null;
        if (shape && cell) {
          let bySource = shaped.get(m.sourceId);
          if (!bySource) shaped.set(m.sourceId, (bySource = new Map()));
          let b = bySource.get(shape);
          if (!b) {
            const to = this.targets(m.sourceId, shape);
            const timeOnly = this.timeColumns(shape, to, this.known.get(`${schema}.${shape.table}`), this.known.get(`${schema}.tracks`));
            bySource.set(shape, (b = shapeBatch(shape, m.sourceId, schema, cell, p.uuidTs, to, timeOnly)));
          }
          recastTimes(b.timeOnly, values);
          addShaped(b, m.payload, values, cell);
          // Identifies' users rows and groups' accounts rows are upserts: always row by row.
          if (shape.upserts) this.addRows(p, m.sourceId, schema, msg, true, 'upserts');
          continue;
        }
      }
      this.addRows(p, m.sourceId, schema, msg, true, 'all');
    }
    return p;
  }

  /**
   * A message's rows (rows.ts) into the load's table plans, selective sync applied: all of
   * them, only the upserts (users, accounts) or only the others (an event that left the
   * direct path after its upserts were added).
   */
  private addRows(p: PreparedLoad, sourceId: string, schema: string, msg: Record<string, unknown>, dedupe: boolean, which: 'all' | 'upserts' | 'plain'): void {
    for (const row of rowsFor(msg, p.uuidTs).rows) {
      if (which !== 'all' && row.upsert !== (which === 'upserts')) continue;
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
    const { plans, shaped } = p;
    // Schema evolution first: the columns every row and every shaped event needs.
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
    const shapeBatches = [...shaped.values()].flatMap((m) => [...m.values()].flatMap((b) => (b.deviants ? [b, b.deviants] : [b])));
    for (const b of shapeBatches) {
      const own = b.to.own ? want(b.schema, b.shape.table, false) : null;
      const tracks = b.to.tracks ? want(b.schema, 'tracks', false) : null;
      for (const types of [own, tracks]) {
        if (!types) continue;
        note(types, 'uuid_ts', 'timestamp');
      }
      for (const [col] of b.shape.consts) {
        if (own) note(own, col, 'varchar');
        if (tracks) note(tracks, col, 'varchar');
      }
      b.shape.columns.forEach((col, i) => {
        if (col === null || b.kinds[i] === undefined) return;
        if (b.to.inOwn[i]) note(own!, col, b.kinds[i]!);
        if (b.to.inTracks[i]) note(tracks!, col, b.kinds[i]!);
      });
    }
    const typesOf = new Map<string, Map<string, ColumnType>>();
    for (const [key, w] of wanted) typesOf.set(key, await this.ensureTable(w.schema, w.table, w.types, w.upsert));

    // Shaped batches whose values all fit their columns as they are keep the fast
    // path. In the others, each event is parsed again (keeping every event's object
    // for this case would cost more): those that fit go on in a batch of their own,
    // the rest take the row-by-row path (casts, discards). One odd value in 1,000
    // events made the whole batch go row by row before: loads 3-4× slower.
    const fast: ShapeBatch[] = [];
    for (const b of shapeBatches) {
      // A table turned off has no types here: no scalar goes to it.
      const own = typesOf.get(`${b.schema}.${b.shape.table}`) ?? new Map<string, ColumnType>();
      const tracks = typesOf.get(`${b.schema}.tracks`) ?? new Map<string, ColumnType>();
      if (this.fits(b, own, tracks)) fast.push(b);
      else {
        const fitting = this.split(p, b, own, tracks);
        if (fitting) fast.push(fitting);
      }
    }
    // Each shape batch is a part of its tables' copies, and a part costs the target a
    // file (DuckDB) or a COPY whatever its size. A stream whose events leave out optional
    // properties at random has thousands of shapes a load, of a few events each: the
    // largest MAX_SHAPE_BATCHES stay on the direct path, and among many, those of fewer
    // than MIN_SHAPE_EVENTS events go row by row with the others.
    if (fast.length > FEW_SHAPE_BATCHES) {
      fast.sort((x, y) => y.payloads.length - x.payloads.length);
      let keep = Math.min(fast.length, MAX_SHAPE_BATCHES);
      while (keep > FEW_SHAPE_BATCHES && fast[keep - 1]!.payloads.length < MIN_SHAPE_EVENTS) keep--;
      for (const b of fast.splice(keep)) this.toRows(p, b);
    }
    if (fast.length === 0) return this.commit(p, typesOf, []);
    try {
      return await this.commit(p, typesOf, fast);
    } catch (err) {
      if (!(err instanceof DirectPathError)) throw err;
      // Staging the lines failed, or the target refused them (a value it reads otherwise
      // than we do, say): these events go the row-by-row way, so the batch still loads.
      this.onDirectFallback(err);
      for (const b of fast) this.toRows(p, b);
      return this.commit(p, typesOf, []);
    }
  }

  /** A shaped batch's events, parsed again, into the load's row plans. */
  private toRows(p: PreparedLoad, b: ShapeBatch): void {
    for (const payload of b.payloads) this.addRows(p, b.sourceId, b.schema, JSON.parse(payload) as Record<string, unknown>, false, 'plain');
  }

  /** Per scalar of `shape`: whether its column is one of Segment's timestamp columns, or timestamp in every table it goes to. */
  private timeColumns(shape: EventShape, to: Targets, own: Map<string, ColumnType> | undefined, tracks: Map<string, ColumnType> | undefined): boolean[] {
    return shape.columns.map((col, i) => shape.fixed[i] === 'timestamp' || (col !== null && (to.inOwn[i]! || to.inTracks[i]!) &&
      (!to.inOwn[i] || own?.get(col) === 'timestamp') && (!to.inTracks[i] || tracks?.get(col) === 'timestamp')));
  }

  /** Where the scalars of `shape` go for `sourceId`, selective sync applied (Targets). */
  private targets(sourceId: string, shape: EventShape): Targets {
    const off = (key: string) => this.off.size > 0 && this.off.has(key);
    const own = !off(`${sourceId}\0${shape.table}`);
    const tracks = shape.aside && !off(`${sourceId}\0tracks`);
    // As addRows: ids and Segment's fixed columns cannot be turned off.
    const on = (table: string, col: string) => col === 'id' || FIXED_TYPES.has(col) || !off(`${sourceId}\0${table}\0${col}`);
    return {
      own, tracks,
      inOwn: shape.columns.map((c) => c !== null && own && on(shape.table, c)),
      inTracks: shape.columns.map((c, i) => c !== null && shape.base[i]! && tracks && on('tracks', c)),
    };
  }

  /**
   * A batch that does not fit as a whole, event by event: those whose values all fit
   * their columns into a new batch (returned; null if none), the others into the row plans.
   */
  private split(p: PreparedLoad, b: ShapeBatch, own: Map<string, ColumnType>, tracks: Map<string, ColumnType>): ShapeBatch | null {
    const width = this.db.varcharWidth;
    const cell = this.db.copyCell ?? copyText;
    const { columns } = b.shape;
    const { inOwn, inTracks } = b.to;
    const values: (string | number | boolean)[] = [];
    // The target's columns are known now: a time in another form goes as it is cast on the row path.
    const timeOnly = this.timeColumns(b.shape, b.to, own, tracks);
    let fitting: ShapeBatch | null = null;
    for (const payload of b.payloads) {
      const msg = JSON.parse(payload) as Record<string, unknown>;
      // The same shape object again, unless the trie started over since (then: row by row).
      let fit = (width === null || b.shape.widest <= width) && this.shapes.find(msg, values) === b.shape;
      if (fit) recastTimes(timeOnly, values);
      for (let i = 0; fit && i < columns.length; i++) {
        const col = columns[i];
        if (col === null || col === undefined) continue;
        const ok = (t: ColumnType | undefined) => valueFits(values[i]!, t, width) && (!timeOnly[i] || t === 'timestamp');
        fit = (!inOwn[i] || ok(own.get(col))) && (!inTracks[i] || ok(tracks.get(col)));
      }
      if (!fit) {
        this.addRows(p, b.sourceId, b.schema, msg, false, 'plain');
        continue;
      }
      fitting ??= shapeBatch(b.shape, b.sourceId, b.schema, cell, p.uuidTs, b.to, timeOnly, false);
      addShaped(fitting, payload, values, cell);
    }
    return fitting;
  }

  /**
   * Whether every value of the batch fits its column as it is (castTo would hand it
   * back unchanged), in the event table and in `tracks`. valueFits says the same of one value.
   */
  private fits(b: ShapeBatch, own: Map<string, ColumnType>, tracks: Map<string, ColumnType>): boolean {
    const width = this.db.varcharWidth;
    if (width !== null && b.shape.widest > width) return false; // event_text would need truncating
    const fit = (i: number, t: ColumnType | undefined): boolean => {
      const ty = b.types[i]!;
      if (b.timeOnly[i] && t !== 'timestamp') return false;
      switch (t) {
        case 'varchar': return ty === STRING && (width === null || b.longest[i]! <= width);
        case 'timestamp': return ty === STRING && b.canonical[i]!;
        case 'bigint': return ty === INTEGER;
        case 'double': return ty !== 0 && (ty & ~(INTEGER | FRACTION)) === 0;
        case 'boolean': return ty === BOOLEAN;
        default: return false;
      }
    };
    const { columns } = b.shape;
    const { inOwn, inTracks } = b.to;
    for (let i = 0; i < columns.length; i++) {
      const col = columns[i];
      if (col === null || col === undefined) continue;
      if (inOwn[i] && !fit(i, own.get(col))) return false;
      if (inTracks[i] && !fit(i, tracks.get(col))) return false;
    }
    return true;
  }

  /**
   * One transaction for the whole batch: the row plans, then the shaped events by the
   * dialect's direct path (`copies`), then the discards.
   */
  private async commit(p: PreparedLoad, typesOf: Map<string, Map<string, ColumnType>>, copies: ShapeBatch[]): Promise<LoadResult> {
    const { plans, tableSource } = p;
    const scratch: string[] = [];
    const discards = new Map<string, string[]>(); // schema → value tuples for discards
    const inserts: { plan: TablePlan; sql: string[] }[] = [];
    const result: LoadResult = { rows: new Map() };
    const count = (sourceId: string, table: string, n: number) => {
      const counts = result.rows.get(sourceId) ?? {};
      counts[table] = (counts[table] ?? 0) + n;
      result.rows.set(sourceId, counts);
    };
    try {
      for (const plan of plans.values()) {
        inserts.push({ plan, sql: await this.insertSql(plan, typesOf.get(`${plan.schema}.${plan.table}`)!, discards, scratch) });
      }
      for (const schema of discards.keys()) await this.ensureTable(schema, DISCARDS_TABLE, new Map(DISCARD_COLUMNS), false);
      await this.db.exec('BEGIN TRANSACTION');
      for (const { plan, sql } of inserts) {
        let n = 0;
        for (const s of sql) n += await this.db.exec(s);
        count(tableSource.get(`${plan.schema}.${plan.table}`)!, plan.table, n);
        await this.afterTable?.(plan.table);
      }
      const q = this.db.quote;
      // The event tables on the main connection and `tracks` aside, at the same time.
      // Both finish before either failure is thrown: nothing may still be writing when the
      // transactions are rolled back.
      const settled = await Promise.allSettled([false, true].map(async (aside) => {
        const out: [CopyGroup, number][] = [];
        for (const g of copyGroups(copies, aside, typesOf)) {
          const n = await this.db.copyNew!(`${q(g.schema)}.${q(g.table)}`, g.parts, g.window, aside).catch((err: unknown) => {
            throw new DirectPathError(`the direct path for the events of ${g.table} failed`, err);
          });
          out.push([g, n]);
        }
        return out;
      }));
      const copied = settled.map((r) => {
        if (r.status === 'rejected') throw r.reason;
        return r.value;
      });
      for (const out of copied) {
        for (const [g, n] of out) {
          count(g.sourceId, g.table, n);
          await this.afterTable?.(g.table);
        }
      }
      for (const [schema, tuples] of discards) {
        const t = `${q(schema)}.${q(DISCARDS_TABLE)}`;
        const cols = DISCARD_COLUMNS.map(([c]) => q(c)).join(', ');
        for (let i = 0; i < tuples.length; i += CHUNK) {
          await this.db.exec(`INSERT INTO ${t} (${cols}) SELECT ${cols} FROM (VALUES ${tuples.slice(i, i + CHUNK).join(', ')}) AS v (${cols})
            WHERE NOT EXISTS (SELECT 1 FROM ${t} x WHERE x.received_at IS NOT DISTINCT FROM v.received_at AND x.id = v.id AND x.table_name = v.table_name AND x.column_name = v.column_name)`);
        }
      }
      await this.db.settleAside?.(true);
      await this.db.exec('COMMIT');
      for (const t of scratch) await this.db.exec(`DROP TABLE IF EXISTS ${t}`);
    } catch (err) {
      await this.db.settleAside?.(false).catch(() => {});
      await this.db.exec('ROLLBACK').catch(() => {});
      if (!(err instanceof DirectPathError)) {
        // What we believe about the target's columns may be stale after a failure.
        this.known.clear();
        this.schemas.clear();
      }
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
      // Every event table has received_at: the dedupe looks rows up by it and id.
      const columns = new Map(primaryKey ? [] : [['received_at', 'timestamp' as ColumnType]]);
      for (const [c, t] of wanted) columns.set(c, t);
      if (known.size === 0) {
        const cols = [...columns].map(([c, t]) => `${q(c)} ${this.db.sqlType(t)}${c === 'id' && primaryKey ? ' PRIMARY KEY' : ''}`);
        await this.db.exec(`CREATE TABLE IF NOT EXISTS ${fq} (${cols.join(', ')})`);
        known = await this.readColumns(schema, table);
      } else if (!primaryKey && !known.has('received_at')) {
        await this.db.exec(`ALTER TABLE ${fq} ADD COLUMN ${q('received_at')} ${this.db.sqlType('timestamp')}`);
        known.set('received_at', 'timestamp');
      }
      if (this.db.indexIds && !primaryKey) {
        // Ordered by arrival, so a batch's lookups and inserts stay in the index's newest
        // pages however big the table grows. An index on id alone (before) put every
        // lookup and insert at a random place in it: at a million rows, half a load.
        await this.db.exec(`CREATE INDEX IF NOT EXISTS ${q(indexName(table, 'received_at_id_idx'))} ON ${fq} (received_at, id)`);
        // Earlier versions' index on id alone (a name cut to 63 characters could be another object's: left alone).
        const legacy = `${table}_id_idx`;
        if (legacy.length <= 63) await this.db.exec(`DROP INDEX IF EXISTS ${q(schema)}.${q(legacy)}`);
      }
      this.known.set(key, known);
    }
    for (const [col, t] of wanted) {
      const has = known.get(col);
      if (!has) {
        // A table at the target's column limit takes no new column: the values meant for
        // one are discarded (insertSql) and the load goes on. Before, the failing ALTER
        // failed every load of the batch, for good.
        if (this.full.has(key) || (this.db.maxColumns !== null && known.size >= this.db.maxColumns)) {
          this.full.add(key);
          continue;
        }
        try {
          await this.db.exec(`ALTER TABLE ${fq} ADD COLUMN ${q(col)} ${this.db.sqlType(t)}`);
        } catch (err) {
          // PostgreSQL counts dropped columns too: its own refusal (54011) says the table is full.
          if ((err as { code?: string }).code !== '54011') throw err;
          this.full.add(key);
          continue;
        }
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

  private async insertSql(plan: TablePlan, types: Map<string, ColumnType>, discards: Map<string, string[]>, staged: string[]): Promise<string[]> {
    const q = this.db.quote;
    const colSet = new Set<string>();
    for (const r of plan.rows) for (const [c, v] of r.values) if (v !== null) colSet.add(c);
    const cols = [...colSet];
    if (!colSet.has('id')) cols.unshift('id');
    // Columns the table could not take (its column limit): their values are discarded.
    const missing = cols.filter((c) => !types.has(c));
    const colTypes = cols.filter((c) => types.has(c)).map((c): [string, ColumnType] => [c, types.get(c)!]);
    const width = this.db.varcharWidth;
    const cells: (string | number | boolean | null)[][] = [];
    for (const row of plan.rows) {
      if (typeof row.values.get('id') !== 'string') continue;
      for (const c of missing) {
        const v = row.values.get(c) ?? null;
        if (v !== null) this.discard(discards, plan, row, c, inferType(v), v, `the table has reached the target's column limit${this.db.maxColumns === null ? '' : ` (${this.db.maxColumns})`}`);
      }
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
    const kept = colTypes.map(([c]) => c);
    const list = kept.map(q).join(', ');
    const tail = plan.upsert
      ? ` ON CONFLICT (id) DO UPDATE SET ${kept.filter((c) => c !== 'id').map((c) => `${q(c)} = ${this.db.keepOld(plan.table, c)}`).join(', ')}`
      : ` WHERE NOT EXISTS (SELECT 1 FROM ${fq} x WHERE ${colSet.has('received_at') ? `x.received_at = CAST(v.received_at AS ${this.db.sqlType('timestamp')})` : 'x.received_at IS NULL'} AND x.id = v.id)`;
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

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Whether `v` is a valid time in toISOString's form (`YYYY-MM-DDTHH:MM:SS.mmmZ`) from
 * year 1 on (castTo's range; year 0 is not one), read digit by digit: it runs for every
 * string of every shaped event.
 */
export function isCanonicalTime(v: string): boolean {
  if (v.length !== 24 || v.charCodeAt(4) !== 45 || v.charCodeAt(7) !== 45 || v.charCodeAt(10) !== 84 || v.charCodeAt(13) !== 58
    || v.charCodeAt(16) !== 58 || v.charCodeAt(19) !== 46 || v.charCodeAt(23) !== 90) return false;
  const num = (from: number, to: number) => {
    let n = 0;
    for (let i = from; i < to; i++) {
      const c = v.charCodeAt(i) - 48;
      if (c < 0 || c > 9) return -1;
      n = n * 10 + c;
    }
    return n;
  };
  const y = num(0, 4), mo = num(5, 7), d = num(8, 10), h = num(11, 13), mi = num(14, 16), s = num(17, 19), ms = num(20, 23);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59 || ms < 0) return false;
  const leap = mo === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 1 : 0;
  return d <= DAYS[mo - 1]! + leap;
}

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
    case 'timestamp':
      return typeof v === 'string' && isCanonicalTime(v) ? v : undefined;
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

/** The shape batches of one table (and one kind of window) of a load: one `copyNew` call. */
interface CopyGroup {
  sourceId: string;
  schema: string;
  table: string;
  parts: CopyPart[];
  /** The earliest and latest received_at of every part; null: rows without one. */
  window: [string, string] | null;
}

/**
 * The shaped batches to copy, grouped by target table (the event's own, or `tracks`
 * aside), so each table of a load takes one id check and one INSERT however many shapes
 * its events had. Batches of shapes with and without received_at go in separate groups
 * (the check reads rows by their window, or those without one).
 */
function copyGroups(copies: readonly ShapeBatch[], aside: boolean, typesOf: ReadonlyMap<string, ReadonlyMap<string, ColumnType>>): CopyGroup[] {
  const groups = new Map<string, CopyGroup>();
  for (const b of copies) {
    if (!(aside ? b.to.tracks : b.to.own)) continue; // turned off (selective sync)
    const table = aside ? 'tracks' : b.shape.table;
    const key = `${b.schema}\0${table}\0${b.received ? 'window' : 'none'}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { sourceId: b.sourceId, schema: b.schema, table, parts: [], window: null }));
    const types = typesOf.get(`${b.schema}.${table}`)!;
    const { own, ownColumns, tracks, trackColumns } = b.copy;
    g.parts.push({ columns: (aside ? trackColumns : ownColumns).map((c) => [c, types.get(c)!] as const), rows: aside ? tracks : own });
    if (b.received) {
      const { first, last } = b.received;
      g.window = g.window ? [first < g.window[0] ? first : g.window[0], last > g.window[1] ? last : g.window[1]] : [first, last];
    }
  }
  return [...groups.values()];
}

/** `<table>_<suffix>`, within PostgreSQL's 63 characters (a long table name is cut and told apart by a hash). */
function indexName(table: string, suffix: string): string {
  const name = `${table}_${suffix}`;
  if (name.length <= 63) return name;
  const hash = createHash('sha1').update(table).digest('hex').slice(0, 8);
  return `${table.slice(0, 63 - suffix.length - 10)}_${hash}_${suffix}`;
}

/**
 * The strings of `timeOnly` scalars in toISOString's form, as castTo writes them on the
 * row path, rewritten in place. The direct path takes only that form as is, and clients
 * send others: `sentAt` is kept as sent (Python's isoformat: microseconds and `+00:00`),
 * and properties hold times like `2024-01-01T00:00:00Z`. Without this, every such event
 * went row by row (loads 3× slower). A value castTo refuses stays as it is (its batch
 * does not fit, and the row path discards it).
 */
function recastTimes(timeOnly: readonly boolean[], values: (string | number | boolean)[]): void {
  for (let i = 0; i < timeOnly.length; i++) {
    const v = values[i];
    if (!timeOnly[i] || typeof v !== 'string' || isCanonicalTime(v)) continue;
    const c = castTo(v, 'timestamp', null);
    if (c.ok) values[i] = c.value as string;
  }
}

/**
 * The kind a batch's first event sets for the others (ShapeBatch.first): whole numbers
 * and fractions are one kind, as they fit the same double column (and a batch with
 * both widens a bigint column to double); splitting them made half of a batch with a
 * price-like property a second batch for nothing.
 */
function broadKind(v: string | number | boolean): number {
  return typeof v === 'string' ? STRING : typeof v === 'number' ? INTEGER | FRACTION : BOOLEAN;
}

/** The kind of JavaScript value, as ShapeBatch.types counts it. */
function valueKind(v: string | number | boolean): number {
  return typeof v === 'string' ? STRING : typeof v === 'number' ? (Number.isSafeInteger(v) ? INTEGER : FRACTION) : BOOLEAN;
}

/** One value as ShapeBatch.types sums it up, against its column's type: what `fits` decides for a whole batch. */
function valueFits(v: string | number | boolean, t: ColumnType | undefined, width: number | null): boolean {
  switch (t) {
    case 'varchar': return typeof v === 'string' && (width === null || v.length <= width);
    case 'timestamp': return typeof v === 'string' && isCanonicalTime(v);
    case 'bigint': return typeof v === 'number' && Number.isSafeInteger(v);
    case 'double': return typeof v === 'number';
    case 'boolean': return typeof v === 'boolean';
    default: return false;
  }
}

/** A new batch for the events of one source and shape. */
function shapeBatch(shape: EventShape, sourceId: string, schema: string, cell: (v: string) => string, uuidTs: string, to: Targets, timeOnly: boolean[], splits = true): ShapeBatch {
  const n = shape.columns.length;
  const tail = [...shape.consts.map(([c]) => c), 'uuid_ts'];
  const b: ShapeBatch = {
    shape, sourceId, schema, uuidTs, to, timeOnly, payloads: [],
    kinds: new Array<ColumnType | undefined>(n).fill(undefined),
    types: new Array<number>(n).fill(0),
    canonical: new Array<boolean>(n).fill(true),
    longest: new Array<number>(n).fill(0),
    first: splits ? [] : null,
    copy: {
      own: new CopyRows(),
      ownColumns: [...shape.columns.filter((c, i): c is string => to.inOwn[i]!), ...tail],
      tracks: new CopyRows(),
      trackColumns: [...shape.columns.filter((c, i): c is string => to.inTracks[i]!), ...tail],
      suffix: [...shape.consts.map(([, v]) => cell(v)), uuidTs].join('\t'),
    },
  };
  const at = shape.columns.indexOf('received_at');
  if (at >= 0) b.received = { at, first: '', last: '' };
  return b;
}

/** One shaped event into its batch: its values summed up and written as the dialect's text lines, its payload kept. */
function addShaped(b: ShapeBatch, payload: string, values: readonly (string | number | boolean)[], cell: (v: string | number | boolean) => string): void {
  const { columns, fixed } = b.shape;
  const first = b.first;
  if (first !== null) {
    if (first.length === 0) {
      for (let i = 0; i < columns.length; i++) first.push(broadKind(values[i]!));
    } else {
      for (let i = 0; i < columns.length; i++) {
        if (columns[i] !== null && broadKind(values[i]!) !== first[i]) {
          b.deviants ??= shapeBatch(b.shape, b.sourceId, b.schema, cell, b.uuidTs, b.to, b.timeOnly, false);
          addShaped(b.deviants, payload, values, cell);
          return;
        }
      }
    }
  }
  b.payloads.push(payload);
  own.length = 0;
  tracks.length = 0;
  for (let i = 0; i < columns.length; i++) {
    if (columns[i] === null) continue;
    const v = values[i]!;
    const prev = b.kinds[i];
    if (prev !== 'varchar') {
      const k = fixed[i] ?? inferType(v);
      if (prev !== k) b.kinds[i] = prev ? widen(prev, k) : k;
    }
    b.types[i]! |= valueKind(v);
    if (typeof v === 'string') {
      if (v.length > b.longest[i]!) b.longest[i] = v.length;
      if (b.canonical[i] && !isCanonicalTime(v)) b.canonical[i] = false;
    }
    const text = cell(v);
    if (b.to.inOwn[i]) own.push(text);
    if (b.to.inTracks[i]) tracks.push(text);
  }
  const received = b.received;
  if (received) {
    // Compared as text: only batches whose timestamps are all in toISOString's form are copied.
    const v = values[received.at] as string;
    if (received.first === '' || v < received.first) received.first = v;
    if (v > received.last) received.last = v;
  }
  const { copy } = b;
  own.push(copy.suffix);
  tracks.push(copy.suffix);
  const id = values[0] as string; // messageId: a shape always has it, first
  copy.own.add(id, own.join('\t'));
  copy.tracks.add(id, tracks.join('\t'));
}
/** addShaped's scratch: the cells of an event's two lines (joined, not concatenated one by one: a flat string is cheaper to encode). */
const own: string[] = [];
const tracks: string[] = [];
