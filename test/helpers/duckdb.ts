import { DuckDBInstance } from '@duckdb/node-api';

/** Statements of a SQL script (as `catalog.sql` is written): comment lines dropped, split on `;` at line ends. */
export function splitSql(text: string): string[] {
  return text.split('\n').filter((l) => !l.startsWith('--') && l.trim()).join('\n').split(/;\n/).map((s) => s.replace(/;\s*$/, '')).filter(Boolean);
}

/**
 * One query on a fresh DuckDB: a warehouse file opened read-only (the loader may hold
 * it between syncs), or `:memory:` (default) after an optional setup script (a data
 * lake's catalog). Rows as plain objects.
 */
export async function duckQuery<T = Record<string, unknown>>(sql: string, opts: { file?: string; init?: string } = {}): Promise<T[]> {
  const i = await DuckDBInstance.create(opts.file ?? ':memory:', opts.file ? { access_mode: 'READ_ONLY' } : {});
  const c = await i.connect();
  try {
    if (opts.init) for (const stmt of splitSql(opts.init)) await c.run(stmt);
    return (await c.runAndReadAll(sql)).getRowObjectsJS() as T[];
  } finally {
    c.closeSync();
    i.closeSync();
  }
}
