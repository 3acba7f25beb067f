import Database from 'better-sqlite3';

/**
 * `DATA_DIR/retl.db`: each model's snapshot (the previous run's records: primary
 * key → row hash, what Segment keeps in its `__segment_reverse_etl` schema) and
 * the sync history. Synchronous FULL: a snapshot row written here says "this
 * record's events were handed on", so it must not be lost to a power cut.
 */
export type SyncStatus = 'running' | 'success' | 'partial' | 'failed';

export interface SyncRecord {
  id: number;
  modelId: string;
  trigger: 'manual' | 'schedule';
  status: SyncStatus;
  startedAt: string;
  finishedAt: string | null;
  rowsExtracted: number;
  added: number;
  updated: number;
  deleted: number;
  /** Rows that could not be synced (no primary key, duplicate key). */
  recordErrors: number;
  eventsDelivered: number;
  eventsFailed: number;
  error: string | null;
  /** Up to 10 examples of record errors and failed deliveries. */
  errorSamples: string[];
}

export type SyncCounts = Pick<SyncRecord, 'rowsExtracted' | 'added' | 'updated' | 'deleted' | 'recordErrors' | 'eventsDelivered' | 'eventsFailed'>;

/** One advance of the snapshot: set a key's hash, or (null) forget a deleted record. */
export interface SnapshotWrite { key: string; hash: string | null }

interface SyncRow {
  id: number; model_id: string; trigger: string; status: string; started_at: number; finished_at: number | null;
  rows_extracted: number; added: number; updated: number; deleted: number; record_errors: number;
  events_delivered: number; events_failed: number; error: string | null; error_samples: string;
}

export class RetlState {
  private readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('synchronous = FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS retl_snapshot (
        model_id TEXT NOT NULL, record_key TEXT NOT NULL, row_hash TEXT NOT NULL,
        PRIMARY KEY (model_id, record_key)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS retl_syncs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, model_id TEXT NOT NULL, trigger TEXT NOT NULL, status TEXT NOT NULL,
        started_at INTEGER NOT NULL, finished_at INTEGER,
        rows_extracted INTEGER NOT NULL DEFAULT 0, added INTEGER NOT NULL DEFAULT 0, updated INTEGER NOT NULL DEFAULT 0,
        deleted INTEGER NOT NULL DEFAULT 0, record_errors INTEGER NOT NULL DEFAULT 0,
        events_delivered INTEGER NOT NULL DEFAULT 0, events_failed INTEGER NOT NULL DEFAULT 0,
        error TEXT, error_samples TEXT NOT NULL DEFAULT '[]'
      );
      CREATE INDEX IF NOT EXISTS retl_syncs_model ON retl_syncs (model_id, id);
    `);
    // A run the process did not finish (a crash, a kill): its snapshot was not advanced,
    // so the next run sends its changes again; the history says what happened.
    this.db.prepare(`UPDATE retl_syncs SET status = 'failed', finished_at = ?, error = 'interrupted: Switchyard stopped during the sync; the next sync sends its changes again' WHERE status = 'running'`).run(Date.now());
  }

  snapshot(modelId: string): Map<string, string> {
    const rows = this.db.prepare('SELECT record_key AS k, row_hash AS h FROM retl_snapshot WHERE model_id = ?').all(modelId) as { k: string; h: string }[];
    return new Map(rows.map((r) => [r.k, r.h]));
  }

  /** Applies a run's advances in one transaction: all of them or none. */
  advance(modelId: string, writes: readonly SnapshotWrite[]): void {
    const put = this.db.prepare('INSERT INTO retl_snapshot (model_id, record_key, row_hash) VALUES (?, ?, ?) ON CONFLICT (model_id, record_key) DO UPDATE SET row_hash = excluded.row_hash');
    const del = this.db.prepare('DELETE FROM retl_snapshot WHERE model_id = ? AND record_key = ?');
    this.db.transaction(() => {
      for (const w of writes) {
        if (w.hash === null) del.run(modelId, w.key);
        else put.run(modelId, w.key, w.hash);
      }
    })();
  }

  startSync(modelId: string, trigger: SyncRecord['trigger'], now = Date.now()): number {
    return Number(this.db.prepare(`INSERT INTO retl_syncs (model_id, trigger, status, started_at) VALUES (?, ?, 'running', ?)`).run(modelId, trigger, now).lastInsertRowid);
  }

  finishSync(id: number, status: Exclude<SyncStatus, 'running'>, counts: SyncCounts, error: string | null, samples: readonly string[], now = Date.now()): void {
    this.db.prepare(`UPDATE retl_syncs SET status = ?, finished_at = ?, rows_extracted = ?, added = ?, updated = ?, deleted = ?, record_errors = ?,
      events_delivered = ?, events_failed = ?, error = ?, error_samples = ? WHERE id = ?`).run(
      status, now, counts.rowsExtracted, counts.added, counts.updated, counts.deleted, counts.recordErrors,
      counts.eventsDelivered, counts.eventsFailed, error, JSON.stringify(samples.slice(0, 10)), id,
    );
  }

  sync(id: number): SyncRecord | undefined {
    const row = this.db.prepare('SELECT * FROM retl_syncs WHERE id = ?').get(id) as SyncRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Newest first. */
  syncs(modelId: string, limit = 100): SyncRecord[] {
    return (this.db.prepare('SELECT * FROM retl_syncs WHERE model_id = ? ORDER BY id DESC LIMIT ?').all(modelId, limit) as SyncRow[]).map(toRecord);
  }

  close(): void {
    this.db.close();
  }
}

function toRecord(r: SyncRow): SyncRecord {
  return {
    id: r.id, modelId: r.model_id, trigger: r.trigger as SyncRecord['trigger'], status: r.status as SyncStatus,
    startedAt: new Date(r.started_at).toISOString(), finishedAt: r.finished_at === null ? null : new Date(r.finished_at).toISOString(),
    rowsExtracted: r.rows_extracted, added: r.added, updated: r.updated, deleted: r.deleted, recordErrors: r.record_errors,
    eventsDelivered: r.events_delivered, eventsFailed: r.events_failed, error: r.error, errorSamples: JSON.parse(r.error_samples) as string[],
  };
}
