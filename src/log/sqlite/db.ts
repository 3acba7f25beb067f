import Database from 'better-sqlite3';

export type SyncMode = 'normal' | 'full';

/**
 * Opens a SQLite file the way every embedded component wants it: WAL (readers never
 * block the writer), a busy timeout (the ingest writer and the router share the log
 * file), and the requested sync mode. `normal` in WAL mode survives a process crash
 * (kill -9) because a committed transaction is in the OS page cache; `full` also
 * survives power loss at the cost of an fsync per group commit.
 */
export function openDatabase(path: string, sync: SyncMode = 'normal', cacheMb = 8): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma('busy_timeout = 10000');
  db.pragma('temp_store = MEMORY');
  // Each connection has its own page cache; there are several per process, so keep them modest.
  db.pragma(`cache_size = -${cacheMb * 1024}`);
  return db;
}
