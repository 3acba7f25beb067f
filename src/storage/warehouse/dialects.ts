import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import pg from 'pg';
import type { ColumnType, Dialect } from './types.js';

/**
 * One dialect per target. Everything else in the loader is shared SQL: standard
 * `information_schema`, `CREATE TABLE IF NOT EXISTS`, `ALTER TABLE ... ADD COLUMN`,
 * `INSERT ... SELECT ... WHERE NOT EXISTS` and `ON CONFLICT`, so Redshift,
 * Snowflake, BigQuery or ClickHouse come as another object here.
 */
const quote = (ident: string) => `"${ident.replace(/"/g, '""')}"`;
const str = (s: string) => `'${s.replace(/'/g, "''")}'`;

function literal(sqlType: (t: ColumnType) => string) {
  return (value: string | number | boolean | null, t: ColumnType): string => {
    if (value === null) return `CAST(NULL AS ${sqlType(t)})`;
    if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
    if (typeof value === 'number') return t === 'double' ? `CAST(${String(value)} AS ${sqlType('double')})` : String(value);
    // PostgreSQL refuses NUL in text; no event needs it.
    return `CAST(${str(value.replace(/\0/g, ''))} AS ${sqlType(t)})`;
  };
}

const fromDataType = (d: string): ColumnType => {
  const x = d.toLowerCase();
  if (x.startsWith('timestamp')) return 'timestamp';
  if (x === 'bigint' || x === 'integer' || x === 'int8' || x === 'int4' || x === 'hugeint') return 'bigint';
  if (x === 'double' || x === 'double precision' || x === 'float' || x === 'real' || x === 'float8') return 'double';
  if (x === 'boolean') return 'boolean';
  return 'varchar';
};

/**
 * DuckDB (embedded): one file, no server; a user queries it with the duckdb CLI
 * once the loader has released it. VARCHAR has no width in DuckDB, so strings are
 * kept whole there (the 512-character limit is a Redshift/PostgreSQL column width).
 */
export async function openDuckDb(path: string): Promise<Dialect> {
  const instance = await DuckDBInstance.create(path);
  const conn: DuckDBConnection = await instance.connect();
  const sqlType = (t: ColumnType) =>
    ({ timestamp: 'TIMESTAMP WITH TIME ZONE', bigint: 'BIGINT', double: 'DOUBLE', boolean: 'BOOLEAN', varchar: 'VARCHAR' })[t];
  return {
    name: 'duckdb',
    varcharWidth: null,
    indexIds: false,
    sqlType,
    quote,
    literal: literal(sqlType),
    keepOld: (_table, column) => `COALESCE(excluded.${quote(column)}, ${quote(column)})`,
    // DuckDB parses long VALUES lists slowly; its appender is the fast path.
    async stage(schema, name, columns, rows) {
      const stageType = (t: ColumnType) => (t === 'timestamp' ? 'VARCHAR' : sqlType(t));
      await conn.run(`CREATE SCHEMA IF NOT EXISTS ${quote(schema)}`);
      await conn.run(`CREATE OR REPLACE TABLE ${quote(schema)}.${quote(name)} (${columns.map(([c, t]) => `${quote(c)} ${stageType(t)}`).join(', ')})`);
      const appender = await conn.createAppender(name, schema);
      for (const row of rows) {
        row.forEach((v, i) => {
          if (v === null) return appender.appendNull();
          switch (columns[i]![1]) {
            case 'bigint': return appender.appendBigInt(BigInt(v as number));
            case 'double': return appender.appendDouble(v as number);
            case 'boolean': return appender.appendBoolean(v as boolean);
            default: return appender.appendVarchar(String(v));
          }
        });
        appender.endRow();
      }
      appender.closeSync();
      return `${quote(schema)}.${quote(name)}`;
    },
    async exec(sql) {
      return (await conn.run(sql)).rowsChanged;
    },
    async query(sql) {
      return (await conn.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
    },
    columnType: fromDataType,
    async close() {
      conn.closeSync();
      instance.closeSync();
    },
  };
}

/** PostgreSQL: varchar(512) as Segment's managed schemas, timestamps with time zone. */
export async function openPostgres(url: string): Promise<Dialect> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  // A dropped connection surfaces as a failed statement; the sync fails and the next one reconnects.
  client.on('error', () => {});
  const sqlType = (t: ColumnType) =>
    ({ timestamp: 'timestamp with time zone', bigint: 'bigint', double: 'double precision', boolean: 'boolean', varchar: 'varchar(512)' })[t];
  return {
    name: 'postgres',
    varcharWidth: 512,
    indexIds: true,
    sqlType,
    quote,
    literal: literal(sqlType),
    keepOld: (table, column) => `COALESCE(EXCLUDED.${quote(column)}, ${quote(table)}.${quote(column)})`,
    async exec(sql) {
      return (await client.query(sql)).rowCount ?? 0;
    },
    async query(sql) {
      return (await client.query(sql)).rows as Record<string, unknown>[];
    },
    columnType: fromDataType,
    async close() {
      await client.end();
    },
  };
}
