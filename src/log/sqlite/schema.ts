import type Database from 'better-sqlite3';

/**
 * The log's tables. One `events` row holds one append (one HTTP request: a single
 * event or a whole batch), so a 100-event batch is one B-tree insert instead of 100.
 * The row holds the events' message ids; their payloads are in a segment file
 * (segments.ts), at the row's (seg, off, len).
 * Each event inside has a sequence `row * SEQ_SHIFT + index`; lanes, cursors and
 * retries speak in those per-event sequences. AUTOINCREMENT so a row number is
 * never reused, even after pruning empties the table.
 */
export const SEQ_SHIFT = 65_536;

export const rowOf = (seq: number): number => Math.floor(seq / SEQ_SHIFT);
export const seqOf = (row: number, index: number): number => row * SEQ_SHIFT + index;
/** The sequence of the last event a row can hold: "past this row". */
export const endOfRow = (row: number): number => row * SEQ_SHIFT + (SEQ_SHIFT - 1);

export function migrateLog(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS events (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      source_id TEXT NOT NULL,
      received_at INTEGER NOT NULL,
      count INTEGER NOT NULL,
      message_ids TEXT NOT NULL,
      payloads TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS lanes (
      lane_id TEXT PRIMARY KEY,
      cursor INTEGER NOT NULL,
      created_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS lane_retries (
      lane_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      next_at INTEGER NOT NULL,
      attempt INTEGER NOT NULL,
      first_attempt_at INTEGER NOT NULL,
      PRIMARY KEY (lane_id, seq)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS lane_retries_due ON lane_retries (lane_id, next_at);
    CREATE TABLE IF NOT EXISTS seq_marks (at INTEGER PRIMARY KEY, seq INTEGER NOT NULL);
  `);
  // Payloads moved out of the rows into segment files (segments.ts): a row written
  // since holds '' in `payloads` and their place in (seg, off, len). Rows written
  // before keep their payloads inline and are read as they are.
  const columns = new Set((db.prepare(`PRAGMA table_info(events)`).all() as { name: string }[]).map((c) => c.name));
  for (const column of ['seg', 'off', 'len']) {
    if (!columns.has(column)) db.exec(`ALTER TABLE events ADD COLUMN ${column} INTEGER`);
  }
}

/** The last row number ever written (0 when none). */
export function lastRow(db: Database.Database): number {
  const row = db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'events'`).get() as { seq: number } | undefined;
  return row?.seq ?? 0;
}
