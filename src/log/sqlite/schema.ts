import type Database from 'better-sqlite3';

/**
 * The log's tables. `events` is written once per accepted event; AUTOINCREMENT so a
 * sequence is never reused even after pruning empties the table (lane cursors
 * compare sequences). Retries are rows keyed by (lane, seq), not copies of events.
 */
export function migrateLog(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS events (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      source_id TEXT NOT NULL,
      message_id TEXT NOT NULL,
      received_at INTEGER NOT NULL,
      payload TEXT NOT NULL
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
    CREATE TABLE IF NOT EXISTS log_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
  `);
}

export function lastSeq(db: Database.Database): number {
  const row = db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'events'`).get() as { seq: number } | undefined;
  return row?.seq ?? 0;
}
