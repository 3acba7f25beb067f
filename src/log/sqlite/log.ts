import path from 'node:path';
import type Database from 'better-sqlite3';
import type { AppendBatch, AppendOutcome, AppendRecord, EventLog, Lane, LaneBacklog, LaneOptions } from '../types.js';
import { openDatabase, type SyncMode } from './db.js';
import { SqliteLane } from './lane.js';
import { PAYLOAD_SEPARATOR } from '../../protocol/types.js';
import { SEQ_SHIFT, endOfRow, lastRow, migrateLog, rowOf } from './schema.js';
import { PayloadSegments, type PayloadRef } from './segments.js';
import { Sequencer } from './sequencer.js';

export interface SqliteLogOptions {
  /** The log file; the dedupe state lives beside it in `<name>-dedupe.db`. */
  path: string;
  sync?: SyncMode;
  dedupeWindowMs: number;
  /** Delivered events older than this are pruned once every lane is past them. */
  retentionMs: number;
  /** Called after each group commit with the highest sequence (to wake the router). */
  onCommit?: (lastSeq: number) => void;
  /**
   * False on the ingest side: SQLite's automatic WAL checkpoint would run inside an
   * ingest commit (measured: 15% of batch ingest). The router thread calls
   * checkpoint() on a timer instead.
   */
  autoCheckpoint?: boolean;
  /** Called when the dedupe stage finds duplicates (router side). */
  onDuplicates?: (sourceId: string, count: number) => void;
  /** A WAL this long (frames of one page) is restarted by checkpoint(); default ~64 MB. */
  walRestartFrames?: number;
  /** Size at which a payload segment file is closed and the next started; default 64 MB. */
  segmentBytes?: number;
  /** A lane found a row whose payloads are gone (power cut under `normal` sync): its events are skipped. */
  onLostPayloads?: (info: { laneId: string; row: number; events: number }) => void;
}

/** One row about to be inserted: a run of one append's events from one source. */
interface NewRow {
  sourceId: string;
  receivedAt: number;
  count: number;
  messageIds: readonly string[];
  /** The events joined by `\n`: as text (append) or already encoded (appendBatch). */
  payloads: string | Uint8Array;
}

/** What a reader logs through `onLostPayloads`: the step and the likely cause. */
export const LOST_PAYLOADS_MESSAGE = 'reading the event log: payloads of a committed row are missing (a power cut under sync=normal?); its events are skipped';

const PRUNE_SLICE = 256;
/** A WAL this long (~64 MB of 4 KB pages) is checkpointed and restarted from its start. */
const WAL_RESTART_FRAMES = 16_384;
/** How long the RESTART may hold off the ingest writer while it waits for the lock or for readers. */
const WAL_RESTART_WAIT_MS = 200;
/** After a restart the WAL file is cut back to this size; below it, its blocks are reused. */
const WAL_SIZE_LIMIT_BYTES = 256 * 1024 * 1024;

/** One row per source and per SEQ_SHIFT events (a request normally makes exactly one). */
function toRows(records: AppendRecord[]): NewRow[] {
  const rows: NewRow[] = [];
  let start = 0;
  while (start < records.length) {
    const sourceId = records[start]!.sourceId;
    let end = start + 1;
    while (end < records.length && end - start < SEQ_SHIFT && records[end]!.sourceId === sourceId) end++;
    const slice = records.slice(start, end);
    rows.push({
      sourceId,
      receivedAt: slice[0]!.receivedAt,
      count: slice.length,
      messageIds: slice.map((r) => r.messageId),
      payloads: slice.map((r) => r.payload).join(PAYLOAD_SEPARATOR),
    });
    start = end;
  }
  return rows;
}

/** A row of one group commit: consecutive appends of one source, merged. */
interface GroupRow {
  sourceId: string;
  /** The first append's: a later one in the group came at most one event-loop turn after. */
  receivedAt: number;
  count: number;
  /** Payload size so far (approximate). */
  size: number;
  messageIds: string[];
  /** Each merged row's events, joined by `\n` (segments.write adds the `\n` between them). */
  payloads: (string | Uint8Array)[];
}

/**
 * Rows of one group are merged up to this size. A lane reads a whole row to hand
 * out any event in it (a due retry, too), so rows stay about one batch large; a
 * single 100-event batch (~50-70 KB) is never merged with the next.
 */
const MERGED_ROW_BYTES = 32 * 1024;

/**
 * Merges the group's consecutive small rows of one source into one row (up to
 * MERGED_ROW_BYTES): single-event requests, committed a few dozen per turn, then
 * cost an insert per ~50 events instead of one each. Returns, for each append, the
 * index of the row that holds its last event.
 */
