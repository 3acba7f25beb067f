import type Database from 'better-sqlite3';
import type { Lane, LaneBacklog, LaneMessage, LaneOptions } from '../types.js';
import { PAYLOAD_SEPARATOR } from '../../protocol/types.js';
import { SEQ_SHIFT, endOfRow, lastRow, rowOf, seqOf } from './schema.js';
import type { PayloadSegments } from './segments.js';
import type { Sequencer } from './sequencer.js';

interface RowHead {
  seq: number;
  source_id: string;
  received_at: number;
}
/** Where a row's payloads are: inline (rows written before segment files) or in a segment. */
interface RowBody {
  message_ids: string;
  payloads: string;
  seg: number | null;
  off: number | null;
  len: number | null;
}
interface RetryRow {
  seq: number;
  attempt: number;
  first_attempt_at: number;
}
type Op = { kind: 'upsert'; seq: number; nextAt: number; attempt: number; firstAttemptAt: number } | { kind: 'delete'; seq: number };

/** A row split into its events (kept for the row being read, so a partly read batch is split once). */
interface SplitRow {
  row: number;
  sourceId: string;
  receivedAt: number;
  ids: string[];
  payloads: string[];
  /** Sequences in this row the dedupe stage marked as duplicates. */
  dups: Set<number>;
}

