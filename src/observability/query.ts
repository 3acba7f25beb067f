import type Database from 'better-sqlite3';
import { bucketUpperMs, minuteOf, type FailureSample } from './stats.js';
import { howToFix, summarize } from './reasons.js';

export interface ReasonCount {
  reason: string;
  count: number;
}

export interface DeliveryStats {
  from: string;
  to: string;
  delivered: number;
  deliveredFirstAttempt: number;
  deliveredAfterRetry: number;
  attemptsFailed: number;
  filtered: ReasonCount[];
  discarded: ReasonCount[];
  failed: ReasonCount[];
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
  /** p95 end-to-end latency per bucket (minute ≤ 1 h, hour ≤ 24 h, else day): the trend. */
  latencyTrend: { time: string; p95Ms: number }[];
}

/** Per-destination figures over [from, to), minute resolution. */
export function deliveryStats(db: Database.Database, scope: string, from: number, to: number): DeliveryStats {
  const [m0, m1] = [minuteOf(from), minuteOf(to - 1)];
  const rows = db
    .prepare(
      `SELECT metric, reason, SUM(count) AS n FROM stat_counters
        WHERE scope = ? AND minute BETWEEN ? AND ? GROUP BY metric, reason`,
    )
    .all(scope, m0, m1) as { metric: string; reason: string; n: number }[];
  const total = (metric: string) => rows.filter((r) => r.metric === metric).reduce((s, r) => s + r.n, 0);
  const byReason = (metric: string) =>
    rows.filter((r) => r.metric === metric).map((r) => ({ reason: r.reason, count: r.n })).sort((a, b) => b.count - a.count);
  const delivered = total('delivered');
  const first = total('delivered_first_attempt');
  return {
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    delivered,
    deliveredFirstAttempt: first,
    deliveredAfterRetry: delivered - first,
    attemptsFailed: total('attempt_failed'),
    filtered: byReason('filtered'),
    discarded: byReason('discarded'),
    failed: byReason('failed'),
    latencyMs: percentiles(db, scope, m0, m1),
    latencyTrend: latencyTrend(db, scope, m0, m1),
  };
}

function latencyTrend(db: Database.Database, scope: string, m0: number, m1: number): { time: string; p95Ms: number }[] {
  const span = m1 - m0 + 1;
  const size = span <= 60 ? 1 : span <= 1440 ? 60 : 1440;
  const rows = db
    .prepare(
      `SELECT (minute / ${size}) * ${size} AS b, bucket, SUM(count) AS n FROM stat_latency
        WHERE scope = ? AND minute BETWEEN ? AND ? GROUP BY b, bucket ORDER BY b, bucket`,
    )
    .all(scope, m0, m1) as { b: number; bucket: number; n: number }[];
  const out: { time: string; p95Ms: number }[] = [];
  for (let i = 0; i < rows.length; ) {
    const b = rows[i]!.b;
    let j = i;
    let total = 0;
    while (j < rows.length && rows[j]!.b === b) total += rows[j++]!.n;
    const rank = Math.ceil(0.95 * total);
    let seen = 0;
    for (let k = i; k < j; k++) {
      seen += rows[k]!.n;
      if (seen >= rank) {
        out.push({ time: new Date(b * 60_000).toISOString(), p95Ms: bucketUpperMs(rows[k]!.bucket) });
        break;
      }
    }
    i = j;
  }
  return out;
}

function percentiles(db: Database.Database, scope: string, m0: number, m1: number): DeliveryStats['latencyMs'] {
  const buckets = db
    .prepare(
      `SELECT bucket, SUM(count) AS n FROM stat_latency WHERE scope = ? AND minute BETWEEN ? AND ?
        GROUP BY bucket ORDER BY bucket`,
    )
    .all(scope, m0, m1) as { bucket: number; n: number }[];
  const total = buckets.reduce((s, b) => s + b.n, 0);
  const at = (q: number): number | null => {
    if (total === 0) return null;
    const rank = Math.ceil(q * total);
    let seen = 0;
    for (const b of buckets) {
      seen += b.n;
      if (seen >= rank) return bucketUpperMs(b.bucket);
    }
    return bucketUpperMs(buckets[buckets.length - 1]!.bucket);
  };
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

export interface IngestStats {
  received: number;
  duplicates: number;
  propertiesDropped: number;
  failedOnIngest: ReasonCount[];
}

export function ingestStats(db: Database.Database, scope: string, from: number, to: number): IngestStats {
  const rows = db
    .prepare(`SELECT metric, reason, SUM(count) AS n FROM stat_counters WHERE scope = ? AND minute BETWEEN ? AND ? GROUP BY metric, reason`)
    .all(scope, minuteOf(from), minuteOf(to - 1)) as { metric: string; reason: string; n: number }[];
  const total = (metric: string) => rows.filter((r) => r.metric === metric).reduce((s, r) => s + r.n, 0);
  return {
    received: total('received'),
    duplicates: total('duplicate'),
    propertiesDropped: total('properties_dropped'),
    failedOnIngest: rows.filter((r) => r.metric === 'failed_ingest').map((r) => ({ reason: r.reason, count: r.n })),
  };
}

export interface FailureSampleRow {
  reason: string;
  /** What happened, in words. */
  summary: string;
  /** What to do about it. */
  actions: string;
  count: number;
  firstSeen: string;
  lastSeen: string;
  sample: FailureSample;
}

export function failureSamples(db: Database.Database, scope: string): FailureSampleRow[] {
  const rows = db
    .prepare(`SELECT reason, count, first_seen, last_seen, sample FROM failure_samples WHERE scope = ? ORDER BY last_seen DESC`)
    .all(scope) as { reason: string; count: number; first_seen: number; last_seen: number; sample: string }[];
  return rows.map((r) => ({
    reason: r.reason,
    summary: summarize(r.reason),
    actions: howToFix(r.reason),
    count: r.count,
    firstSeen: new Date(r.first_seen).toISOString(),
    lastSeen: new Date(r.last_seen).toISOString(),
    sample: JSON.parse(r.sample) as FailureSample,
  }));
}
