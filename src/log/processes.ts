/**
 * Which Switchyard processes are running (for `switchyard status`): each process
 * writes a heartbeat every HEARTBEAT_MS. With the NATS log the registry is a NATS
 * KV bucket (./nats/processes.ts); with the embedded log it is a table in
 * DATA_DIR/processes.db (this file). Entries not refreshed for STALE_MS are shown as
 * stale; a graceful stop removes its entry.
 */
import type Database from 'better-sqlite3';
import { openDatabase } from './sqlite/db.js';

export interface ProcessInfo {
  /** `<host>-<pid>-<random>`: unique per process start. */
  id: string;
  roles: string[];
  host: string;
  pid: number;
  /** Where its HTTP server listens (null: none). */
  url: string | null;
  log: 'sqlite' | 'nats';
  startedAt: number;
  beatAt: number;
  state: 'running' | 'draining';
}

export interface ProcessRegistry {
  put(info: ProcessInfo): Promise<void>;
  remove(id: string): Promise<void>;
  list(): Promise<ProcessInfo[]>;
  close(): Promise<void>;
}

export const HEARTBEAT_MS = 5_000;
export const STALE_MS = 15_000;
/** Entries older than this are deleted (a process that was SIGKILLed leaves one behind). */
const FORGET_MS = 3_600_000;

export class SqliteProcessRegistry implements ProcessRegistry {
  private readonly db: Database.Database;

  constructor(path: string) {
    this.db = openDatabase(path, 'normal', 1);
    this.db.exec(`CREATE TABLE IF NOT EXISTS processes (id TEXT PRIMARY KEY, beat_at INTEGER NOT NULL, info TEXT NOT NULL)`);
  }

  async put(info: ProcessInfo): Promise<void> {
    this.db.prepare(`INSERT OR REPLACE INTO processes (id, beat_at, info) VALUES (?, ?, ?)`).run(info.id, info.beatAt, JSON.stringify(info));
    this.db.prepare(`DELETE FROM processes WHERE beat_at < ?`).run(info.beatAt - FORGET_MS);
  }

  async remove(id: string): Promise<void> {
    this.db.prepare(`DELETE FROM processes WHERE id = ?`).run(id);
  }

  async list(): Promise<ProcessInfo[]> {
    const rows = this.db.prepare(`SELECT info FROM processes ORDER BY id`).pluck().all() as string[];
    return rows.map((r) => JSON.parse(r) as ProcessInfo);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
