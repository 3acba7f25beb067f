import fs from 'node:fs';
import { ScheduledSync } from '../scheduled-sync.js';
import path from 'node:path';
import type { Logger } from 'pino';
import { schemaName } from '../../protocol/warehouse-naming.js';
import type { SyncHistory } from '../warehouse/history.js';
import { glueTable, syncReportsTable, writeCatalogSql, writeGlueTable } from './catalog.js';
import { dataKey, newRunId, partitionOf, partitionPath, reportKey } from './layout.js';
import { ParquetWriter } from './parquet.js';
import { failedReport, reportJson, successReport, type TableReport } from './report.js';
import { castLake, FIXED_LAKE_TYPES, inferLakeType, lakeRowFor, type LakeRow, type LakeValue } from './schema.js';
import { LakeState, type ColumnDef } from './state.js';
import { classifyError, localStore, s3Store, type ObjectStore } from './store.js';
import { LAKE_HISTORY_PREFIX, type LakeConfig, type LoaderLane, type LoaderMessage, type Partitioning } from './types.js';

/**
 * One data lake's loader, on its interval or on demand (the warehouse loader's
 * pattern): drain the lane `datalake:<id>` in batches; per batch, messageIds seen
 * in the last 7 days are dropped, rows are split by source, `segment_type` and
 * hour partition, written as Parquet, put in place (directory or S3), recorded,
 * and only then acknowledged on the log. At the end of a run: the Glue-like
 * catalog and `catalog.sql` are refreshed, a sync report per source is written
 * (seed 000), and the run goes into the warehouses' sync history under
 * `datalake:<id>`.
 */
export const DEFAULT_LAKE_SYNC_SECONDS = { local: 300, s3: 7200 } as const;

export interface LakeLoaderOptions {
  config: LakeConfig;
  lane: LoaderLane;
  dataDir: string;
  history: SyncHistory;
  logger: Logger;
  batchSize?: number;
  maxBatchesPerRun?: number;
  /** Tests: replace the object store (local directory or S3 from the settings otherwise). */
  store?: ObjectStore;
  /** Tests: runs after a batch's objects are in place and before they are committed. */
  afterPut?: () => Promise<void>;
}

export interface LakePaths {
  /** Where the catalog (glue/*.json, catalog.sql) lives, and for S3 lakes the local copy of the reports. */
  catalogDir: string;
  stateFile: string;
  stagingDir: string;
}

export function lakePaths(config: LakeConfig, dataDir: string): LakePaths {
  const catalogDir = config.settings.s3
    ? path.join(dataDir, 'datalake-s3', config.id)
    : path.resolve(dataDir, config.settings.path ?? 'datalake');
  return {
    catalogDir,
    stateFile: path.join(dataDir, 'datalake-state', `${config.id}.db`),
    stagingDir: path.join(dataDir, 'datalake-state', config.id, 'staging'),
  };
}

interface TableStats { rows: number; partitions: Map<string, Record<string, string>>; newColumns: ColumnDef[] }

export class LakeLoader extends ScheduledSync {
  private readonly paths: LakePaths;
  private readonly store: ObjectStore;
  private readonly state: LakeState;
  private readonly slugs: Map<string, string>;
  private readonly partitioning: Partitioning;

  constructor(private readonly o: LakeLoaderOptions) {
    super();
    this.paths = lakePaths(o.config, o.dataDir);
    fs.mkdirSync(path.dirname(this.paths.stateFile), { recursive: true });
    this.state = new LakeState(this.paths.stateFile);
    this.store = o.store ?? (o.config.settings.s3 ? s3Store(o.config.settings.s3) : localStore(this.paths.catalogDir));
    this.slugs = new Map(o.config.sources.map((s) => [s.id, s.slug]));
    this.partitioning = o.config.settings.partitioning ?? 'day/hr';
  }

  get catalogDir(): string {
    return this.paths.catalogDir;
  }

  async stop(): Promise<void> {
    await this.stopSchedule();
    await this.o.lane.close();
    this.store.close();
    this.state.close();
  }

  /** Deletes the objects of batches begun and never committed, and forgets their messageIds. */
  private async recover(): Promise<void> {
    for (const [batch, keys] of this.state.pending()) {
      for (const k of keys) await this.store.delete(k);
      this.state.rollback(batch);
      this.o.logger.warn({ lake: this.o.config.id, batch, objects: keys.length }, 'removed the objects of an unfinished data lake batch; its events are written again');
    }
    fs.rmSync(this.paths.stagingDir, { recursive: true, force: true });
    fs.mkdirSync(this.paths.stagingDir, { recursive: true });
  }

