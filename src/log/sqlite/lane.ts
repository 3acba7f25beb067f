import type Database from 'better-sqlite3';
import type { Lane, LaneBacklog, LaneMessage, LaneOptions } from '../types.js';
import { PAYLOAD_SEPARATOR, SEQ_SHIFT, endOfRow, lastRow, rowOf, seqOf } from './schema.js';
import type { Sequencer } from './sequencer.js';

interface EventRow {
  seq: number;
  source_id: string;
  received_at: number;
  message_ids: string;
  payloads: string;
}
interface RetryRow {
  seq: number;
  attempt: number;
  first_attempt_at: number;
  row: number;
  source_id: string;
  received_at: number;
  message_ids: string;
  payloads: string;
}
type Op = { kind: 'upsert'; seq: number; nextAt: number; attempt: number; firstAttemptAt: number } | { kind: 'delete'; seq: number };

/** A row split into its events (kept for the row being read, so a partly read batch is split once). */
interface SplitRow {
  row: number;
  ids: string[];
  payloads: string[];
}

const ROWS_PER_READ = 64;

/**
 * One destination instance's view of the log: a durable cursor (an event sequence)
 * plus its rows in `lane_retries`. Messages handed out are tracked in memory only
 * while in flight (bounded by what the router fetched); the durable cursor never
 * passes an unsettled message, so a crash re-delivers rather than loses.
 */
export class SqliteLane implements Lane {
  readonly id: string;
  private readonly sources: Set<string>;
  /** Highest sequence read (handed out or skipped). */
  private readCursor: number;
  private durableCursor: number;
  private readonly inFlightNew = new Set<number>();
  private readonly inFlightRetries = new Set<number>();
  /** Retry rows settled in memory but not yet flushed: the table still shows them due. */
  private readonly unflushed = new Set<number>();
  private ops: Op[] = [];
  private split: SplitRow | null = null;
  private readonly stmts;

  constructor(
    private readonly db: Database.Database,
    private readonly sequencer: Sequencer,
    options: LaneOptions,
  ) {
    this.id = options.laneId;
    this.sources = new Set(options.sourceIds);
    // A new lane starts at the current end of the log: like Segment, connecting a
    // destination does not replay history into it.
    db.prepare(`INSERT OR IGNORE INTO lanes (lane_id, cursor, created_at) VALUES (?, ?, ?)`).run(this.id, endOfRow(lastRow(db)), Date.now());
    const row = db.prepare(`SELECT cursor FROM lanes WHERE lane_id = ?`).get(this.id) as { cursor: number };
    this.readCursor = row.cursor;
    this.durableCursor = row.cursor;
    this.stmts = {
      due: db.prepare(
        `SELECT r.seq, r.attempt, r.first_attempt_at, e.seq AS row, e.source_id, e.received_at, e.message_ids, e.payloads
           FROM lane_retries r JOIN events e ON e.seq = r.seq / ${SEQ_SHIFT}
          WHERE r.lane_id = ? AND r.next_at <= ? ORDER BY r.next_at LIMIT ?`,
      ),
      rows: db.prepare(`SELECT seq, source_id, received_at, message_ids, payloads FROM events WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?`),
      upsert: db.prepare(
        `INSERT INTO lane_retries (lane_id, seq, next_at, attempt, first_attempt_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (lane_id, seq) DO UPDATE SET next_at = excluded.next_at, attempt = excluded.attempt`,
      ),
      delete: db.prepare(`DELETE FROM lane_retries WHERE lane_id = ? AND seq = ?`),
      cursor: db.prepare(`UPDATE lanes SET cursor = ? WHERE lane_id = ?`),
      nextRetry: db.prepare(`SELECT MIN(next_at) AS at FROM lane_retries WHERE lane_id = ?`),
      retrying: db.prepare(`SELECT COUNT(*) AS n FROM lane_retries WHERE lane_id = ?`),
      pending: db.prepare(`SELECT IFNULL(SUM(count), 0) AS n FROM events WHERE seq > ?`),
    };
  }

  async fetch(max: number, now: number): Promise<LaneMessage[]> {
    const out: LaneMessage[] = [];
    this.fetchDue(out, max, now);
    if (out.length < max) this.fetchNew(out, max, now);
    return out;
  }

