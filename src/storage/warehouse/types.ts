/**
 * The warehouse loader's contracts: what it reads (a lane of the event log, seen
 * structurally so this layer does not import the log), where it writes (a
 * dialect per target), and what it records (sync history).
 */
import type { CopyRows } from './copy-rows.js';
import type { SyncSchedule } from '../scheduled-sync.js';

export type ColumnType = 'timestamp' | 'bigint' | 'double' | 'boolean' | 'varchar';

export interface WarehouseConfig {
  id: string;
  type: 'duckdb' | 'postgres';
  /** Sources to load, with the slug that names their schema. */
  sources: { id: string; slug: string }[];
  /**
   * `schedule`: sync at these hours (an API warehouse's advanced sync schedule, when
   * enabled) instead of every `syncIntervalSeconds`, unless that interval is set below
   * an hour (`syncTiming` in ../scheduled-sync.ts).
   */
  settings: { path?: string; url?: string; syncIntervalSeconds?: number; schedule?: SyncSchedule };
  /**
   * Selective sync (Public API `syncOverrides`): `enabled: false` on a source keeps
   * its events waiting in the lane (loaded when re-enabled: catch-up); on a
   * collection (table) or property (column) they are skipped (re-enabling syncs
   * only new data, as the seed says).
   */
  syncOverrides?: { sourceId: string; collection?: string; property?: string; enabled: boolean }[];
}

/** The subset of the log's Lane the loader needs (src/log/types.ts satisfies it). */
export interface LoaderMessage {
  seq: number;
  sourceId: string;
  messageId: string;
  payload: string;
  receivedAt: number;
}
export interface LoaderLane<M extends LoaderMessage = LoaderMessage> {
  fetch(max: number, now: number): Promise<M[]>;
  ack(message: M): void;
  retry(message: M, notBefore: number, attemptedAt: number): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** One SQL connection to a target; statements run one at a time. */
export interface Dialect {
  readonly name: string;
  /** Longest string a varchar column takes (Segment: 512), or null when the target has no width. */
  readonly varcharWidth: number | null;
  /** Most columns a table takes (PostgreSQL: 1,600, dropped ones included), or null when the target sets no such limit. */
  readonly maxColumns: number | null;
  /** Whether the target wants an index on `(received_at, id)` for the insert-where-not-exists dedupe. */
  readonly indexIds: boolean;
  sqlType(t: ColumnType): string;
  quote(ident: string): string;
  literal(value: string | number | boolean | null, t: ColumnType): string;
  /** In an ON CONFLICT DO UPDATE: keep the stored value when the new one is null. */
  keepOld(table: string, column: string): string;
  /**
   * Optional bulk path: (re)creates the session's temporary scratch table `name`
   * with these columns (timestamps as varchar; `schema` is not used: temporary
   * tables live in the session's own schema) and appends the rows (PostgreSQL: COPY
   * FROM STDIN), outside any transaction; returns the name for `INSERT ... SELECT`.
   * Without it, rows go in as VALUES lists.
   */
  stage?(schema: string, name: string, columns: [string, ColumnType][], rows: (string | number | boolean | null)[][]): Promise<string>;
  /**
   * Optional direct path: appends to a target table (`"schema"."table"`), in the open
   * transaction, the rows whose id it does not hold yet among its rows received in
   * `received` (first, last; null: rows without received_at), from text lines made
   * beforehand with `copyCell` (values already of their columns' types), in parts:
   * one per shape of event, each with its columns and their types in line order (a
   * column a part lacks is null in its rows). Returns the rows written. The loader's
   * shaped events go through it, one call per table and load: PostgreSQL by one id
   * lookup, then `COPY ... FROM STDIN` per part; DuckDB by one `INSERT ... SELECT ...
   * WHERE NOT EXISTS` reading the parts as CSV files (`UNION ALL BY NAME`). Before, a
   * call per part repeated the id check: a stream with optional properties (dozens of
   * shapes a load) loaded 2-3× slower. The id check holds because one loader writes to a warehouse at a time (its
   * lease). With `aside`, a dialect with `settleAside` writes the rows through a second
   * connection, in a transaction of its own that `settleAside` ends: the loader commits
   * it just before the main one and rolls it back with it. Should one commit and not
   * the other (a crash between the two), the re-load's id check per table adds only
   * what is missing. A dialect without it writes both in the one transaction.
   */
  copyNew?(table: string, parts: readonly CopyPart[], received: readonly [string, string] | null, aside?: boolean): Promise<number>;
  /** A value as `copyNew`'s lines hold it (copy-rows.ts: copyText or csvText). */
  copyCell?(v: string | number | boolean | null): string;
  /** Ends the transaction of `copyNew(..., aside)`, if one is open: commit or roll back. */
  settleAside?(commit: boolean): Promise<void>;
  exec(sql: string): Promise<number>;
  query(sql: string): Promise<Record<string, unknown>[]>;
  /** Maps the target's reported data_type back to ours. */
  columnType(dataType: string): ColumnType;
  close(): Promise<void>;
}

export interface SyncRecord {
  id: number;
  warehouseId: string;
  sourceId: string;
  runId: string;
  startedAt: string;
  finishedAt: string;
  status: 'success' | 'failed';
  /** Rows loaded per table (collection). */
  rows: Record<string, number>;
  error: string | null;
}

/** One shape's rows for `Dialect.copyNew`: its columns and their types, in line order, and its lines. */
export interface CopyPart {
  columns: readonly (readonly [string, ColumnType])[];
  rows: CopyRows;
}
