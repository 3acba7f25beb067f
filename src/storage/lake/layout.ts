import type { Partitioning } from './types.js';

/**
 * Segment's S3 layout (seed 001, "S3 partition structure"):
 *   segment-data/data/<source_id>/segment_type=<event type>/day=<YYYY-MM-DD>/hr=<HH>/
 * by the day and hour the event was received, and sync reports (seed 000) at
 *   segment-data/reports/day=YYYY-MM-DD/source=<source_id>/run_id=<run_id>/report.json
 * Keys here are relative to the lake's root (a directory or `s3://bucket/prefix/`).
 */
export const DATA_PREFIX = 'segment-data/data';
export const REPORTS_PREFIX = 'segment-data/reports';

/** The partition keys of a layout, outermost first (also the Glue table's PartitionKeys). */
export function partitionKeys(p: Partitioning): string[] {
  return p.split('/');
}

/** Partition values of a receive time in UTC, in partitionKeys order. */
export function partitionOf(receivedAt: number, p: Partitioning): Record<string, string> {
  const iso = new Date(receivedAt).toISOString();
  const all: Record<string, string> = { year: iso.slice(0, 4), month: iso.slice(5, 7), day: iso.slice(0, 10), hr: iso.slice(11, 13) };
  // In the year/month/day layouts `day` is the day of the month.
  if (p.startsWith('year/')) all.day = iso.slice(8, 10);
  const out: Record<string, string> = {};
  for (const k of partitionKeys(p)) out[k] = all[k]!;
  return out;
}

/** `day=2020-05-11/hr=11` */
export function partitionPath(values: Record<string, string>): string {
  return Object.entries(values).map(([k, v]) => `${k}=${v}`).join('/');
}

/** Directory of one table (`segment_type`) of a source. */
export function tableDir(sourceId: string, segmentType: string): string {
  return `${DATA_PREFIX}/${sourceId}/segment_type=${segmentType}`;
}

export function dataKey(sourceId: string, segmentType: string, partition: Record<string, string>, file: string): string {
  return `${tableDir(sourceId, segmentType)}/${partitionPath(partition)}/${file}`;
}

export function reportKey(day: string, sourceId: string, runId: string): string {
  return `${REPORTS_PREFIX}/day=${day}/source=${sourceId}/run_id=${runId}/report.json`;
}

/**
 * Time as the seed's reports print it: UTC `YYYY-MM-DD HH:MM:SS.fffffffff` with
 * trailing zeros trimmed (Go's `2006-01-02 15:04:05.999999999`).
 */
export function reportTime(ms: number, nanosWithinMs = 0): string {
  const iso = new Date(ms).toISOString();
  const frac = `${iso.slice(20, 23)}${String(nanosWithinMs).padStart(6, '0')}`.replace(/0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac ? `.${frac}` : ''}`;
}

let lastRunId = 0n;
/**
 * A run id like the seed's (`1597581273464733073`): Unix time in nanoseconds,
 * strictly increasing within the process.
 */
export function newRunId(now = Date.now()): string {
  const hr = process.hrtime.bigint() % 1_000_000n;
  let id = BigInt(now) * 1_000_000n + hr;
  if (id <= lastRunId) id = lastRunId + 1n;
  lastRunId = id;
  return id.toString();
}
