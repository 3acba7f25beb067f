import Database from 'better-sqlite3';
import type { LakeType } from './types.js';

/**
 * A lake's own bookkeeping (one SQLite file per lake, in the loader thread only):
 * - `seen`: messageIds synced in the last 7 days, per source (seed 001, "Data Lake
 *   deduplication": "Data Lakes deduplicate any data synced within the last seven
 *   days, based on the messageId field");
 * - `columns` / `partitions`: the schema as the catalog holds it (column order =
 *   the order columns were first seen: "New columns are appended to the end of the
 *   table in the Glue Data Catalog");
 * - `pending`: the object keys of a batch being written. A batch records its keys
 *   and messageIds here before any file is written, and clears `pending` after
 *   the last one; a crash in between leaves the batch pending, and recovery
 *   deletes its objects and forgets its messageIds before the next batch, so the
 *   redelivered events are written once, never twice or not at all.
 */
export const DEDUPE_WINDOW_MS = 7 * 24 * 3600 * 1000;

export interface ColumnDef { name: string; type: LakeType }

export class LakeState {
  private readonly db: Database.Database;
  private readonly seenStmt: Database.Statement;
  private readonly columnsStmt: Database.Statement;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS seen (source_id TEXT NOT NULL, message_id TEXT NOT NULL, synced_at INTEGER NOT NULL, batch TEXT NOT NULL,
        PRIMARY KEY (source_id, message_id)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS seen_by_time ON seen (synced_at);
      CREATE INDEX IF NOT EXISTS seen_by_batch ON seen (batch);
      CREATE TABLE IF NOT EXISTS columns (source_id TEXT NOT NULL, table_name TEXT NOT NULL, position INTEGER NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
        PRIMARY KEY (source_id, table_name, name));
      CREATE TABLE IF NOT EXISTS partitions (source_id TEXT NOT NULL, table_name TEXT NOT NULL, partition TEXT NOT NULL,
        PRIMARY KEY (source_id, table_name, partition)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS pending (batch TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (batch, key)) WITHOUT ROWID;`);
    this.seenStmt = this.db.prepare('SELECT 1 FROM seen WHERE source_id = ? AND message_id = ? AND synced_at >= ?').pluck();
    this.columnsStmt = this.db.prepare('SELECT name, type FROM columns WHERE source_id = ? AND table_name = ? ORDER BY position');
  }

  /** Whether a messageId of this source was synced within the dedupe window. */
  seen(sourceId: string, messageId: string, now: number): boolean {
    return this.seenStmt.get(sourceId, messageId, now - DEDUPE_WINDOW_MS) !== undefined;
  }

  columns(sourceId: string, table: string): ColumnDef[] {
    return this.columnsStmt.all(sourceId, table) as ColumnDef[];
  }

  tables(sourceId: string): string[] {
    return this.db.prepare('SELECT DISTINCT table_name FROM columns WHERE source_id = ? ORDER BY table_name').pluck().all(sourceId) as string[];
  }

  partitions(sourceId: string, table: string): string[] {
    return this.db.prepare('SELECT partition FROM partitions WHERE source_id = ? AND table_name = ? ORDER BY partition').pluck().all(sourceId, table) as string[];
  }

  /** Step 1 of a batch: its keys and messageIds, before any object is written. */
  begin(batch: string, keys: readonly string[], ids: readonly [string, string][], now: number): void {
    const addKey = this.db.prepare('INSERT OR IGNORE INTO pending (batch, key) VALUES (?, ?)');
    const addId = this.db.prepare('INSERT OR REPLACE INTO seen (source_id, message_id, synced_at, batch) VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const k of keys) addKey.run(batch, k);
      for (const [s, m] of ids) addId.run(s, m, now, batch);
    })();
  }

  /** Step 2, after every object is in place: the batch is final; its new columns and partitions join the schema. */
  commit(batch: string, columns: readonly { sourceId: string; table: string; column: ColumnDef }[], partitions: readonly { sourceId: string; table: string; partition: string }[]): void {
    const nextPos = this.db.prepare('SELECT coalesce(max(position), -1) + 1 FROM columns WHERE source_id = ? AND table_name = ?').pluck();
    const addColumn = this.db.prepare('INSERT OR IGNORE INTO columns (source_id, table_name, position, name, type) VALUES (?, ?, ?, ?, ?)');
    const addPartition = this.db.prepare('INSERT OR IGNORE INTO partitions (source_id, table_name, partition) VALUES (?, ?, ?)');
    this.db.transaction(() => {
      for (const c of columns) addColumn.run(c.sourceId, c.table, nextPos.get(c.sourceId, c.table), c.column.name, c.column.type);
      for (const p of partitions) addPartition.run(p.sourceId, p.table, p.partition);
      this.db.prepare('DELETE FROM pending WHERE batch = ?').run(batch);
    })();
  }

  /** Batches begun and never committed (a crash or a failed upload), with their keys. */
  pending(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const r of this.db.prepare('SELECT batch, key FROM pending ORDER BY batch, key').all() as { batch: string; key: string }[]) {
      out.set(r.batch, [...(out.get(r.batch) ?? []), r.key]);
    }
    return out;
  }

  /** After a pending batch's objects are deleted: forget it and its messageIds (they are written again). */
  rollback(batch: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM seen WHERE batch = ?').run(batch);
      this.db.prepare('DELETE FROM pending WHERE batch = ?').run(batch);
    })();
  }

  /** Drops messageIds older than the dedupe window. */
  prune(now: number): number {
    return this.db.prepare('DELETE FROM seen WHERE synced_at < ?').run(now - DEDUPE_WINDOW_MS).changes;
  }

  close(): void {
    this.db.close();
  }
}