function groupRows(batch: PendingAppend[]): { rows: GroupRow[]; lastRowOf: number[] } {
  const rows: GroupRow[] = [];
  const lastRowOf: number[] = new Array(batch.length);
  for (let i = 0; i < batch.length; i++) {
    for (const row of batch[i]!.rows) {
      const last = rows[rows.length - 1];
      const size = row.payloads.length; // characters or bytes: a bound, not an exact size
      if (last && last.sourceId === row.sourceId && last.size + size <= MERGED_ROW_BYTES) {
        last.count += row.count;
        last.size += size;
        last.messageIds.push(...row.messageIds);
        last.payloads.push(row.payloads);
      } else {
        rows.push({ sourceId: row.sourceId, receivedAt: row.receivedAt, count: row.count, size, messageIds: [...row.messageIds], payloads: [row.payloads] });
      }
    }
    lastRowOf[i] = rows.length - 1;
  }
  return { rows, lastRowOf };
}

interface WalCheckpoint {
  busy: number;
  log: number;
  checkpointed: number;
}

interface PendingAppend {
  rows: NewRow[];
  events: number;
  resolve: (outcome: AppendOutcome) => void;
  reject: (err: unknown) => void;
}

/**
 * The embedded log. Appends are group-committed: every append made during one turn
 * of the event loop goes into one transaction, committed in `setImmediate`, and
 * their promises resolve after it (so a 200 is only ever sent after the commit).
 * Each append is one row; dedupe happens later, in the Sequencer, on the router's
 * side, so the ingest path does one insert per request and nothing per event.
 */
export class SqliteEventLog implements EventLog {
  readonly db: Database.Database;
  private readonly insertRow: Database.Statement<[string, number, number, string, number, number, number]>;
  readonly segments: PayloadSegments;
  private readonly insertMark: Database.Statement<[number, number]>;
  private pending: PendingAppend[] = [];
  private scheduled = false;
  private readonly commitBatch: (rows: GroupRow[], refs: PayloadRef[]) => number[];
  private closed = false;
  private lastMarkAt = 0;
  private row: number;
  private sequencerDb: Database.Database | null = null;
  private sequencerInstance: Sequencer | null = null;

  constructor(private readonly options: SqliteLogOptions) {
    this.db = openDatabase(options.path, options.sync);
    if (options.autoCheckpoint === false) this.db.pragma('wal_autocheckpoint = 0');
    this.db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    migrateLog(this.db);
    this.row = lastRow(this.db);
    this.segments = new PayloadSegments(options.path, this.db, { sync: options.sync ?? 'normal', segmentBytes: options.segmentBytes });
    // Payloads go to the segment files; the row keeps where (payloads '' marks such rows).
    this.insertRow = this.db.prepare(
      `INSERT INTO events (source_id, received_at, count, message_ids, payloads, seg, off, len) VALUES (?, ?, ?, ?, '', ?, ?, ?)`,
    );
    // A mark (time, row) a second tells retention which rows are old enough to
    // prune without an index on time.
    this.insertMark = this.db.prepare(`INSERT OR REPLACE INTO seq_marks (at, seq) VALUES (?, ?)`);
    this.commitBatch = this.db.transaction((rows: GroupRow[], refs: PayloadRef[]) => {
      const now = Date.now();
      if (now - this.lastMarkAt >= 1000) {
        this.insertMark.run(now, this.row);
        this.lastMarkAt = now;
      }
      const ids: number[] = new Array(rows.length);
      for (let r = 0; r < rows.length; r++) {
        const row = rows[r]!;
        const ref = refs[r]!;
        ids[r] = this.row = Number(this.insertRow.run(row.sourceId, row.receivedAt, row.count, JSON.stringify(row.messageIds), ref.seg, ref.off, ref.len).lastInsertRowid);
      }
      return ids;
    });
  }

  append(records: AppendRecord[]): Promise<AppendOutcome> {
    return this.enqueue(toRows(records), records.length);
  }

  appendBatch(batch: AppendBatch): Promise<AppendOutcome> {
    const count = batch.messageIds.length;
    if (count > SEQ_SHIFT) return Promise.reject(new Error(`an append holds at most ${SEQ_SHIFT} events`));
    const row = { sourceId: batch.sourceId, receivedAt: batch.receivedAt, count, messageIds: batch.messageIds, payloads: batch.payloads };
    return this.enqueue(count === 0 ? [] : [row], count);
  }

