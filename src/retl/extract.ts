import path from 'node:path';
import type { RetlSource } from './config.js';
import type { Row } from './diff.js';

/**
 * Extract: runs a model's query on its source and reads the result. Drivers are
 * loaded on first use (DuckDB's native library costs ~30 MB of RSS).
 *
 * PostgreSQL: the query runs in a READ ONLY transaction, so a model cannot change
 * the warehouse it reads. DuckDB: the file is opened read-only (a loader or the
 * user's client may hold it; DuckDB's own lock then fails the run, and the next
 * one retries). The whole result is read into memory: fine for the tables this
 * first slice targets; a cursor is the next step for large models.
 */
export interface Extracted {
  columns: string[];
  rows: Row[];
}

export type Extractor = (source: RetlSource, query: string) => Promise<Extracted>;

const TIMEOUT_MS = 10 * 60_000;

export function extractor(dataDir: string): Extractor {
  return (source, query) => (source.type === 'postgres' ? extractPostgres(source.url, query) : extractDuckDb(path.resolve(dataDir, source.path ?? 'warehouse.duckdb'), query));
}

async function extractPostgres(url: string, query: string): Promise<Extracted> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, statement_timeout: TIMEOUT_MS, connectionTimeoutMillis: 30_000 });
  // An idle client's socket error would otherwise be an unhandled 'error' event (a crash).
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query('BEGIN READ ONLY');
    const result = await client.query({ text: query, rowMode: 'array' });
    await client.query('COMMIT');
    const columns = result.fields.map((f) => f.name);
    const rows = (result.rows as unknown[][]).map((values) => Object.fromEntries(columns.map((c, i) => [c, jsonValue(values[i])])));
    return { columns, rows };
  } finally {
    await client.end().catch(() => {});
  }
}

async function extractDuckDb(file: string, query: string): Promise<Extracted> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
  try {
    const conn = await instance.connect();
    try {
      const reader = await conn.runAndReadAll(query);
      return { columns: reader.columnNames(), rows: reader.getRowObjectsJson() as Row[] };
    } finally {
      conn.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/** pg's values as JSON values: dates as ISO strings, buffers as base64 (int8 and numeric already arrive as strings). */
function jsonValue(v: unknown): unknown {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (typeof v === 'bigint') return v.toString();
  return v;
}