const HEADS_PER_READ = 256;

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
  /**
   * No retry row of this lane is due before this time: a lower bound (deletes only
   * raise the true minimum, `retry` lowers it), so fetches skip the `due` query while
   * nothing is retrying. Starts unknown.
   */
  private dueFrom = -Infinity;
  private split: SplitRow | null = null;
  /** Last row the dedupe stage has released (cached; advanced when the lane catches up). */
  private watermark = 0;
  private readonly stmts;

  constructor(
    private readonly db: Database.Database,
    private readonly sequencer: Sequencer,
    private readonly segments: PayloadSegments,
    options: LaneOptions,
    private readonly onLostPayloads?: (info: { laneId: string; row: number; events: number }) => void,
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
      due: db.prepare(`SELECT seq, attempt, first_attempt_at FROM lane_retries WHERE lane_id = ? AND next_at <= ? ORDER BY next_at LIMIT ?`),
      fullRow: db.prepare(`SELECT seq, source_id, received_at, message_ids, payloads, seg, off, len FROM events WHERE seq = ?`),
      heads: db.prepare(`SELECT seq, source_id, received_at FROM events WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?`),
      body: db.prepare(`SELECT message_ids, payloads, seg, off, len FROM events WHERE seq = ?`),
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
    if (now < this.dueFrom) return;
    const due = this.stmts.due.all(this.id, now, max + this.inFlightRetries.size + this.unflushed.size) as RetryRow[];
    if (due.length === 0) {
      // The table's earliest, and the retries settled since the last flush (not in it yet).
      let at = (this.stmts.nextRetry.get(this.id) as { at: number | null }).at ?? Infinity;
      for (const op of this.ops) if (op.kind === 'upsert' && op.nextAt < at) at = op.nextAt;
      this.dueFrom = at;
      return;
    }
    // Retries of one batch usually come due together: load and split each row once.
    const splits = new Map<number, SplitRow | null>();
    for (const r of due) {
      if (out.length >= max) break;
      if (this.inFlightRetries.has(r.seq) || this.unflushed.has(r.seq)) continue;
      const row = rowOf(r.seq);
      let split = splits.get(row);
      if (split === undefined) {
        const body = this.stmts.fullRow.get(row) as (RowHead & RowBody) | undefined;
        split = body ? this.splitRow(row, body, body.source_id, body.received_at) : null;
        splits.set(row, split);
      }
      if (!split) {
        // Prune keeps rows with pending retries, so the row is there but its payloads
        // are not (reported by splitRow): the retry is dropped with the next flush.
        this.unflushed.add(r.seq);
        this.ops.push({ kind: 'delete', seq: r.seq });
        continue;
      }
      this.inFlightRetries.add(r.seq);
      out.push(message(r.seq, split.sourceId, split.receivedAt, split, r.seq - row * SEQ_SHIFT, r.attempt, r.first_attempt_at));
    }
  }

  /**
   * New events past the cursor. Reads row headers (no payloads) to find the
   * lane's rows, then loads one row's payloads at a time and keeps it split in
   * memory until every event in it is handed out: a 100-event batch is read from
   * SQLite once, however many fetches it takes to hand it out.
   */
  private fetchNew(out: LaneMessage[], max: number, now: number): void {
    while (out.length < max) {
      if (this.split) {
        this.takeFrom(this.split, out, max);
        if (this.split) return; // max reached inside the row
        continue;
      }
      const fromRow = rowOf(this.readCursor + 1);
      // Only ask the dedupe stage for more when everything it released is read.
      if (fromRow > this.watermark) this.watermark = this.sequencer.advance(now);
      if (fromRow > this.watermark) return;
      const heads = this.stmts.heads.all(fromRow, this.watermark, HEADS_PER_READ) as RowHead[];
      if (heads.length === 0) {
        this.readCursor = endOfRow(this.watermark);
        return;
      }
      for (const h of heads) {
        if (this.sources.has(h.source_id)) {
          const split = this.splitRow(h.seq, this.stmts.body.get(h.seq) as RowBody, h.source_id, h.received_at);
          if (split) {
            this.split = split;
            split.dups = this.sequencer.duplicatesIn(seqOf(h.seq, 0), endOfRow(h.seq));
            break;
          }
        }
        this.readCursor = endOfRow(h.seq); // not this lane's source (or its payloads are lost): skipped
      }
    }
  }

  /** Hands out the row's events past the cursor; forgets the row once all are handed out. */
  private takeFrom(split: SplitRow, out: LaneMessage[], max: number): void {
    const first = this.readCursor >= seqOf(split.row, 0) ? this.readCursor - seqOf(split.row, 0) + 1 : 0;
    for (let i = first; i < split.payloads.length; i++) {
      if (out.length >= max) return;
      const seq = seqOf(split.row, i);
      this.readCursor = seq;
      if (split.dups.has(seq)) continue;
      this.inFlightNew.add(seq);
      out.push(message(seq, split.sourceId, split.receivedAt, split, i, 1, null));
    }
    this.readCursor = endOfRow(split.row);
    this.split = null;
  }

  /**
   * A row split into its events; null when its payloads are gone (a power cut under
   * `normal` sync kept the row but not its bytes): reported, and the row is skipped.
   */
  private splitRow(row: number, body: RowBody, sourceId: string, receivedAt: number): SplitRow | null {
    const ids = JSON.parse(body.message_ids) as string[];
    const text = body.seg === null ? body.payloads : this.segments.read({ seg: body.seg, off: body.off!, len: body.len! });
    const payloads = text?.split(PAYLOAD_SEPARATOR);
    if (!payloads || payloads.length !== ids.length) {
      this.onLostPayloads?.({ laneId: this.id, row, events: ids.length });
      return null;
    }
    return { row, sourceId, receivedAt, ids, payloads, dups: EMPTY };
  }

  ack(m: LaneMessage): void {
    this.settle(m.seq);
  }

  retry(m: LaneMessage, notBefore: number, attemptedAt: number): void {
    this.settle(m.seq, false);
    this.unflushed.add(m.seq);
    this.ops.push({ kind: 'upsert', seq: m.seq, nextAt: notBefore, attempt: m.attempt + 1, firstAttemptAt: m.firstAttemptAt ?? attemptedAt });
    if (notBefore < this.dueFrom) this.dueFrom = notBefore;
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

const EMPTY: Set<number> = new Set();

function message(seq: number, sourceId: string, receivedAt: number, split: SplitRow, index: number, attempt: number, firstAttemptAt: number | null): LaneMessage {
  return { seq, sourceId, messageId: split.ids[index]!, payload: split.payloads[index]!, receivedAt, attempt, firstAttemptAt };
}
