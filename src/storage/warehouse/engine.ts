import type { FlatValue } from '../../protocol/warehouse-naming.js';
import { schemaName } from '../../protocol/warehouse-naming.js';
import { castTo, inferType, widen } from './columns.js';
import { DISCARDS_TABLE, FIXED_TYPES, rowsFor, type WarehouseRow } from './rows.js';
import type { ColumnType, Dialect, LoaderMessage, WarehouseConfig } from './types.js';

/**
 * Loads one batch of log messages into a warehouse, the same way for every
 * dialect:
 * 1. messages → rows per (schema, table) (rows.ts);
 * 2. schema evolution: tables and columns created when first seen, bigint columns
 *    widened to double when a float arrives (DDL runs before the data
 *    transaction: it is idempotent, and DuckDB refuses some ALTERs inside one);
 * 3. one transaction for every table of the batch: rows go in with
 *    `INSERT ... WHERE NOT EXISTS (same id)`, users/accounts are upserted keeping
 *    the latest non-null traits, uncastable values go to `discards`.
 * The caller acknowledges the batch on the log only after this resolves: a crash
 * before the commit loads nothing, a crash after it re-loads rows that NOT EXISTS
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

  async load(messages: readonly LoaderMessage[], now = new Date()): Promise<LoadResult> {
    const uuidTs = now.toISOString();
    const plans = new Map<string, TablePlan>();
    const tableSource = new Map<string, string>();
    const seen = new Set<string>();
    for (const m of messages) {
      const slug = this.slugOf(m.sourceId);
      if (!slug) continue;
      const schema = schemaName(slug);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(m.payload) as Record<string, unknown>;
      } catch {
        continue; // the log only holds validated JSON; nothing to load from anything else
      }
      for (const row of rowsFor(msg, uuidTs).rows) {
        if (this.off.size > 0) {
          if (this.off.has(`${m.sourceId}\0${row.table}`)) continue;
          for (const col of row.values.keys()) {
            if (col !== 'id' && !FIXED_TYPES.has(col) && this.off.has(`${m.sourceId}\0${row.table}\0${col}`)) row.values.delete(col);
          }
        }
        const key = `${schema}.${row.table}`;
        // Same id twice in a batch: keep the first (upserts merge instead).
        if (!row.upsert && seen.has(`${key}\0${String(row.values.get('id'))}`)) continue;
        if (!row.upsert) seen.add(`${key}\0${String(row.values.get('id'))}`);
        let plan = plans.get(key);
        if (!plan) plans.set(key, (plan = { schema, table: row.table, upsert: row.upsert, rows: [] }));
        plan.rows.push(row);
        tableSource.set(key, m.sourceId);
      }
    }

    // Schema evolution first.
    const discards = new Map<string, string[]>(); // schema → value tuples for discards
    const inserts: { plan: TablePlan; sql: string[] }[] = [];
    const staged: string[] = [];
    for (const plan of plans.values()) {
      if (plan.upsert) plan.rows = mergeUpserts(plan.rows);
      const types = await this.evolve(plan);
      inserts.push({ plan, sql: await this.insertSql(plan, types, discards, staged) });
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
      for (const [schema, tuples] of discards) {
        const t = `${this.db.quote(schema)}.${this.db.quote(DISCARDS_TABLE)}`;
        const cols = DISCARD_COLUMNS.map(([c]) => this.db.quote(c)).join(', ');
        for (let i = 0; i < tuples.length; i += CHUNK) {
          await this.db.exec(`INSERT INTO ${t} (${cols}) SELECT ${cols} FROM (VALUES ${tuples.slice(i, i + CHUNK).join(', ')}) AS v (${cols})
            WHERE NOT EXISTS (SELECT 1 FROM ${t} x WHERE x.id = v.id AND x.table_name = v.table_name AND x.column_name = v.column_name)`);
        }
      }
      await this.db.exec('COMMIT');
      for (const t of staged) await this.db.exec(`DROP TABLE IF EXISTS ${t}`);
    } catch (err) {
      await this.db.exec('ROLLBACK').catch(() => {});
      // What we believe about the target's columns may be stale after a failure.
      this.known.clear();
      this.schemas.clear();
      throw err;
    }
    return result;
  }

  /** Columns the batch needs, created or widened; returns the type of each column. */
  private async evolve(plan: TablePlan): Promise<Map<string, ColumnType>> {
    const wanted = new Map<string, ColumnType>();
    for (const row of plan.rows) {
      for (const [col, v] of row.values) {
        if (v === null) continue; // a column is created only for a non-null value
        const t = FIXED_TYPES.get(col) ?? inferType(v);
        const prev = wanted.get(col);
        wanted.set(col, prev ? widen(prev, t) : t);
      }
    }
    wanted.set('id', 'varchar');
    return this.ensureTable(plan.schema, plan.table, wanted, plan.upsert);
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