  protected async run(): Promise<void> {
    const { lane, config, logger } = this.o;
    const runId = newRunId();
    const startedAt = Date.now();
    const startedNanos = Number(process.hrtime.bigint() % 1_000_000n);
    const stats = new Map<string, Map<string, TableStats>>();
    const touched = new Set<string>();
    let failure: { code: string; message: string } | null = null;
    let writer: ParquetWriter | undefined;
    let checked = false;
    try {
      await this.recover();
      this.state.prune(startedAt);
    } catch (err) {
      failure = classifyError(err, this.store);
    }
    const batches = this.o.maxBatchesPerRun ?? 100;
    for (let i = 0; i < batches && !failure; i++) {
      // Stopping (the lease went to another process, the configuration changed): end
      // after the batch in hand rather than drain up to `batches` more.
      if (this.stopping) break;
      const now = Date.now();
      let messages: LoaderMessage[];
      try {
        messages = await lane.fetch(this.o.batchSize ?? 5000, now);
      } catch (err) {
        failure = { code: 'Segment.Internal', message: `reading the event log failed: ${(err as Error).message}` };
        break;
      }
      if (messages.length === 0) break;
      for (const m of messages) if (this.slugs.has(m.sourceId)) touched.add(m.sourceId);
      try {
        if (!checked) {
          await this.store.check();
          checked = true;
        }
        writer ??= await ParquetWriter.open();
        await this.loadBatch(writer, messages, `${runId}-${i}`, now, stats);
        for (const m of messages) lane.ack(m);
        await lane.flush();
      } catch (err) {
        failure = classifyError(err, this.store);
        logger.error({ err, lake: config.id }, 'data lake sync failed; the next sync retries it');
        // Back on the lane, due now: the next run writes them first (after removing what this batch put in place).
        for (const m of messages) lane.retry(m, now, now);
        await lane.flush().catch((e: unknown) => logger.error({ err: e }, 'putting a failed batch back failed'));
        await this.recover().catch(() => { /* the target is down: the next run removes them before writing */ });
      }
    }
    writer?.close();
    const finishedAt = Date.now();
    const finishedNanos = Number(process.hrtime.bigint() % 1_000_000n);
    if (touched.size === 0 && !failure) return; // nothing new: no report per tick
    const sources = touched.size > 0 ? [...touched] : config.sources.map((s) => s.id);
    try {
      for (const sourceId of sources) if (stats.has(sourceId)) this.writeCatalog(sourceId);
    } catch (err) {
      logger.error({ err, lake: config.id }, 'writing the data lake catalog failed');
    }
    try {
      await this.report(sources, stats, failure, { runId, startedAt, startedNanos, finishedAt, finishedNanos });
    } catch (err) {
      logger.error({ err, lake: config.id }, 'writing the data lake sync report failed');
    }
  }

