import type Database from 'better-sqlite3';
import type { Lane, LaneBacklog, LaneMessage, LaneOptions } from '../types.js';
import { lastSeq } from './schema.js';

interface EventRow {
  seq: number;
  source_id: string;
  message_id: string;
  received_at: number;
  payload: string;
}
interface RetryRow extends EventRow {
  attempt: number;
  first_attempt_at: number;
}
type Op = { kind: 'upsert'; seq: number; nextAt: number; attempt: number; firstAttemptAt: number } | { kind: 'delete'; seq: number };

const READ_CHUNK = 512;

/**
 * One destination instance's view of the log: a durable cursor into `events`
 * plus its rows in `lane_retries`. Messages handed out are tracked in memory only
 * while in flight (bounded by what the router fetched); the durable cursor never
 * passes an unsettled message, so a crash re-delivers rather than loses.
 */
export class SqliteLane implements Lane {
  readonly id: string;
  private readonly sources: Set<string>;
  /** Highest sequence read from `events` (handed out or skipped). */
  private readCursor: number;
  private durableCursor: number;
  private readonly inFlightNew = new Set<number>();
  private readonly inFlightRetries = new Set<number>();
  private ops: Op[] = [];
  private readonly stmts;

  constructor(
    private readonly db: Database.Database,
    options: LaneOptions,
  ) {
    this.id = options.laneId;
    this.sources = new Set(options.sourceIds);
    // A new lane starts at the current end of the log: like Segment, connecting a
    // destination does not replay history into it.
    db.prepare(`INSERT OR IGNORE INTO lanes (lane_id, cursor, created_at) VALUES (?, ?, ?)`).run(this.id, lastSeq(db), Date.now());
    const row = db.prepare(`SELECT cursor FROM lanes WHERE lane_id = ?`).get(this.id) as { cursor: number };
    this.readCursor = row.cursor;
    this.durableCursor = row.cursor;
    this.stmts = {
      due: db.prepare(
        `SELECT r.seq, r.attempt, r.first_attempt_at, e.source_id, e.message_id, e.received_at, e.payload
           FROM lane_retries r JOIN events e ON e.seq = r.seq
          WHERE r.lane_id = ? AND r.next_at <= ? ORDER BY r.next_at LIMIT ?`,
      ),
      next: db.prepare(`SELECT seq, source_id, message_id, received_at, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?`),
      upsert: db.prepare(
        `INSERT INTO lane_retries (lane_id, seq, next_at, attempt, first_attempt_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (lane_id, seq) DO UPDATE SET next_at = excluded.next_at, attempt = excluded.attempt`,
      ),
      delete: db.prepare(`DELETE FROM lane_retries WHERE lane_id = ? AND seq = ?`),
      cursor: db.prepare(`UPDATE lanes SET cursor = ? WHERE lane_id = ?`),
      nextRetry: db.prepare(`SELECT MIN(next_at) AS at FROM lane_retries WHERE lane_id = ?`),
      retrying: db.prepare(`SELECT COUNT(*) AS n FROM lane_retries WHERE lane_id = ?`),
    };
  }

  async fetch(max: number, now: number): Promise<LaneMessage[]> {
    const out: LaneMessage[] = [];
    const due = this.stmts.due.all(this.id, now, max + this.inFlightRetries.size) as RetryRow[];
    for (const r of due) {
      if (out.length >= max) break;
      if (this.inFlightRetries.has(r.seq)) continue;
      this.inFlightRetries.add(r.seq);
      out.push(toMessage(r, r.attempt, r.first_attempt_at));
    }
    while (out.length < max) {
      const rows = this.stmts.next.all(this.readCursor, READ_CHUNK) as EventRow[];
      for (const r of rows) {
        if (out.length >= max) break;
        this.readCursor = r.seq;
        if (!this.sources.has(r.source_id)) continue;
        this.inFlightNew.add(r.seq);
        out.push(toMessage(r, 1, null));
      }
      if (rows.length < READ_CHUNK) break;
    }
    return out;
  }

  ack(message: LaneMessage): void {
    this.settle(message.seq);
  }

  retry(message: LaneMessage, notBefore: number, attemptedAt: number): void {
    this.settle(message.seq, false);
    this.ops.push({
      kind: 'upsert',
      seq: message.seq,
      nextAt: notBefore,
      attempt: message.attempt + 1,
      firstAttemptAt: message.firstAttemptAt ?? attemptedAt,
    });
  }

  fail(message: LaneMessage): void {
    this.settle(message.seq);
  }

  private settle(seq: number, deleteRetryRow = true): void {
    if (this.inFlightRetries.delete(seq)) {
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
  }

  async nextRetryAt(): Promise<number | null> {
    return (this.stmts.nextRetry.get(this.id) as { at: number | null }).at;
  }

  async backlog(): Promise<LaneBacklog> {
    const retrying = (this.stmts.retrying.get(this.id) as { n: number }).n;
    return { pending: Math.max(0, lastSeq(this.db) - this.durableCursor - this.inFlightNew.size), retrying };
  }

  async close(): Promise<void> {
    await this.flush();
  }
}

function toMessage(r: EventRow, attempt: number, firstAttemptAt: number | null): LaneMessage {
  return {
    seq: r.seq,
    sourceId: r.source_id,
    messageId: r.message_id,
    payload: r.payload,
    receivedAt: r.received_at,
    attempt,
    firstAttemptAt,
  };
}