  private enqueue(rows: NewRow[], events: number): Promise<AppendOutcome> {
    if (this.closed) return Promise.reject(new Error('log is closed'));
    if (events === 0) return Promise.resolve({ accepted: 0, duplicates: 0, lastSeq: endOfRow(this.row) });
    return new Promise((resolve, reject) => {
      this.pending.push({ rows, events, resolve, reject });
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
    const { rows, lastRowOf } = groupRows(batch);
    let ids: number[];
    try {
      const refs = this.segments.write(rows.map((row) => row.payloads));
      ids = this.commitBatch(rows, refs);
      this.segments.committed();
    } catch (err) {
      // Nothing of this group was committed (the transaction rolled back; payload
      // bytes written for it are overwritten by the next group): every caller gets
      // the error and answers 503, so clients retry.
      for (const item of batch) item.reject(err);
      return;
    }
    // Dedupe happens downstream (Sequencer): at append time nothing is known to be a duplicate.
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve({ accepted: batch[i]!.events, duplicates: 0, lastSeq: endOfRow(ids[lastRowOf[i]!]!) });
    this.options.onCommit?.(endOfRow(this.row));
  }

  private get sequencer(): Sequencer {
    if (!this.sequencerInstance) {
      const parsed = path.parse(this.options.path);
      this.sequencerDb = openDatabase(path.join(parsed.dir, `${parsed.name}-dedupe.db`), this.options.sync);
      this.sequencerInstance = new Sequencer(this.db, this.sequencerDb, this.options.dedupeWindowMs, this.options.onDuplicates);
    }
    return this.sequencerInstance;
  }

  lane(options: LaneOptions): Lane {
    return new SqliteLane(this.db, this.sequencer, this.segments, options, this.options.onLostPayloads);
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

  /** A lane's backlog read from the store (for the API, which holds no Lane objects). */
  laneBacklog(laneId: string): LaneBacklog | null {
    const lane = this.db.prepare(`SELECT cursor FROM lanes WHERE lane_id = ?`).get(laneId) as { cursor: number } | undefined;
    if (!lane) return null;
    const pending = (this.db.prepare(`SELECT IFNULL(SUM(count), 0) AS n FROM events WHERE seq > ?`).get(rowOf(lane.cursor)) as { n: number }).n;
    const retrying = (this.db.prepare(`SELECT COUNT(*) AS n FROM lane_retries WHERE lane_id = ?`).get(laneId) as { n: number }).n;
    return { pending, retrying };
  }

  async prune(now: number): Promise<number> {
    const { bound } = this.db
      .prepare(
        `SELECT MIN(
           IFNULL((SELECT MIN(cursor) FROM lanes), 9e15),
           IFNULL((SELECT MIN(seq) - 1 FROM lane_retries), 9e15),
           IFNULL((SELECT MAX(seq) FROM seq_marks WHERE at < ?), 0) * ${SEQ_SHIFT} + ${SEQ_SHIFT - 1}
         ) AS bound`,
      )
      .get(now - this.options.retentionMs) as { bound: number };
    // Rows wholly at or below the bound; deleted in slices so ingest never waits long.
    const lastDeletable = rowOf(bound + 1) - 1;
    this.db.prepare(`DELETE FROM seq_marks WHERE at < ? AND seq < ?`).run(now - this.options.retentionMs, lastDeletable);
    // A row can hold a 500 KB batch, so slices are small: each DELETE holds the write lock briefly.
    const del = this.db.prepare(`DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq <= ? ORDER BY seq LIMIT ${PRUNE_SLICE})`);
    let total = 0;
    for (;;) {
      const n = del.run(lastDeletable).changes;
      total += n;
      if (n < PRUNE_SLICE) break;
      await new Promise((r) => setImmediate(r));
    }
    this.sequencerInstance?.prune(endOfRow(lastDeletable));
    this.segments.prune();
    return total;
  }

  /**
   * Copies committed WAL pages into the database without blocking writers (PASSIVE).
   * Under steady ingest that alone never lets the WAL start over: a writer restarts
   * it only when every frame is already copied, and new commits keep arriving while
   * a checkpoint runs. The file then grows for as long as the load lasts, and every
   * commit writes into fresh file blocks, which the kernel zeroes first (measured:
   * ~7% of the machine's CPU during batch ingest, on top of the unbounded disk use).
   * So once the WAL holds more than `walRestartFrames`, a second PASSIVE pass copies
   * what arrived during the first and a RESTART copies the last few frames and makes
   * the next commit write from the start of the file again. RESTART holds off
   * writers while it runs; a short busy timeout bounds that (a reader holding an old
   * snapshot makes it give up until the next call, never stall ingest for long).
   */
  checkpoint(): void {
    const [first] = this.db.pragma('wal_checkpoint(PASSIVE)') as WalCheckpoint[];
    if (!first || first.log < (this.options.walRestartFrames ?? WAL_RESTART_FRAMES)) return;
    this.db.pragma('wal_checkpoint(PASSIVE)');
    const timeout = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma(`busy_timeout = ${WAL_RESTART_WAIT_MS}`);
    try {
      this.db.pragma('wal_checkpoint(RESTART)');
    } finally {
      this.db.pragma(`busy_timeout = ${timeout}`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Commit what is queued before closing: those callers are waiting for their 200.
    this.commit();
    this.closed = true;
    this.segments.close();
    this.db.close();
    this.sequencerDb?.close();
  }
}
