import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type { FeedReplica } from '../../core/feed.js';
import type { SyncRecord } from './types.js';

/** A run as recorded (epoch ms), and as it travels between processes (core/feed.ts). */
export type NewSyncRecord = Omit<SyncRecord, 'id' | 'startedAt' | 'finishedAt'> & { startedAt: number; finishedAt: number };

/**
 * Sync history (seed: Warehouse Syncs → Sync History: start, finish, status, rows
 * per collection, error), one row per warehouse, source and run, in its own
 * SQLite file so the HTTP thread reads it while the loader thread writes (WAL).
 */
/** How long runs travel on the feed between processes: health shows 30 days. */
export const SYNC_FEED_MAX_AGE_MS = 31 * 86_400_000;

export class SyncHistory implements FeedReplica<NewSyncRecord> {
  /** Called for each run recorded here (not for runs applied from other processes). */
  onRecord?: (r: NewSyncRecord) => void;
  private readonly db: Database.Database;
  private readonly insertStmt: Database.Statement;
  private readonly listStmt: Database.Statement;
  private readonly healthStmt: Database.Statement;

  constructor(path: string, opts: { readonly?: boolean } = {}) {
    this.db = new Database(path, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
    if (!opts.readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('busy_timeout = 5000');
      this.db.exec(`CREATE TABLE IF NOT EXISTS warehouse_syncs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        warehouse_id TEXT NOT NULL,
        source_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER NOT NULL,
        status TEXT NOT NULL,
        rows TEXT NOT NULL,
        error TEXT
      );
      CREATE INDEX IF NOT EXISTS warehouse_syncs_by_warehouse ON warehouse_syncs (warehouse_id, id);
      CREATE TABLE IF NOT EXISTS sync_history_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`);
      // Identifies this file: processes sharing it (one DATA_DIR) hold the same runs already.
      this.db.prepare(`INSERT OR IGNORE INTO sync_history_meta (key, value) VALUES ('origin', ?)`).run(randomUUID());
    } else this.db.pragma('busy_timeout = 5000');
    this.insertStmt = this.db.prepare(`INSERT INTO warehouse_syncs (warehouse_id, source_id, run_id, started_at, finished_at, status, rows, error)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    this.healthStmt = this.db.prepare(`SELECT finished_at, source_id, rows FROM warehouse_syncs
      WHERE warehouse_id = ? AND finished_at >= ? AND status = 'success' ORDER BY id`);
    this.listStmt = this.db.prepare(`SELECT * FROM warehouse_syncs WHERE warehouse_id = ? AND (? IS NULL OR source_id = ?) ORDER BY id DESC LIMIT ?`);
  }

  record(r: NewSyncRecord): void {
    this.insert(r);
    this.onRecord?.(r);
  }

  private insert(r: NewSyncRecord): void {
    this.insertStmt.run(r.warehouseId, r.sourceId, r.runId, r.startedAt, r.finishedAt, r.status, JSON.stringify(r.rows), r.error);
  }

  origin(): string {
    return this.db.prepare(`SELECT value FROM sync_history_meta WHERE key = 'origin'`).pluck().get() as string;
  }

  remoteCursor(feed: string): number {
    return Number(this.db.prepare(`SELECT value FROM sync_history_meta WHERE key = ?`).pluck().get(`cursor:${feed}`) ?? 0);
  }

  /** A run another process recorded, once: the feed position is stored in the same transaction. */
  applyRemote(feed: string, seq: number, r: NewSyncRecord): boolean {
    return this.db.transaction(() => {
      if (seq <= this.remoteCursor(feed)) return false;
      this.insert(r);
      this.db.prepare(`INSERT INTO sync_history_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(`cursor:${feed}`, String(seq));
      return true;
    }).immediate();
  }

  list(warehouseId: string, opts: { sourceId?: string; limit?: number } = {}): SyncRecord[] {
    const rows = this.listStmt.all(warehouseId, opts.sourceId ?? null, opts.sourceId ?? null, opts.limit ?? 100) as {
      id: number; warehouse_id: string; source_id: string; run_id: string; started_at: number; finished_at: number;
      status: 'success' | 'failed'; rows: string; error: string | null;
    }[];
    return rows.map((r) => ({
      id: r.id, warehouseId: r.warehouse_id, sourceId: r.source_id, runId: r.run_id,
      startedAt: new Date(r.started_at).toISOString(), finishedAt: new Date(r.finished_at).toISOString(),
      status: r.status, rows: JSON.parse(r.rows) as Record<string, number>, error: r.error,
    }));
  }

  /**
   * Warehouse health (seed: rows synced per day over 30 days): rows loaded per UTC
   * day and source, from successful syncs since `since` (epoch ms).
   */
  health(warehouseId: string, since: number): { day: string; sourceId: string; rows: number }[] {
    const out = new Map<string, { day: string; sourceId: string; rows: number }>();
    const rows = this.healthStmt.all(warehouseId, since) as { finished_at: number; source_id: string; rows: string }[];
    for (const r of rows) {
      const day = new Date(r.finished_at).toISOString().slice(0, 10);
      const key = `${day}\0${r.source_id}`;
      const n = Object.values(JSON.parse(r.rows) as Record<string, number>).reduce((a, b) => a + b, 0);
      const cur = out.get(key) ?? { day, sourceId: r.source_id, rows: 0 };
      cur.rows += n;
      out.set(key, cur);
    }
    return [...out.values()].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : a.sourceId < b.sourceId ? -1 : 1));
  }

  close(): void {
    this.db.close();
  }
}