  private fetchDue(out: LaneMessage[], max: number, now: number): void {
    const due = this.stmts.due.all(this.id, now, max + this.inFlightRetries.size + this.unflushed.size) as RetryRow[];
    const splits = new Map<number, SplitRow>();
    for (const r of due) {
      if (out.length >= max) break;
      if (this.inFlightRetries.has(r.seq) || this.unflushed.has(r.seq)) continue;
      let split = splits.get(r.row);
      if (!split) splits.set(r.row, (split = splitRow(r.row, r.message_ids, r.payloads)));
      const index = r.seq - r.row * SEQ_SHIFT;
      this.inFlightRetries.add(r.seq);
      out.push(message(r.seq, r.source_id, r.received_at, split, index, r.attempt, r.first_attempt_at));
    }
  }

  private fetchNew(out: LaneMessage[], max: number, now: number): void {
    const watermark = this.sequencer.advance(now);
    while (out.length < max) {
      const fromRow = rowOf(this.readCursor + 1);
      if (fromRow > watermark) return;
      const rows = this.stmts.rows.all(fromRow, watermark, ROWS_PER_READ) as EventRow[];
      if (rows.length === 0) {
        this.readCursor = endOfRow(watermark);
        return;
      }
      const dups = this.sequencer.duplicatesIn(this.readCursor + 1, endOfRow(rows[rows.length - 1]!.seq));
      for (const r of rows) {
        if (!this.sources.has(r.source_id)) {
          this.readCursor = endOfRow(r.seq); // not this lane's source: skipped unread
          continue;
        }
        const split = this.split?.row === r.seq ? this.split : (this.split = splitRow(r.seq, r.message_ids, r.payloads));
        for (let i = 0; i < split.payloads.length; i++) {
          const seq = seqOf(r.seq, i);
          if (seq <= this.readCursor) continue;
          if (out.length >= max) return;
          this.readCursor = seq;
          if (dups.has(seq)) continue;
          this.inFlightNew.add(seq);
          out.push(message(seq, r.source_id, r.received_at, split, i, 1, null));
        }
        this.readCursor = endOfRow(r.seq);
        this.split = null;
      }
      if (rows.length < ROWS_PER_READ) return; // read everything up to the watermark
    }
  }

  ack(m: LaneMessage): void {
    this.settle(m.seq);
  }

  retry(m: LaneMessage, notBefore: number, attemptedAt: number): void {
    this.settle(m.seq, false);
    this.unflushed.add(m.seq);
    this.ops.push({ kind: 'upsert', seq: m.seq, nextAt: notBefore, attempt: m.attempt + 1, firstAttemptAt: m.firstAttemptAt ?? attemptedAt });
  }

  /** The reason is recorded by the caller's delivery records; the embedded log keeps no tombstone. */
  fail(m: LaneMessage, _reason: string): void {
    this.settle(m.seq);
  }

  private settle(seq: number, deleteRetryRow = true): void {
    if (this.inFlightRetries.delete(seq)) {
      this.unflushed.add(seq);
      if (deleteRetryRow) this.ops.push({ kind: 'delete', seq });
    } else {
      this.inFlightNew.delete(seq);
    }
  }

  async flush(): Promise<void> {
    let cursor = this.readCursor;
    for (const seq of this.inFlightNew) if (seq - 1 < cursor) cursor = seq - 1;
    if (this.ops.length === 0 && cursor === this.durableCursor) return;
    const ops = this.ops;
    this.ops = [];
    // Retry rows and the cursor move in one transaction: the cursor never passes an
    // event whose retry row is not yet written.
    this.db.transaction(() => {
      for (const op of ops) {
        if (op.kind === 'upsert') this.stmts.upsert.run(this.id, op.seq, op.nextAt, op.attempt, op.firstAttemptAt);
        else this.stmts.delete.run(this.id, op.seq);
      }
      if (cursor !== this.durableCursor) this.stmts.cursor.run(cursor, this.id);
    })();
    this.durableCursor = cursor;
    this.unflushed.clear();
  }

  async nextRetryAt(): Promise<number | null> {
    return (this.stmts.nextRetry.get(this.id) as { at: number | null }).at;
  }

  async backlog(): Promise<LaneBacklog> {
    const retrying = (this.stmts.retrying.get(this.id) as { n: number }).n;
    const pending = (this.stmts.pending.get(rowOf(this.durableCursor)) as { n: number }).n;
    return { pending, retrying };
  }

  async close(): Promise<void> {
    await this.flush();
  }
}

function splitRow(row: number, messageIds: string, payloads: string): SplitRow {
  return { row, ids: JSON.parse(messageIds) as string[], payloads: payloads.split(PAYLOAD_SEPARATOR) };
}

function message(seq: number, sourceId: string, receivedAt: number, split: SplitRow, index: number, attempt: number, firstAttemptAt: number | null): LaneMessage {
  return { seq, sourceId, messageId: split.ids[index]!, payload: split.payloads[index]!, receivedAt, attempt, firstAttemptAt };
}
