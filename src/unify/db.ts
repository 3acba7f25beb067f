/**
 * `DATA_DIR/unify.db`: the identity graph of one Unify space (better-sqlite3, WAL).
 * The consumer thread writes it; the Profile API reads it through its own
 * connection (WAL: readers never block the writer).
 */
import Database from 'better-sqlite3';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
-- One row per profile ever made; merged_into is set on the profiles a merge folded away,
-- so a segment_id handed out earlier still finds its profile.
CREATE TABLE IF NOT EXISTS profiles (
  id TEXT PRIMARY KEY,
  merged_into TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  first_message_id TEXT NOT NULL,
  first_source_id TEXT NOT NULL,
  last_message_id TEXT NOT NULL,
  last_source_id TEXT NOT NULL,
  event_count INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
-- An external id belongs to exactly one profile.
CREATE TABLE IF NOT EXISTS external_ids (
  type TEXT NOT NULL,
  value TEXT NOT NULL,
  profile_id TEXT NOT NULL,
  source_id TEXT NOT NULL,
  first_message_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  -- When an event last carried it (received time): limits with a frequency count recent values only.
  last_seen INTEGER NOT NULL,
  PRIMARY KEY (type, value)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS external_ids_by_profile ON external_ids (profile_id, created_at);
-- Latest wins per trait: updated_at is the event's timestamp, so the order events arrive in does not matter.
CREATE TABLE IF NOT EXISTS traits (
  profile_id TEXT NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  source_id TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (profile_id, name)
) WITHOUT ROWID;
-- The newest EVENTS_PER_PROFILE events of each profile, with the external ids promoted from each.
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  profile_id TEXT NOT NULL,
  source_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  type TEXT NOT NULL,
  event TEXT,
  ts INTEGER NOT NULL,
  external_ids TEXT NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_profile ON events (profile_id, ts, id);
-- Accounts a user is linked to (group calls' groupId).
CREATE TABLE IF NOT EXISTS links (
  profile_id TEXT NOT NULL,
  group_id TEXT NOT NULL,
  source_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (profile_id, group_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS merges (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  from_profile TEXT NOT NULL,
  into_profile TEXT NOT NULL,
  source_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  at INTEGER NOT NULL
);
-- Messages already applied (idempotency under at-least-once delivery), kept for APPLIED_RETENTION_MS.
CREATE TABLE IF NOT EXISTS applied (
  source_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (source_id, message_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS applied_by_time ON applied (at);
`;

export type UnifyDb = Database.Database;

/** Opens (creating when missing) the graph database. `readOnly`: a query-only connection (the Profile API). */
export function openUnifyDb(path: string, opts: { readOnly?: boolean; sync?: 'normal' | 'full' } = {}): UnifyDb {
  const db = new Database(path);
  db.pragma('busy_timeout = 5000');
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.sync === 'full' ? 'FULL' : 'NORMAL'}`);
  db.exec(SCHEMA);
  if (opts.readOnly) db.pragma('query_only = ON');
  return db;
}

/** Which space the graph holds; a different space starts from an empty graph (see graph.ts). */
export function graphSpace(db: UnifyDb): string | undefined {
  return (db.prepare(`SELECT value FROM meta WHERE key = 'space'`).get() as { value: string } | undefined)?.value;
}
