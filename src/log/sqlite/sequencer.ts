import type Database from 'better-sqlite3';
import { DedupeWindow } from './dedupe.js';
import { endOfRow, seqOf } from './schema.js';

/** At most this many events are deduped per call, so one call never blocks the router long. */
const EVENTS_PER_ADVANCE = 8192;

/**
 * Dedupe runs here, on the router's side, not on the ingest path: ingest only
 * appends, and this stage walks the new rows once, in order, marking events whose
 * (source, messageId) was seen inside the window. Lanes read only up to its
 * watermark and skip marked events, so every lane agrees on what is a duplicate.
 * Its state (keys, marks, watermark) lives in its own SQLite file and commits in
 * one transaction, so it never holds the log's write lock and a crash leaves the
 * watermark and the marks consistent.
 */
export class Sequencer {
  private watermarkRow = 0;
  private readonly dedupe: DedupeWindow;
  private readonly stmts;
  private readonly commit: (rows: PendingRow[], now: number, expected: number) => boolean;
  private readonly readWatermark: () => number;

  constructor(
    logDb: Database.Database,
    private readonly db: Database.Database,
    windowMs: number,
    private readonly onDuplicates?: (sourceId: string, count: number) => void,
  ) {
    db.exec(`CREATE TABLE IF NOT EXISTS dup_seqs (seq INTEGER PRIMARY KEY)`);
    this.dedupe = new DedupeWindow(db, windowMs);
    const meta = db.prepare(`SELECT value FROM dedupe_meta WHERE key = 'watermark'`).pluck();
    this.readWatermark = () => (meta.get() as number | undefined) ?? 0;
    this.watermarkRow = this.readWatermark();
    this.stmts = {
      rows: logDb.prepare(`SELECT seq, source_id, count, message_ids FROM events WHERE seq > ? ORDER BY seq LIMIT 256`),
      mark: db.prepare(`INSERT OR IGNORE INTO dup_seqs (seq) VALUES (?)`),
      watermark: db.prepare(`INSERT INTO dedupe_meta (key, value) VALUES ('watermark', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`),
      dups: db.prepare(`SELECT seq FROM dup_seqs WHERE seq BETWEEN ? AND ?`).pluck(),
      prune: db.prepare(`DELETE FROM dup_seqs WHERE seq <= ?`),
    };
    // Several threads may open the log (the router, the warehouse loader): each has a
    // Sequencer on the same dedupe file. One that committed from a stale watermark would
    // re-admit rows another already admitted and mark them duplicates (never delivered),
    // so the commit checks, under the write lock, that nobody advanced in between.
    const commit = db.transaction((rows: PendingRow[], now: number, expected: number): boolean => {
      if (this.readWatermark() !== expected) return false;
      this.dedupe.refresh();
      for (const r of rows) {
        const ids = JSON.parse(r.message_ids) as string[];
        let dups = 0;
        for (let i = 0; i < ids.length; i++) {
          if (this.dedupe.admit(r.source_id, ids[i]!, now)) continue;
          this.stmts.mark.run(seqOf(r.seq, i));
          dups++;
        }
        if (dups > 0) this.onDuplicates?.(r.source_id, dups);
      }
      this.stmts.watermark.run(rows[rows.length - 1]!.seq);
      return true;
    });
    this.commit = (rows, now, expected) => commit.immediate(rows, now, expected);
  }

  /** Dedupes rows committed since the last call (a bounded slice); returns the last row lanes may read. */
  advance(now: number): number {
    const persisted = this.readWatermark();
    if (persisted > this.watermarkRow) this.watermarkRow = persisted;
    const rows = this.stmts.rows.all(this.watermarkRow) as PendingRow[];
    if (rows.length === 0) return this.watermarkRow;
    let events = 0;
    let take = 0;
    while (take < rows.length && (take === 0 || events + rows[take]!.count <= EVENTS_PER_ADVANCE)) events += rows[take++]!.count;
    const slice = rows.slice(0, take);
    if (this.commit(slice, now, this.watermarkRow)) this.watermarkRow = slice[slice.length - 1]!.seq;
    else this.watermarkRow = Math.max(this.watermarkRow, this.readWatermark());
    return this.watermarkRow;
  }

  /** Marked duplicates among the sequences from..to (inclusive). */
  duplicatesIn(from: number, to: number): Set<number> {
    return new Set(this.stmts.dups.all(from, to) as number[]);
  }

  /** Marks at or below `seq` are no longer needed (every lane is past them). */
  prune(seq: number): void {
    this.stmts.prune.run(seq);
  }

  get lastSeq(): number {
    return endOfRow(this.watermarkRow);
  }
}

interface PendingRow {
  seq: number;
  source_id: string;
  count: number;
  message_ids: string;
}
