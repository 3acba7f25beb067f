import { createHash } from 'node:crypto';
import type { Trigger } from './config.js';

/**
 * Record diffing (seed 001, "Reverse ETL System"): the model's unique identifier
 * column detects new, updated and deleted records. Pure: the previous run's
 * snapshot (key → row hash) comes in, the changes and the per-row errors go out.
 */
export type Row = Record<string, unknown>;

export interface Change {
  kind: Trigger;
  key: string;
  /** The row's hash now; for a deleted record, its hash in the snapshot. */
  hash: string;
  /** The record's columns; for a deleted record every column is null but the key (as Segment sends them). */
  row: Row;
}

export interface RowError {
  /** The row's position in the query's result, 0-based. */
  index: number;
  message: string;
}

export interface DiffResult {
  changes: Change[];
  errors: RowError[];
  /** Rows read from the source. */
  extracted: number;
}

/** A key as text: the snapshot stores keys as text so `1` and `"1"` are the same record (a column's type may change). */
function keyOf(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value.length > 0 ? value : undefined;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return value.toISOString();
  return undefined;
}

/** JSON with object keys sorted, so the hash does not depend on column order. */
function canonical(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'bigint') return JSON.stringify(value.toString());
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj).sort().map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function rowHash(row: Row): string {
  return createHash('sha256').update(canonical(row)).digest('hex').slice(0, 32);
}

/**
 * The first run (an empty snapshot) counts every row as added. A row without the
 * key, or with a key an earlier row of this result already had, is an error for
 * that row (the first row of a key wins); it never stops the run. A duplicated key
 * is not "deleted": its first row is there. (A row without a key cannot be matched
 * to a record, so a record whose key column became null is seen as deleted.)
 */
export function diffRows(rows: readonly Row[], primaryKey: string, columns: readonly string[], previous: ReadonlyMap<string, string>): DiffResult {
  const changes: Change[] = [];
  const errors: RowError[] = [];
  const seen = new Set<string>();
  rows.forEach((row, index) => {
    const key = keyOf(row[primaryKey]);
    if (key === undefined) {
      errors.push({ index, message: `the row has no value in the primary key column "${primaryKey}"` });
      return;
    }
    if (seen.has(key)) {
      errors.push({ index, message: `duplicate primary key "${key}" in column "${primaryKey}": the first row with it is synced, this one is not` });
      return;
    }
    seen.add(key);
    const hash = rowHash(row);
    const before = previous.get(key);
    if (before === undefined) changes.push({ kind: 'added', key, hash, row });
    else if (before !== hash) changes.push({ kind: 'updated', key, hash, row });
  });
  for (const [key, hash] of previous) {
    if (seen.has(key)) continue;
    const row: Row = Object.fromEntries(columns.map((c) => [c, null]));
    row[primaryKey] = key;
    changes.push({ kind: 'deleted', key, hash, row });
  }
  return { changes, errors, extracted: rows.length };
}
