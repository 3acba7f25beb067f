import type { FlatValue } from '../../protocol/warehouse-naming.js';
import type { ColumnType } from './types.js';

/**
 * Column types from data (seed: "Data types are set up in your warehouse based on
 * the first value"), widened only when that loses nothing: bigint → double, and a
 * column first seen with mixed kinds in one batch is created as varchar. A later
 * value that cannot be cast to an existing column goes to the discards table.
 */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;
/**
 * Timestamps are kept to the years 1–9999: every target takes those (PostgreSQL refuses
 * year 0, and toISOString writes years outside them in a form it cannot read). Before,
 * one such value in a timestamp column failed every load of its batch, for good.
 */
const FIRST_TIME = Date.parse('0001-01-01T00:00:00.000Z');
const LAST_TIME = Date.parse('9999-12-31T23:59:59.999Z');
/** `v` parsed as a time, when it is one within the years 1–9999. */
function timeOf(v: string): number | undefined {
  const ms = Date.parse(v);
  return ms >= FIRST_TIME && ms <= LAST_TIME ? ms : undefined;
}

export function inferType(v: FlatValue): ColumnType {
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return Number.isSafeInteger(v) ? 'bigint' : 'double';
  if (typeof v === 'string' && ISO_TIME.test(v) && timeOf(v) !== undefined) return 'timestamp';
  return 'varchar';
}

/** The narrowest type that holds both. */
export function widen(a: ColumnType, b: ColumnType): ColumnType {
  if (a === b) return a;
  if ((a === 'bigint' && b === 'double') || (a === 'double' && b === 'bigint')) return 'double';
  return 'varchar';
}

export type Cast = { ok: true; value: string | number | boolean } | { ok: false; reason: string };

/** Casts a value to a column's type; strings are truncated to `width` characters where the target has one. */
export function castTo(v: FlatValue, t: ColumnType, width: number | null): Cast {
  if (v === null) return { ok: false, reason: 'null' };
  switch (t) {
    case 'varchar': {
      const s = typeof v === 'string' ? v : String(v);
      return { ok: true, value: width !== null && s.length > width ? s.slice(0, width) : s };
    }
    case 'bigint':
      if (typeof v === 'number' && Number.isSafeInteger(v)) return { ok: true, value: v };
      if (typeof v === 'string' && /^-?\d{1,15}$/.test(v)) return { ok: true, value: Number(v) };
      return { ok: false, reason: `cannot cast ${describe(v)} to bigint` };
    case 'double':
      if (typeof v === 'number' && Number.isFinite(v)) return { ok: true, value: v };
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return { ok: true, value: Number(v) };
      return { ok: false, reason: `cannot cast ${describe(v)} to double` };
    case 'boolean':
      if (typeof v === 'boolean') return { ok: true, value: v };
      if (v === 'true' || v === 'false') return { ok: true, value: v === 'true' };
      return { ok: false, reason: `cannot cast ${describe(v)} to boolean` };
    case 'timestamp': {
      const ms = typeof v === 'string' ? timeOf(v) : undefined;
      if (ms !== undefined) return { ok: true, value: new Date(ms).toISOString() };
      const outside = typeof v === 'string' && !Number.isNaN(Date.parse(v));
      return { ok: false, reason: `cannot cast ${describe(v)} to timestamp${outside ? ' (outside the years 1 to 9999)' : ''}` };
    }
  }
}

function describe(v: string | number | boolean): string {
  return typeof v === 'string' ? `string "${v.length > 40 ? `${v.slice(0, 40)}…` : v}"` : `${typeof v} ${String(v)}`;
}
