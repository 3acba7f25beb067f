import { randomUUID } from 'node:crypto';
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

/** Delivery Overview's pipeline steps (the Public API's names in its paths). */
export type Step =
  | 'successfully_received'
  | 'failed_on_ingest'
  | 'filtered_at_source'
  | 'filtered_at_destination'
  | 'failed_delivery'
  | 'successful_delivery';

export interface StepKey {
  sourceId: string;
  /** '' for the source-level steps. */
  destinationId: string;
  eventType: string;
  eventName: string;
  /** The discard reason; '' when the step has none. */
  reason: string;
}

export interface FailureSample {
  messageId: string;
  attempt: number;
  /** The event as sent to Switchyard (truncated). */
  event: string;
  exchanges: Exchange[];
  /** A function's console output for this attempt (destination and insert functions). */
  logs?: string[];
}

/** Figures are kept this long (Delivery Overview shows up to 14 days). */
export const STATS_RETENTION_MS = 15 * 86_400_000;

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
    CREATE TABLE IF NOT EXISTS step_counters (
      step TEXT NOT NULL, source_id TEXT NOT NULL, destination_id TEXT NOT NULL, minute INTEGER NOT NULL,
      event_type TEXT NOT NULL, event_name TEXT NOT NULL, reason TEXT NOT NULL,
      count INTEGER NOT NULL, retry_count INTEGER NOT NULL,
      PRIMARY KEY (step, source_id, destination_id, minute, event_type, event_name, reason)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS failure_samples (
      scope TEXT NOT NULL, reason TEXT NOT NULL, count INTEGER NOT NULL, first_seen INTEGER NOT NULL,
      last_seen INTEGER NOT NULL, sample TEXT NOT NULL, PRIMARY KEY (scope, reason)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS stats_relay_cursor (
      feed TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS stats_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  `);
  // Identifies this file: processes sharing it (one DATA_DIR) have the same figures already.
  db.prepare(`INSERT OR IGNORE INTO stats_meta (key, value) VALUES ('origin', ?)`).run(randomUUID());
}

/**
 * What one flush adds: the figures recorded since the previous flush, keyed as in
 * the tables. Plain JSON, so other processes can add it to their own store
 * (server/stats-relay.ts: the whole deployment's figures on every API process).
 */
export interface StatsDelta {
  /** [minute, scope, metric, reason, count] */
  counters: [number, string, string, string, number][];
  /** [minute, scope, bucket, count] */
  latency: [number, string, number, number][];
  /** [step, sourceId, destinationId, minute, eventType, eventName, reason, count, retries] */
  steps: [string, string, string, number, string, string, string, number, number][];
  /** [scope, reason, count, firstSeen, lastSeen, sample] */
  samples: [string, string, number, number, number, FailureSample][];
}

export class StatsRecorder {
  /** Called with each flushed delta (after it is stored here). */
  onFlush?: (delta: StatsDelta) => void;
  private counters = new Map<string, number>();
  private latency = new Map<string, number>();
  private samples = new Map<string, { count: number; first: number; last: number; sample: FailureSample }>();
  private steps = new Map<string, { count: number; retries: number }>();
  private readonly stmts;

  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number = Date.now,
    /** False: record nothing (for measuring what the metrics cost; `SWITCHYARD_METRICS=false`). */
    private readonly enabled = true,
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
      step: db.prepare(
        `INSERT INTO step_counters (step, source_id, destination_id, minute, event_type, event_name, reason, count, retry_count)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (step, source_id, destination_id, minute, event_type, event_name, reason)
         DO UPDATE SET count = count + excluded.count, retry_count = retry_count + excluded.retry_count`,
      ),
      cursor: db.prepare(`SELECT seq FROM stats_relay_cursor WHERE feed = ?`).pluck(),
      setCursor: db.prepare(`INSERT INTO stats_relay_cursor (feed, seq) VALUES (?, ?) ON CONFLICT (feed) DO UPDATE SET seq = excluded.seq`),
      pruneSteps: db.prepare(`DELETE FROM step_counters WHERE minute < ?`),
      pruneCounters: db.prepare(`DELETE FROM stat_counters WHERE minute < ?`),
      pruneLatency: db.prepare(`DELETE FROM stat_latency WHERE minute < ?`),
      sample: db.prepare(
        `INSERT INTO failure_samples (scope, reason, count, first_seen, last_seen, sample) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (scope, reason) DO UPDATE SET count = count + excluded.count, last_seen = excluded.last_seen, sample = excluded.sample`,
      ),
    };
  }

  count(scope: string, metric: Metric, n = 1, reason = ''): void {
    if (n === 0 || !this.enabled) return;
    const key = `${minuteOf(this.now())}\u0000${scope}\u0000${metric}\u0000${reason}`;
    this.counters.set(key, (this.counters.get(key) ?? 0) + n);
  }

  /** Counts events at a Delivery Overview step; `retries` adds to the step's retry count. */
  step(step: Step, key: StepKey, n = 1, retries = 0): void {
    if (!this.enabled) return;
    const k = `${step}\u0000${key.sourceId}\u0000${key.destinationId}\u0000${minuteOf(this.now())}\u0000${key.eventType}\u0000${key.eventName}\u0000${key.reason}`;
    const cur = this.steps.get(k);
    if (cur) {
      cur.count += n;
      cur.retries += retries;
    } else this.steps.set(k, { count: n, retries });
  }

  /** Drops figures older than the retention (Delivery Overview shows two weeks). */
  prune(olderThanMs: number): void {
    const minute = minuteOf(this.now() - olderThanMs);
    this.stmts.pruneSteps.run(minute);
    this.stmts.pruneCounters.run(minute);
    this.stmts.pruneLatency.run(minute);
  }

  latencyMs(scope: string, ms: number): void {
    if (!this.enabled) return;
    const key = `${minuteOf(this.now())}\u0000${scope}\u0000${latencyBucket(ms)}`;
    this.latency.set(key, (this.latency.get(key) ?? 0) + 1);
  }

  /** Keeps the latest sample per (scope, reason) and counts occurrences. */
  failure(scope: string, reason: string, sample: FailureSample): void {
    if (!this.enabled) return;
    const key = `${scope}\u0000${reason}`;
    const now = this.now();
    const prev = this.samples.get(key);
    this.samples.set(key, { count: (prev?.count ?? 0) + 1, first: prev?.first ?? now, last: now, sample });
  }

  flush(): void {
    if (this.counters.size === 0 && this.latency.size === 0 && this.samples.size === 0 && this.steps.size === 0) return;
    const { counters, latency, samples, steps } = this;
    this.counters = new Map();
    this.latency = new Map();
    this.samples = new Map();
    this.steps = new Map();
    const delta: StatsDelta = { counters: [], latency: [], steps: [], samples: [] };
    for (const [key, n] of counters) {
      const [minute, scope, metric, reason] = key.split('\u0000');
      delta.counters.push([Number(minute), scope!, metric!, reason!, n]);
    }
    for (const [key, n] of latency) {
      const [minute, scope, bucket] = key.split('\u0000');
      delta.latency.push([Number(minute), scope!, Number(bucket), n]);
    }
    for (const [key, v] of steps) {
      const [step, sourceId, destinationId, minute, eventType, eventName, reason] = key.split('\u0000');
      delta.steps.push([step!, sourceId!, destinationId!, Number(minute), eventType!, eventName!, reason!, v.count, v.retries]);
    }
    for (const [key, v] of samples) {
      const [scope, reason] = key.split('\u0000');
      delta.samples.push([scope!, reason!, v.count, v.first, v.last, v.sample]);
    }
    this.db.transaction(() => this.store(delta))();
    this.onFlush?.(delta);
  }

  /**
   * Adds another process's delta, once: `seq` increases along `feed` and the last one
   * applied is kept in the same transaction, so processes sharing this file, or a
   * replay after a restart, never count a delta twice. False when already applied.
   */
  applyRemote(feed: string, seq: number, delta: StatsDelta): boolean {
    return this.db.transaction(() => {
      const last = this.stmts.cursor.get(feed) as number | undefined;
      if (last !== undefined && seq <= last) return false;
      this.store(delta);
      this.stmts.setCursor.run(feed, seq);
      return true;
    }).immediate();
  }

  /** This stats file's id: the same for every process sharing it. */
  origin(): string {
    return this.db.prepare(`SELECT value FROM stats_meta WHERE key = 'origin'`).pluck().get() as string;
  }

  /** The last sequence applied from `feed` (0: none). */
  remoteCursor(feed: string): number {
    return (this.stmts.cursor.get(feed) as number | undefined) ?? 0;
  }

  private store(d: StatsDelta): void {
    for (const r of d.counters) this.stmts.counter.run(...r);
    for (const r of d.latency) this.stmts.latency.run(...r);
    for (const r of d.steps) this.stmts.step.run(...r);
    for (const [scope, reason, count, first, last, sample] of d.samples) this.stmts.sample.run(scope, reason, count, first, last, JSON.stringify(sample));
  }
}

export function minuteOf(ms: number): number {
  return Math.floor(ms / 60_000);
}