  private async report(
    sources: readonly string[], stats: Map<string, Map<string, TableStats>>, failure: { code: string; message: string } | null,
    t: { runId: string; startedAt: number; startedNanos: number; finishedAt: number; finishedNanos: number },
  ): Promise<void> {
    const { config, logger } = this.o;
    const { runId, startedAt, finishedAt } = t;
    for (const sourceId of sources) {
      const tables: TableReport[] = [...(stats.get(sourceId) ?? new Map<string, TableStats>())].map(([table, s]) => ({
        table, rows: s.rows, partitions: [...s.partitions].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => v), newColumns: s.newColumns,
      })).sort((a, b) => (a.table < b.table ? -1 : 1));
      const run = {
        workspaceId: config.workspaceId, sourceId, runId, startedAt, startedNanos: t.startedNanos, finishedAt, finishedNanos: t.finishedNanos,
        database: this.database(sourceId), emrClusterId: '', s3Bucket: this.store.bucket,
      };
      const objects = failure ? failedReport(run, failure.message, failure.code) : successReport(run, tables);
      await this.writeReport(reportKey(new Date(startedAt).toISOString().slice(0, 10), sourceId, runId), reportJson(objects));
      this.o.history.record({
        warehouseId: `${LAKE_HISTORY_PREFIX}${config.id}`, sourceId, runId, startedAt, finishedAt,
        status: failure ? 'failed' : 'success',
        rows: Object.fromEntries(tables.map((t) => [t.table, t.rows])),
        error: failure ? `${failure.code}: ${failure.message}` : null,
      });
    }
    try {
      writeGlueTable(this.paths.catalogDir, syncReportsTable(`${path.resolve(this.paths.catalogDir)}${path.sep}`));
      writeCatalogSql(this.paths.catalogDir);
    } catch (err) {
      logger.error({ err, lake: config.id }, 'writing the data lake catalog failed');
    }
  }

  private database(sourceId: string): string {
    return schemaName(this.slugs.get(sourceId) ?? sourceId);
  }

  /** The report goes to the lake and, for S3 lakes, to a local copy too (kept even when the bucket refuses it). */
  private async writeReport(key: string, body: string): Promise<void> {
    if (this.store.kind === 's3') {
      const local = path.join(this.paths.catalogDir, ...key.split('/'));
      fs.mkdirSync(path.dirname(local), { recursive: true });
      fs.writeFileSync(local, body);
    }
    try {
      await this.store.putBytes(key, body);
    } catch (err) {
      this.o.logger.error({ err, lake: this.o.config.id, key }, 'the sync report could not be written to the lake (a local copy is kept)');
    }
  }

  private writeCatalog(sourceId: string): void {
    for (const table of this.state.tables(sourceId)) {
      writeGlueTable(this.paths.catalogDir, glueTable({
        database: this.database(sourceId), table, root: this.store.root, sourceId, partitioning: this.partitioning,
        columns: this.state.columns(sourceId, table), partitions: this.state.partitions(sourceId, table),
      }));
    }
  }

  private async loadBatch(writer: ParquetWriter, messages: readonly LoaderMessage[], batch: string, now: number, stats: Map<string, Map<string, TableStats>>): Promise<void> {
    type Planned = { row: LakeRow; part: string };
    const groups = new Map<string, { sourceId: string; table: string; rows: Planned[]; parts: Map<string, Record<string, string>> }>();
    const ids: [string, string][] = [];
    const inBatch = new Set<string>();
    let duplicates = 0;
    for (const m of messages) {
      if (!this.slugs.has(m.sourceId)) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(m.payload) as Record<string, unknown>;
      } catch {
        continue; // the log only holds validated JSON
      }
      const row = lakeRowFor(msg);
      if (!row) continue;
      const idKey = `${m.sourceId}\0${row.id}`;
      if (inBatch.has(idKey) || this.state.seen(m.sourceId, row.id, now)) {
        duplicates++;
        continue;
      }
      inBatch.add(idKey);
      ids.push([m.sourceId, row.id]);
      const values = partitionOf(m.receivedAt, this.partitioning);
      const part = partitionPath(values);
      const gk = `${m.sourceId}\0${row.segmentType}`;
      let g = groups.get(gk);
      if (!g) groups.set(gk, (g = { sourceId: m.sourceId, table: row.segmentType, rows: [], parts: new Map() }));
      g.rows.push({ row, part });
      g.parts.set(part, values);
    }
    if (duplicates > 0) this.o.logger.info({ lake: this.o.config.id, duplicates }, 'dropped events whose messageId was synced in the last 7 days');

    const puts: { key: string; file: string }[] = [];
    const newColumns: { sourceId: string; table: string; column: ColumnDef }[] = [];
    const newPartitions: { sourceId: string; table: string; partition: string }[] = [];
    const merges: (() => void)[] = [];
    let n = 0;
    for (const g of groups.values()) {
      const columns = this.state.columns(g.sourceId, g.table);
      const known = new Set(columns.map((c) => c.name));
      const seen = new Map<string, (string | number | boolean | null)[]>();
      for (const { row } of g.rows) {
        for (const [k, v] of row.values) {
          if (known.has(k) || v === null) continue;
          let list = seen.get(k);
          if (!list) seen.set(k, (list = []));
          list.push(v);
        }
      }
      const added: ColumnDef[] = [...seen].map(([name, values]) => ({ name, type: FIXED_LAKE_TYPES.get(name) ?? inferLakeType(values) }));
      const all = [...columns, ...added];
      const rows: LakeValue[][] = g.rows.map(({ row, part }) => [...all.map((c) => castLake(row.values.get(c.name) ?? null, c.type)), part]);
      const files = new Map<string, string>();
      for (const [part, values] of g.parts) {
        const file = path.join(this.paths.stagingDir, `${batch}-${n++}.parquet`);
        files.set(part, file);
        puts.push({ key: dataKey(g.sourceId, g.table, values, `part-${batch}.snappy.parquet`), file });
      }
      await writer.write(all, rows, files);
      for (const column of added) newColumns.push({ sourceId: g.sourceId, table: g.table, column });
      for (const part of g.parts.keys()) newPartitions.push({ sourceId: g.sourceId, table: g.table, partition: part });

      // Counted into the run's report only once the batch is committed.
      merges.push(() => {
        let bySource = stats.get(g.sourceId);
        if (!bySource) stats.set(g.sourceId, (bySource = new Map()));
        let s = bySource.get(g.table);
        if (!s) bySource.set(g.table, (s = { rows: 0, partitions: new Map(), newColumns: [] }));
        s.rows += g.rows.length;
        for (const [part, values] of g.parts) s.partitions.set(part, values);
        s.newColumns.push(...added);
      });
    }
    if (puts.length === 0) return;
    this.state.begin(batch, puts.map((p) => p.key), ids, now);
    for (const p of puts) await this.store.putFile(p.key, p.file);
    await this.o.afterPut?.();
    this.state.commit(batch, newColumns, newPartitions);
    for (const merge of merges) merge();
  }
}
