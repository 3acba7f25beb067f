import { reportTime } from './layout.js';

/**
 * Sync reports exactly as seed 000 shows them: one `type: "source"` object per
 * run and source, then one `type: "event"` object per table the run wrote, with
 * the fields in the seed's order. A failed run writes only the source object,
 * with `error` and `error_code` and no `row_count` (the seed's failed example);
 * partial failures are not reported ("syncs are either a success or failure").
 * `new_columns` appears only when the run added columns (the seed's second event
 * object has none). Stored as JSON lines (one object per line), which Glue's JSON
 * SerDe, Athena and DuckDB's `read_json` all read.
 */
export interface ReportRun {
  workspaceId: string;
  sourceId: string;
  runId: string;
  /** Epoch ms, plus nanoseconds within that millisecond for the printed time. */
  startedAt: number;
  startedNanos?: number;
  finishedAt: number;
  finishedNanos?: number;
  /** The Glue database (the source's, from its slug). */
  database: string;
  /** No EMR cluster: the loader thread does that work, so this is ''. */
  emrClusterId: string;
  /** '' for a local-directory lake. */
  s3Bucket: string;
}

export interface TableReport {
  table: string;
  rows: number;
  /** Partitions written, e.g. `{ day: '2020-08-16', hr: '10' }`, in order. */
  partitions: Record<string, string>[];
  newColumns: { name: string; type: string }[];
}

export type ReportObject = Record<string, unknown>;

function head(r: ReportRun, type: 'source' | 'event', status: 'finished' | 'failed'): ReportObject {
  return {
    type,
    workspace_id: r.workspaceId,
    source_id: r.sourceId,
    run_id: r.runId,
    start_time: reportTime(r.startedAt, r.startedNanos ?? 0),
    finish_time: reportTime(r.finishedAt, r.finishedNanos ?? 0),
    // Whole minutes, rounded down (the seed: 22:15:59 → 22:18:12 is 2).
    duration_mins: Math.max(0, Math.floor((r.finishedAt - r.startedAt) / 60_000)),
    status,
  };
}

export function successReport(r: ReportRun, tables: readonly TableReport[]): ReportObject[] {
  const source: ReportObject = {
    ...head(r, 'source', 'finished'),
    table_name: '',
    database: r.database,
    row_count: tables.reduce((n, t) => n + t.rows, 0),
    emr_cluster_id: r.emrClusterId,
    s3_bucket: r.s3Bucket,
  };
  const events = tables.map((t) => ({
    ...head(r, 'event', 'finished'),
    table_name: t.table,
    database: r.database,
    partitions: t.partitions,
    ...(t.newColumns.length > 0 ? { new_columns: t.newColumns } : {}),
    row_count: t.rows,
    emr_cluster_id: r.emrClusterId,
    s3_bucket: r.s3Bucket,
  }));
  return [source, ...events];
}

export function failedReport(r: ReportRun, error: string, errorCode: string): ReportObject[] {
  return [{
    ...head(r, 'source', 'failed'),
    error,
    error_code: errorCode,
    table_name: '',
    database: r.database,
    emr_cluster_id: r.emrClusterId,
    s3_bucket: r.s3Bucket,
  }];
}

export function reportJson(objects: readonly ReportObject[]): string {
  return objects.map((o) => JSON.stringify(o)).join('\n') + '\n';
}
