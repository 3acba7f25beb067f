import type Database from 'better-sqlite3';
import { dedupeKey } from './hash.js';

/**
 * Dedupe by (source, messageId) over a time window, in two generations of tables:
 * inserts go to the current one, look-ups check both, and when the current one is
 * older than the window the previous one is dropped and a new one started. A
 * duplicate is therefore caught for at least `windowMs` (at most twice that),
 * without an index on time and without a slow DELETE scan.
 */
export class DedupeWindow {
  private gen = 0;
  private startedAt = 0;
  private insert!: Database.Statement<[bigint]>;
  private seenBefore: Database.Statement<[bigint]> | null = null;
  private readonly setMeta: Database.Statement<[string, number]>;

  constructor(
    private readonly db: Database.Database,
    private readonly windowMs: number,
  ) {
    db.exec(`CREATE TABLE IF NOT EXISTS dedupe_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`);
    this.setMeta = db.prepare(`INSERT INTO dedupe_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
    this.readMeta = db.prepare(`SELECT key, value FROM dedupe_meta`);
    this.load();
    if (this.gen === 0) this.start(1, Date.now());
    else this.prepare();
  }

  private readonly readMeta: Database.Statement;

  private load(): void {
    for (const row of this.readMeta.all() as { key: string; value: number }[]) {
      if (row.key === 'gen') this.gen = row.value;
      else if (row.key === 'started_at') this.startedAt = row.value;
    }
  }

  /**
   * Another connection (the warehouse loader's thread has its own Sequencer) may
   * have rotated the generations: follow it before admitting. Call inside the
   * write transaction.
   */
  refresh(): void {
    const gen = this.gen;
    this.load();
    if (this.gen !== gen) this.prepare();
  }

  /** Must run inside the caller's write transaction on the same database. Returns true when the id is new. */
  admit(sourceId: string, messageId: string, now: number): boolean {
    if (now - this.startedAt >= this.windowMs) this.rotate(now);
    const key = dedupeKey(sourceId, messageId);
    if (this.seenBefore && this.seenBefore.get(key) !== undefined) return false;
    return this.insert.run(key).changes === 1;
  }

  private rotate(now: number): void {
    this.db.exec(`DROP TABLE IF EXISTS dedupe_g${this.gen - 1}`);
    this.start(this.gen + 1, now);
  }

  private start(gen: number, now: number): void {
    this.db.exec(`CREATE TABLE IF NOT EXISTS dedupe_g${gen} (key INTEGER PRIMARY KEY)`);
    this.setMeta.run('gen', gen);
    this.setMeta.run('started_at', now);
    this.gen = gen;
    this.startedAt = now;
    this.prepare();
  }

  private prepare(): void {
    this.insert = this.db.prepare(`INSERT OR IGNORE INTO dedupe_g${this.gen} (key) VALUES (?)`);
    const prev = this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(`dedupe_g${this.gen - 1}`);
    this.seenBefore = prev ? this.db.prepare(`SELECT 1 FROM dedupe_g${this.gen - 1} WHERE key = ?`) : null;
  }
}
