import fs from 'node:fs';
import path from 'node:path';
import { DATA_PREFIX, REPORTS_PREFIX, partitionKeys } from './layout.js';
import type { ColumnDef } from './state.js';
import { SEGMENT_DATALAKE_DB, type Partitioning } from './types.js';

/**
 * The schema catalog, as AWS Glue would hold it (seed 001, "AWS Glue data
 * catalog"): one database per source (named after the source slug), one table per
 * `segment_type` with its inferred columns in the order they were first seen,
 * partition keys, location and partitions, in the shape of Glue's `GetTable`
 * (plus its partitions), as one JSON file per table:
 *   <catalog dir>/glue/<database>/<table>.json
 * and `__segment_datalake/sync_reports.json` for the sync reports. From those
 * files `catalog.sql` is generated: DuckDB views over the Parquet files and the
 * reports, so `duckdb -init catalog.sql` (or `.read catalog.sql`) queries the lake
 * with the names Athena would use: `SELECT * FROM web_prod.order_completed`.
 */
export interface GlueTable {
  Name: string;
  DatabaseName: string;
  TableType: 'EXTERNAL_TABLE';
  Parameters: Record<string, string>;
  PartitionKeys: { Name: string; Type: string }[];
  StorageDescriptor: {
    Columns: { Name: string; Type: string }[];
    Location: string;
    InputFormat: string;
    OutputFormat: string;
    SerdeInfo: { SerializationLibrary: string; Parameters: Record<string, string> };
  };
  Partitions: { Values: string[]; StorageDescriptor: { Location: string } }[];
  UpdateTime: string;
}

const PARQUET = {
  InputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
  OutputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
  SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe', Parameters: { 'serialization.format': '1' } },
};

export function glueTable(o: {
  database: string; table: string; root: string; sourceId: string; partitioning: Partitioning;
  columns: readonly ColumnDef[]; partitions: readonly string[]; now?: Date;
}): GlueTable {
  const location = `${o.root}${DATA_PREFIX}/${o.sourceId}/segment_type=${o.table}/`;
  return {
    Name: o.table,
    DatabaseName: o.database,
    TableType: 'EXTERNAL_TABLE',
    Parameters: { classification: 'parquet', EXTERNAL: 'TRUE', 'switchyard.source_id': o.sourceId },
    PartitionKeys: partitionKeys(o.partitioning).map((Name) => ({ Name, Type: 'string' })),
    StorageDescriptor: { Columns: o.columns.map((c) => ({ Name: c.name, Type: c.type })), Location: location, ...PARQUET },
    Partitions: o.partitions.map((p) => ({
      Values: p.split('/').map((kv) => kv.slice(kv.indexOf('=') + 1)),
      StorageDescriptor: { Location: `${location}${p}/` },
    })),
    UpdateTime: (o.now ?? new Date()).toISOString(),
  };
}

/** The columns of `__segment_datalake.sync_reports` (seed 000) as DuckDB reads the JSON. */
export const SYNC_REPORT_COLUMNS: readonly [string, string, string][] = [
  // [name, Glue type, DuckDB type]
  ['type', 'string', 'VARCHAR'],
  ['workspace_id', 'string', 'VARCHAR'],
  ['source_id', 'string', 'VARCHAR'],
  ['run_id', 'string', 'VARCHAR'],
  ['start_time', 'string', 'VARCHAR'],
  ['finish_time', 'string', 'VARCHAR'],
  ['duration_mins', 'bigint', 'BIGINT'],
  ['status', 'string', 'VARCHAR'],
  ['error', 'string', 'VARCHAR'],
  ['error_code', 'string', 'VARCHAR'],
  ['table_name', 'string', 'VARCHAR'],
  ['database', 'string', 'VARCHAR'],
  ['partitions', 'array<struct<year:string,month:string,day:string,hr:string>>', 'STRUCT(year VARCHAR, month VARCHAR, day VARCHAR, hr VARCHAR)[]'],
  ['new_columns', 'array<struct<name:string,type:string>>', 'STRUCT(name VARCHAR, type VARCHAR)[]'],
  ['row_count', 'bigint', 'BIGINT'],
  ['emr_cluster_id', 'string', 'VARCHAR'],
  ['s3_bucket', 'string', 'VARCHAR'],
];

