import fs from 'node:fs/promises';
import os from 'node:os';
import nodePath from 'node:path';
import type { Writable } from 'node:stream';
import type { DuckDBConnection } from '@duckdb/node-api';
import type pg from 'pg';
import { copyText, CopyRows, csvText } from './copy-rows.js';
import type { ColumnType, CopyPart, Dialect } from './types.js';

/**
 * One dialect per target. Everything else in the loader is shared SQL: standard
 * `information_schema`, `CREATE TABLE IF NOT EXISTS`, `ALTER TABLE ... ADD COLUMN`,
 * `INSERT ... SELECT ... WHERE NOT EXISTS` and `ON CONFLICT`, so Redshift,
 * Snowflake, BigQuery or ClickHouse come as another object here.
 */
const quote = (ident: string) => `"${ident.replace(/"/g, '""')}"`;
const str = (s: string) => `'${s.replace(/'/g, "''")}'`;
let stageFiles = 0;
/** Parts (shapes) read by one DuckDB INSERT at most: a UNION of thousands would cost more to plan than it saves. */
const COPY_PARTS = 128;

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
  // Each driver is loaded with its first warehouse: DuckDB's native library alone is
  // ~30 MB of RSS that a thread loading only PostgreSQL (or only a lake) never needs.
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(path);
  const conn: DuckDBConnection = await instance.connect();
  // Each load commits ~20,000 events; with the default 16 MB threshold nearly every
  // commit checkpointed, rewriting the table's last, partly filled row group each time
  // (measured: commits 4× slower). Checkpoints now come every few hundred MB of WAL and
  // when the loader closes the file after a run.
  await conn.run(`SET checkpoint_threshold = '256MB'`);
  // The loader's own thread parses the next batch while DuckDB writes this one: DuckDB
  // gets the other cores. With every core (its default) on a 2-core machine, the two
  // fought for the same cores: 1M events took 24.8 s and 42 s of CPU; 21.5 s and 32 s
  // with one thread (docs/benchmarks.md).
  await conn.run(`SET threads = ${Math.max(1, os.availableParallelism() - 1)}`);
  // Staged rows are event data: they sit beside the database file, readable by its
  // owner only, and files a killed process left behind are removed here.
  const stageDir = path === ':memory:' ? os.tmpdir() : nodePath.dirname(path);
  const stagePrefix = `.${nodePath.basename(path)}.stage-`;
  await removeOrphanStages(stageDir, stagePrefix);
  /** The INSERT in flight on the connection: copyNew's statements run one after another. */
  let inserting: Promise<unknown> = Promise.resolve();
  const sqlType = (t: ColumnType) =>
    ({ timestamp: 'TIMESTAMP WITH TIME ZONE', bigint: 'BIGINT', double: 'DOUBLE', boolean: 'BOOLEAN', varchar: 'VARCHAR' })[t];
  return {
    name: 'duckdb',
    varcharWidth: null,
    maxColumns: null,
    indexIds: false,
    sqlType,
    quote,
    literal: literal(sqlType),
    keepOld: (_table, column) => `COALESCE(excluded.${quote(column)}, ${quote(column)})`,
    // DuckDB parses long VALUES lists slowly; its appender is the fast path. The
    // scratch table is a connection's temporary one: in memory, kept out of the
    // file's WAL and checkpoints.
    async stage(_schema, name, columns, rows) {
      const stageType = (t: ColumnType) => (t === 'timestamp' ? 'VARCHAR' : sqlType(t));
      await conn.run(`CREATE OR REPLACE TEMP TABLE ${quote(name)} (${columns.map(([c, t]) => `${quote(c)} ${stageType(t)}`).join(', ')})`);
      const appender = await conn.createAppender(name, 'main', 'temp');
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
      return `temp.main.${quote(name)}`;
    },
    // The rows as CSV text made while the batch was parsed (engine.ts), a file per part
    // (shape), read by DuckDB's CSV reader straight into typed columns inside one INSERT
    // per table (the parts joined by `UNION ALL BY NAME`, at most COPY_PARTS at a time)
    // that checks each row's (received_at, id) against the table. Both of a batch's tables
    // go through the one connection, one INSERT at a time; the next files are written
    // while the current INSERT runs.
    async copyNew(table, parts, received) {
      const files: string[] = [];
      try {
        let n = 0;
        for (let i = 0; i < parts.length; i += COPY_PARTS) {
          const reads: string[] = [];
          const union = new Map<string, ColumnType>(); // every part's columns, in order of first appearance
          for (const { columns, rows } of parts.slice(i, i + COPY_PARTS)) {
            const file = nodePath.join(stageDir, `${stagePrefix}${process.pid}-${++stageFiles}.csv`);
            files.push(file);
            try {
              const out = await fs.open(file, 'w', 0o600);
              try {
                await out.writev([...rows.data()]);
              } finally {
                await out.close().catch(() => {});
              }
            } catch (err) {
              throw new Error(`writing the stage file ${file} failed: ${(err as Error).message}`, { cause: err });
            }
            const spec = columns.map(([c, t]) => `${str(c)}: ${str(sqlType(t))}`).join(', ');
            reads.push(`SELECT * FROM read_csv(${str(file)}, columns = {${spec}}, header = false,
              delim = '\t', quote = '"', escape = '"', nullstr = '\\N', allow_quoted_nulls = false, auto_detect = false)`);
            for (const [c, t] of columns) if (!union.has(c)) union.set(c, t);
          }
          const list = [...union.keys()].map(quote).join(', ');
          // The batch's window of arrival times, as constants: DuckDB skips the table's row
          // groups outside it (by their min/max) instead of joining against every row.
          const where = received
            ? `x.received_at BETWEEN ${str(received[0])}::TIMESTAMPTZ AND ${str(received[1])}::TIMESTAMPTZ AND x.received_at = v.received_at`
            : 'x.received_at IS NULL';
          const from = `(${reads.map((r) => `(${r})`).join(' UNION ALL BY NAME ')}) AS v`;
          const run = inserting.then(async () => {
            // A row can only collide with one of the same received_at: when the table holds
            // none at or after the batch's first (the usual case: new events), the check is
            // skipped. Zone maps make the probe read the table's last row groups only.
            const clash = received
              ? (await conn.runAndReadAll(`SELECT 1 FROM ${table} WHERE received_at >= ${str(received[0])}::TIMESTAMPTZ LIMIT 1`)).currentRowCount > 0
              : true;
            return conn.run(clash
              ? `INSERT INTO ${table} (${list}) SELECT ${list} FROM ${from} WHERE NOT EXISTS (SELECT 1 FROM ${table} x WHERE ${where} AND x.id = v.id)`
              : `INSERT INTO ${table} (${list}) SELECT ${list} FROM ${from}`);
          });
          inserting = run.catch(() => {});
          n += Number((await run).rowsChanged);
        }
        return n;
      } finally {
        await Promise.all(files.map((f) => fs.rm(f, { force: true })));
      }
    },
    copyCell: csvText,
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

/** Deletes `<prefix><pid>-<n>.csv` files (`.ndjson` from earlier versions) in `dir` whose process is gone. */
async function removeOrphanStages(dir: string, prefix: string): Promise<void> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix) || !/\.(csv|ndjson)$/.test(name)) continue;
    const pid = Number(name.slice(prefix.length).split('-', 1)[0]);
    if (!Number.isInteger(pid)) continue;
    try {
      process.kill(pid, 0);
      continue; // still running (this process, or another loader)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    await fs.rm(nodePath.join(dir, name), { force: true });
  }
}

