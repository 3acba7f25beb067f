import fs from 'node:fs';
import path from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { describePostgres } from '../../config/warehouse-settings.js';
import type { WarehouseConfig } from '../../storage/warehouse/types.js';

/**
 * Validation of warehouse settings by really connecting (`createValidationInWarehouse`,
 * `getConnectionStateFromWarehouse`). Messages name the target (file, host:port/db),
 * never credentials.
 */
export type ConnectResult = { ok: true } | { ok: false; message: string };

const TIMEOUT_MS = 10_000;

export async function tryConnect(type: WarehouseConfig['type'], settings: WarehouseConfig['settings'], dataDir: string): Promise<ConnectResult> {
  return type === 'duckdb' ? tryDuckDb(path.resolve(dataDir, settings.path ?? 'warehouse.duckdb')) : tryPostgres(settings.url ?? '');
}

async function tryDuckDb(file: string): Promise<ConnectResult> {
  const dir = path.dirname(file);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, message: code === 'ENOENT' ? `DuckDB cannot create ${file}: the directory ${dir} does not exist` : `DuckDB cannot write in ${dir} (${code ?? 'access denied'})` };
  }
  const existed = fs.existsSync(file);
  // An existing file is opened read-only: the loader thread may write it at the same
  // moment, and a second writer in this process would not be stopped by DuckDB's file lock.
  let instance: DuckDBInstance | undefined;
  try {
    // Loaded on first use: DuckDB's native library costs ~30 MB of RSS (its loader thread has its own).
    const { DuckDBInstance } = await import('@duckdb/node-api');
    instance = await DuckDBInstance.create(file, existed ? { access_mode: 'READ_ONLY' } : {});
    const conn = await instance.connect();
    await conn.run('SELECT 1');
    conn.closeSync();
    return { ok: true };
  } catch (err) {
    return { ok: false, message: `DuckDB could not open ${file}: ${(err as Error).message}` };
  } finally {
    instance?.closeSync();
    // A validation leaves nothing behind: the loader creates the file on its first sync.
    if (!existed) for (const f of [file, `${file}.wal`]) fs.rmSync(f, { force: true });
  }
}

async function tryPostgres(url: string): Promise<ConnectResult> {
  const where = describePostgres(url);
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: TIMEOUT_MS, statement_timeout: TIMEOUT_MS });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return { ok: true };
  } catch (err) {
    const e = err as Error & { code?: string };
    return { ok: false, message: `could not connect to PostgreSQL at ${where}: ${e.message || e.code || 'connection failed'}` };
  } finally {
    await client.end().catch(() => {});
  }
}