export function syncReportsTable(reportsRoot: string, now = new Date()): GlueTable {
  const location = `${reportsRoot}${REPORTS_PREFIX}/`;
  return {
    Name: 'sync_reports',
    DatabaseName: SEGMENT_DATALAKE_DB,
    TableType: 'EXTERNAL_TABLE',
    Parameters: { classification: 'json', EXTERNAL: 'TRUE' },
    PartitionKeys: [{ Name: 'day', Type: 'string' }, { Name: 'source', Type: 'string' }, { Name: 'run_id', Type: 'string' }],
    StorageDescriptor: {
      // run_id is both in the objects and in the path: Glue lists it once, as a partition key.
      Columns: SYNC_REPORT_COLUMNS.filter(([n]) => n !== 'run_id').map(([Name, Type]) => ({ Name, Type })),
      Location: location,
      InputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
      OutputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
      SerdeInfo: { SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe', Parameters: { 'serialization.format': '1' } },
    },
    Partitions: [],
    UpdateTime: now.toISOString(),
  };
}

export function writeGlueTable(catalogDir: string, t: GlueTable): void {
  const file = path.join(catalogDir, 'glue', t.DatabaseName, `${t.Name}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(t, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

const quote = (ident: string) => `"${ident.replace(/"/g, '""')}"`;
const str = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** DuckDB's reader for one catalog table (a view body). */
export function viewSql(t: GlueTable): string {
  const loc = t.StorageDescriptor.Location;
  const glob = `${loc}${t.PartitionKeys.map(() => '*/').join('')}`;
  if (t.DatabaseName === SEGMENT_DATALAKE_DB && t.Name === 'sync_reports') {
    const columns = SYNC_REPORT_COLUMNS.map(([n, , d]) => `${n}: ${str(d)}`).join(', ');
    // `sync_duration` and `new_column` are the names the seed's schema table uses for `duration_mins` and `new_columns`.
    return `SELECT *, duration_mins AS sync_duration, new_columns AS new_column FROM read_json(${str(`${glob}report.json`)}, format = 'newline_delimited', hive_partitioning = true, hive_types_autocast = false, columns = {${columns}})`;
  }
  return `SELECT * FROM read_parquet(${str(`${glob}*.parquet`)}, hive_partitioning = true, hive_types_autocast = false, union_by_name = true)`;
}

/**
 * Regenerates `<catalog dir>/catalog.sql` from every table JSON under
 * `<catalog dir>/glue/` (so lakes sharing a directory share one file). Tables
 * with no partitions yet have no files and are left out (DuckDB refuses a view
 * over an empty glob).
 */
export function writeCatalogSql(catalogDir: string): string {
  const glue = path.join(catalogDir, 'glue');
  const tables: GlueTable[] = [];
  for (const db of fs.existsSync(glue) ? fs.readdirSync(glue).sort() : []) {
    const dir = path.join(glue, db);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const f of fs.readdirSync(dir).sort()) {
      if (!f.endsWith('.json')) continue;
      try {
        tables.push(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as GlueTable);
      } catch {
        /* a table being rewritten by another lake: it comes back on the next sync */
      }
    }
  }
  const lines = [
    '-- Generated by Switchyard from glue/*/*.json: the data lake catalog as DuckDB views.',
    '-- Use: duckdb -init catalog.sql   (or, in any DuckDB session: .read catalog.sql)',
    '-- Then: SELECT * FROM "<source slug>"."<table>"; SELECT * FROM "__segment_datalake"."sync_reports";',
  ];
  if (tables.some((t) => t.StorageDescriptor.Location.startsWith('s3://'))) {
    lines.push(
      '-- S3 locations need the httpfs extension and a secret:',
      "--   INSTALL httpfs; LOAD httpfs; CREATE SECRET (TYPE s3, KEY_ID '...', SECRET '...', REGION '...', ENDPOINT '...', URL_STYLE 'path');",
    );
  }
  const schemas = new Set<string>();
  for (const t of tables) {
    if (t.Name !== 'sync_reports' && t.Partitions.length === 0) continue;
    if (!schemas.has(t.DatabaseName)) {
      lines.push(`CREATE SCHEMA IF NOT EXISTS ${quote(t.DatabaseName)};`);
      schemas.add(t.DatabaseName);
    }
    lines.push(`CREATE OR REPLACE VIEW ${quote(t.DatabaseName)}.${quote(t.Name)} AS ${viewSql(t)};`);
  }
  const file = path.join(catalogDir, 'catalog.sql');
  fs.mkdirSync(catalogDir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${lines.join('\n')}\n`);
  fs.renameSync(tmp, file);
  return file;
}