/** Resolves when the socket drains or closes (a closed one fails the query through the client). */
function drained(s: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.on('drain', done);
    s.on('close', done);
  });
}

type CopyConnection = { stream: Writable; sendCopyFromChunk(b: Buffer): void; endCopyFrom(): void; sendCopyFail(m: string): void };
type CopyQuery = pg.Query & {
  callback?: (err: Error | undefined, res?: { rowCount: number | null }) => void;
  handleCopyInResponse(c: CopyConnection): void;
};

/**
 * `COPY ... FROM STDIN` with the pg driver alone: its Query class is a Submittable
 * whose copyInResponse hook refuses by default; this one streams `source` as
 * CopyData messages (waiting for the socket to drain), then CopyDone. Resolves with
 * the rows copied.
 */
export async function copyFrom(client: pg.Client, sql: string, source: Iterable<Buffer | string> | AsyncIterable<Buffer | string>): Promise<number> {
  const { default: pg } = await import('pg'); // already loaded: the caller's client is one of its
  return new Promise((resolve, reject) => {
    let done = false;
    const q = new pg.Query(sql) as CopyQuery;
    q.callback = (err, res) => {
      done = true;
      if (err) reject(err);
      else resolve(res?.rowCount ?? 0);
    };
    q.handleCopyInResponse = (c) => {
      void (async () => {
        try {
          for await (const chunk of source) {
            if (done) return; // the server refused; it has answered already
            c.sendCopyFromChunk(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
            if (c.stream.writableNeedDrain) await drained(c.stream);
          }
          if (!done) c.endCopyFrom();
        } catch (err) {
          if (!done) c.sendCopyFail(err instanceof Error ? err.message : String(err));
        }
      })();
    };
    client.query(q);
  });
}

/** PostgreSQL: varchar(512) as Segment's managed schemas, timestamps with time zone. */
export async function openPostgres(url: string): Promise<Dialect> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  // A dropped connection surfaces as a failed statement; the sync fails and the next one reconnects.
  client.on('error', () => {});
  const sqlType = (t: ColumnType) =>
    ({ timestamp: 'timestamp with time zone', bigint: 'bigint', double: 'double precision', boolean: 'boolean', varchar: 'varchar(512)' })[t];
  // The second connection of `copyNew(..., aside)`: one backend parses one COPY at a
  // time, so two tables' rows go in on two backends at once.
  let aside: pg.Client | null = null;
  let asideOpen = false;
  const asideClient = async (): Promise<pg.Client> => {
    if (!aside) {
      const c = new pg.Client({ connectionString: url });
      c.on('error', () => {});
      await c.connect();
      aside = c;
    }
    if (!asideOpen) {
      await aside.query('BEGIN');
      asideOpen = true;
    }
    return aside;
  };
  const copyNew = async (c: pg.Client, table: string, parts: readonly CopyPart[], received: readonly [string, string] | null) => {
    // One id check for every part (the table's lines of all shapes), then a COPY per part.
    const existing = new Set<string>();
    const ids = parts.flatMap((p) => p.rows.ids);
    // The (received_at, id) index: a window of arrival times reads only its newest pages.
    const where = received ? 'received_at BETWEEN $2::timestamptz AND $3::timestamptz' : 'received_at IS NULL';
    // A row collides only with one of the same received_at: when the table holds none at or
    // after the batch's first (new events, the usual case), there is nothing to look up.
    // max() reads the end of the (received_at, id) index; `WHERE received_at >= … LIMIT 1`
    // was planned as a sequential scan of the growing table (1M events: 10% slower).
    const clash = !received || (await c.query<{ clash: boolean }>(
      `SELECT COALESCE(max(received_at) >= $1::timestamptz, false) AS clash FROM ${table}`, [received[0]])).rows[0]!.clash;
    for (let i = 0; clash && i < ids.length; i += 10_000) {
      const found = await c.query<{ id: string }>(`SELECT id FROM ${table} WHERE ${where} AND id = ANY($1::varchar[])`, [ids.slice(i, i + 10_000), ...(received ?? [])]);
      for (const r of found.rows) existing.add(r.id);
    }
    let n = 0;
    for (const { columns, rows } of parts) {
      if (rows.ids.every((id) => existing.has(id))) continue;
      n += await copyFrom(c, `COPY ${table} (${columns.map(([col]) => quote(col)).join(', ')}) FROM STDIN`, rows.data(existing));
    }
    return n;
  };
  return {
    name: 'postgres',
    varcharWidth: 512,
    maxColumns: 1600,
    indexIds: true,
    sqlType,
    quote,
    literal: literal(sqlType),
    keepOld: (table, column) => `COALESCE(EXCLUDED.${quote(column)}, ${quote(table)}.${quote(column)})`,
    // A session's temporary table (no WAL, invisible to other loaders) filled by
    // COPY: far cheaper to parse than VALUES lists. Values arrive cast and truncated.
    async stage(_schema, name, columns, rows) {
      const t = `pg_temp.${quote(name)}`;
      const stageType = (c: ColumnType) => (c === 'varchar' ? 'text' : sqlType(c));
      await client.query(`DROP TABLE IF EXISTS ${t}`);
      await client.query(`CREATE TEMP TABLE ${quote(name)} (${columns.map(([c, ty]) => `${quote(c)} ${stageType(ty)}`).join(', ')})`);
      const lines = new CopyRows();
      for (const row of rows) lines.add('', row.map(copyText).join('\t'));
      await copyFrom(client, `COPY ${t} (${columns.map(([c]) => quote(c)).join(', ')}) FROM STDIN`, lines.data());
      await client.query(`ANALYZE ${t}`);
      return t;
    },
    async copyNew(table, parts, received, onAside = false) {
      return copyNew(onAside ? await asideClient() : client, table, parts, received);
    },
    copyCell: copyText,
    async settleAside(commit) {
      if (!asideOpen) return;
      asideOpen = false;
      await aside!.query(commit ? 'COMMIT' : 'ROLLBACK');
    },
    async exec(sql) {
      return (await client.query(sql)).rowCount ?? 0;
    },
    async query(sql) {
      return (await client.query(sql)).rows as Record<string, unknown>[];
    },
    columnType: fromDataType,
    async close() {
      await client.end();
      await (aside as pg.Client | null)?.end();
    },
  };
}
