import type Database from 'better-sqlite3';
import type { AppendOutcome, AppendRecord, EventLog, Lane, LaneOptions } from '../types.js';
import { openDatabase, type SyncMode } from './db.js';
import { DedupeWindow } from './dedupe.js';
import { lastSeq, migrateLog } from './schema.js';
import { SqliteLane } from './lane.js';

export interface SqliteLogOptions {
  path: string;
  sync?: SyncMode;
  dedupeWindowMs: number;
  /** Delivered events older than this are pruned once every lane is past them. */
  retentionMs: number;
  /** Called after each group commit with the highest sequence (to wake the router). */
  onCommit?: (lastSeq: number) => void;
}

interface PendingAppend {
  records: AppendRecord[];
  resolve: (outcome: AppendOutcome) => void;
  reject: (err: unknown) => void;
}

/**
 * The embedded log. Appends are group-committed: every append made during one turn
 * of the event loop goes into one transaction, committed in `setImmediate`, and all
 * of their promises resolve after it (so a 200 is only ever sent after the commit).
 */
export class SqliteEventLog implements EventLog {
  readonly db: Database.Database;
  private readonly dedupe: DedupeWindow;
  private readonly insertEvent: Database.Statement<[string, string, number, string]>;
  private pending: PendingAppend[] = [];
  private scheduled = false;
  private readonly commitBatch: (batch: PendingAppend[]) => AppendOutcome[];
  private closed = false;
  private seq: number;
  private lastMarkAt = 0;

  constructor(private readonly options: SqliteLogOptions) {
    this.db = openDatabase(options.path, options.sync);
    migrateLog(this.db);
    this.dedupe = new DedupeWindow(this.db, options.dedupeWindowMs);
    this.insertEvent = this.db.prepare(`INSERT INTO events (source_id, message_id, received_at, payload) VALUES (?, ?, ?, ?)`);
    this.seq = lastSeq(this.db);
    // A mark (time, seq) a second tells retention which sequences are old enough to
    // prune without an index on time.
    const insertMark = this.db.prepare(`INSERT OR REPLACE INTO seq_marks (at, seq) VALUES (?, ?)`);
    this.commitBatch = this.db.transaction((batch: PendingAppend[]) => {
      const now = Date.now();
      const outcomes: AppendOutcome[] = [];
      if (now - this.lastMarkAt >= 1000) {
        insertMark.run(now, this.seq);
        this.lastMarkAt = now;
      }
      for (const item of batch) {
        let accepted = 0;
        let duplicates = 0;
        for (const r of item.records) {
          if (!this.dedupe.admit(r.sourceId, r.messageId, now)) {
            duplicates++;
            continue;
          }
          this.seq = Number(this.insertEvent.run(r.sourceId, r.messageId, r.receivedAt, r.payload).lastInsertRowid);
          accepted++;
        }
        outcomes.push({ accepted, duplicates, lastSeq: this.seq });
      }
      return outcomes;
    });
  }

  append(records: AppendRecord[]): Promise<AppendOutcome> {
    if (this.closed) return Promise.reject(new Error('log is closed'));
    return new Promise((resolve, reject) => {
      this.pending.push({ records, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.commit());
      }
    });
  }

  private commit(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    let outcomes: AppendOutcome[];
    try {
      outcomes = this.commitBatch(batch);
    } catch (err) {
      // Nothing of this group was committed (the transaction rolled back): every
      // caller gets the error and answers 503, so clients retry.
      for (const item of batch) item.reject(err);
      return;
    }
    let last = 0;
    for (let i = 0; i < batch.length; i++) {
      const outcome = outcomes[i]!;
      if (outcome.lastSeq > last) last = outcome.lastSeq;
      batch[i]!.resolve(outcome);
    }
    if (last > 0) this.options.onCommit?.(last);
  }

  lane(options: LaneOptions): Lane {
    return new SqliteLane(this.db, options);
  }

  async deleteLane(laneId: string): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare(`DELETE FROM lane_retries WHERE lane_id = ?`).run(laneId);
      this.db.prepare(`DELETE FROM lanes WHERE lane_id = ?`).run(laneId);
    })();
  }

  /** Lanes that still exist, so the router can drop the ones whose destination is gone. */
  laneIds(): string[] {
    return (this.db.prepare(`SELECT lane_id FROM lanes`).all() as { lane_id: string }[]).map((r) => r.lane_id);
  }

  async prune(now: number): Promise<number> {
    const { bound } = this.db
      .prepare(
        `SELECT MIN(
           IFNULL((SELECT MIN(cursor) FROM lanes), 9e18),
           IFNULL((SELECT MIN(seq) - 1 FROM lane_retries), 9e18),
           IFNULL((SELECT MAX(seq) FROM seq_marks WHERE at < ?), 0)
         ) AS bound`,
      )
      .get(now - this.options.retentionMs) as { bound: number };
    this.db.prepare(`DELETE FROM seq_marks WHERE at < ? AND seq < ?`).run(now - this.options.retentionMs, bound);
    // Delete in slices so the ingest writer never waits long for the lock.
    const del = this.db.prepare(`DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq <= ? ORDER BY seq LIMIT 20000)`);
    let total = 0;
    for (;;) {
      const n = del.run(bound).changes;
      total += n;
      if (n < 20000) break;
      await new Promise((r) => setImmediate(r));
    }
    return total;
  }

  lastSeq(): number {
    return lastSeq(this.db);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Commit what is queued before closing: those callers are waiting for their 200.
    this.commit();
    this.closed = true;
    this.db.close();
  }
}
