import type Database from 'better-sqlite3';
import type { Exchange } from '../core/result.js';

/**
 * Counters per minute: what happened to events at each step, by scope
 * (`ingest`, `source:<id>`, `dest:<instanceId>`), metric and reason, plus a
 * latency histogram per destination and the last sample of each failure reason.
 * Recorded in memory for at most one flush interval, then upserted into SQLite
 * (its own file, so stats writes never wait on the ingest writer).
 */
export type Metric =
  | 'received'
  | 'failed_ingest'
  | 'duplicate'
  | 'properties_dropped'
  | 'filtered'
  | 'delivered'
  | 'delivered_first_attempt'
  | 'attempt_failed'
  | 'discarded'
  | 'failed';

export interface FailureSample {
  messageId: string;
  attempt: number;
  /** The event as sent to Switchyard (truncated). */
  event: string;
  exchanges: Exchange[];
}

const LATENCY_BASE = 1.05;
export function latencyBucket(ms: number): number {
  return ms <= 1 ? 0 : Math.ceil(Math.log(ms) / Math.log(LATENCY_BASE));
}
export function bucketUpperMs(bucket: number): number {
  return bucket === 0 ? 1 : Math.round(LATENCY_BASE ** bucket);
}

export function migrateStats(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS stat_counters (
      minute INTEGER NOT NULL, scope TEXT NOT NULL, metric TEXT NOT NULL, reason TEXT NOT NULL, count INTEGER NOT NULL,
      PRIMARY KEY (scope, minute, metric, reason)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS stat_latency (
      minute INTEGER NOT NULL, scope TEXT NOT NULL, bucket INTEGER NOT NULL, count INTEGER NOT NULL,
      PRIMARY KEY (scope, minute, bucket)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS failure_samples (
      scope TEXT NOT NULL, reason TEXT NOT NULL, count INTEGER NOT NULL, first_seen INTEGER NOT NULL,
      last_seen INTEGER NOT NULL, sample TEXT NOT NULL, PRIMARY KEY (scope, reason)) WITHOUT ROWID;
  `);
}

export class StatsRecorder {
  private counters = new Map<string, number>();
  private latency = new Map<string, number>();
  private samples = new Map<string, { count: number; first: number; last: number; sample: FailureSample }>();
  private readonly stmts;

  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number = Date.now,
  ) {
    migrateStats(db);
    this.stmts = {
      counter: db.prepare(
        `INSERT INTO stat_counters (minute, scope, metric, reason, count) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (scope, minute, metric, reason) DO UPDATE SET count = count + excluded.count`,
      ),
      latency: db.prepare(
        `INSERT INTO stat_latency (minute, scope, bucket, count) VALUES (?, ?, ?, ?)
         ON CONFLICT (scope, minute, bucket) DO UPDATE SET count = count + excluded.count`,
      ),
      sample: db.prepare(
        `INSERT INTO failure_samples (scope, reason, count, first_seen, last_seen, sample) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (scope, reason) DO UPDATE SET count = count + excluded.count, last_seen = excluded.last_seen, sample = excluded.sample`,
      ),
    };
  }

  count(scope: string, metric: Metric, n = 1, reason = ''): void {
    if (n === 0) return;
    const key = `${minuteOf(this.now())}\u0000${scope}\u0000${metric}\u0000${reason}`;
    this.counters.set(key, (this.counters.get(key) ?? 0) + n);
  }

  latencyMs(scope: string, ms: number): void {
    const key = `${minuteOf(this.now())}\u0000${scope}\u0000${latencyBucket(ms)}`;
    this.latency.set(key, (this.latency.get(key) ?? 0) + 1);
  }

  /** Keeps the latest sample per (scope, reason) and counts occurrences. */
  failure(scope: string, reason: string, sample: FailureSample): void {
    const key = `${scope}\u0000${reason}`;
    const now = this.now();
    const prev = this.samples.get(key);
    this.samples.set(key, { count: (prev?.count ?? 0) + 1, first: prev?.first ?? now, last: now, sample });
  }

  flush(): void {
    if (this.counters.size === 0 && this.latency.size === 0 && this.samples.size === 0) return;
    const { counters, latency, samples } = this;
    this.counters = new Map();
    this.latency = new Map();
    this.samples = new Map();
    this.db.transaction(() => {
      for (const [key, n] of counters) {
        const [minute, scope, metric, reason] = key.split('\u0000');
        this.stmts.counter.run(Number(minute), scope!, metric!, reason!, n);
      }
      for (const [key, n] of latency) {
        const [minute, scope, bucket] = key.split('\u0000');
        this.stmts.latency.run(Number(minute), scope!, Number(bucket), n);
      }
      for (const [key, s] of samples) {
        const [scope, reason] = key.split('\u0000');
        this.stmts.sample.run(scope!, reason!, s.count, s.first, s.last, JSON.stringify(s.sample));
      }
    })();
  }
}

export function minuteOf(ms: number): number {
  return Math.floor(ms / 60_000);
}
