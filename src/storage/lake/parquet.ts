import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { duckType, type LakeValue } from './schema.js';
import type { ColumnDef } from './state.js';

/**
 * Writes Parquet with an in-memory DuckDB: rows are appended to a scratch table
 * (decimals and timestamps as text, cast on the way out with TRY_CAST, so a value
 * DuckDB refuses becomes null rather than failing the file), then one
 * `COPY (SELECT ...) TO 'file.parquet' (FORMAT PARQUET)` per partition. Partition
 * columns are not in the files (Hive layout: they come from the path).
 */
const quote = (ident: string) => `"${ident.replace(/"/g, '""')}"`;
const str = (s: string) => `'${s.replace(/'/g, "''")}'`;

export class ParquetWriter {
  private constructor(private readonly instance: DuckDBInstance, private readonly conn: DuckDBConnection) {}

  static async open(): Promise<ParquetWriter> {
    // Loaded with the first lake sync: a thread that loads only PostgreSQL never needs DuckDB.
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
    return new ParquetWriter(instance, await instance.connect());
  }

  /**
   * Writes `rows` (values in `columns` order) split by partition: `files` maps a
   * partition id (the row's last value is its partition id) to the file to write.
   */
  async write(columns: readonly ColumnDef[], rows: readonly LakeValue[][], files: ReadonlyMap<string, string>): Promise<void> {
    const staged = (c: ColumnDef) => (c.type === 'bigint' || c.type === 'boolean' ? duckType(c.type) : 'VARCHAR');
    await this.conn.run(`CREATE OR REPLACE TABLE _lake_stage (${columns.map((c, i) => `c${i} ${staged(c)}`).join(', ')}${columns.length ? ', ' : ''}_part VARCHAR)`);
    const appender = await this.conn.createAppender('_lake_stage');
    for (const row of rows) {
      for (let i = 0; i < columns.length; i++) {
        const v = row[i] ?? null;
        if (v === null) appender.appendNull();
        else if (columns[i]!.type === 'bigint') appender.appendBigInt(v as bigint);
        else if (columns[i]!.type === 'boolean') appender.appendBoolean(v as boolean);
        else appender.appendVarchar(String(v));
      }
      appender.appendVarchar(String(row[columns.length]));
      appender.endRow();
    }
    appender.closeSync();
    const select = columns.map((c, i) => {
      const col = `c${i}`;
      const expr = c.type === 'decimal(38,6)' || c.type === 'timestamp' ? `TRY_CAST(${col} AS ${duckType(c.type)})` : col;
      return `${expr} AS ${quote(c.name)}`;
    }).join(', ');
    for (const [part, file] of files) {
      await this.conn.run(`COPY (SELECT ${select} FROM _lake_stage WHERE _part = ${str(part)}) TO ${str(file)} (FORMAT PARQUET, COMPRESSION SNAPPY)`);
    }
    await this.conn.run('DROP TABLE _lake_stage');
  }

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}
