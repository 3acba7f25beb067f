import type Database from 'better-sqlite3';

/**
 * A source function's Errors tab (Segment: "Segment captures the incoming request,
 * any console logs the function printed, and the error ... only retains the 100
 * most recent errors and logs for up to 30 days"). Kept in this process's stats.db:
 * each API process lists the errors of the requests it served.
 */
export const KEPT_ERRORS = 100;
export const ERROR_RETENTION_MS = 30 * 24 * 3_600_000;
/** The request body as kept with an error: its first 4 KB. */
const BODY_CHARS = 4096;
/** Headers whose values are credentials: kept as `[redacted]`. */
const SECRET_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization', 'x-api-key']);

export interface FunctionErrorEntry {
  id: number;
  functionId: string;
  sourceId: string;
  /** Epoch ms. */
  at: number;
  /** Segment's error type (`ValidationError`, `RetryError`, `Timeout`, `Error`, ...). */
  kind: string;
  error: string;
  logs: string[];
  request: { method: string; url: string; headers: Record<string, string>; body: string };
}

export class FunctionErrorLog {
  private readonly insert: Database.Statement;
  private readonly trim: Database.Statement;
  private readonly select: Database.Statement;

  constructor(db: Database.Database, private readonly now: () => number = Date.now) {
    db.exec(`CREATE TABLE IF NOT EXISTS function_errors (
      id INTEGER PRIMARY KEY, function_id TEXT NOT NULL, source_id TEXT NOT NULL, at INTEGER NOT NULL,
      kind TEXT NOT NULL, error TEXT NOT NULL, logs TEXT NOT NULL, request TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS function_errors_by_function ON function_errors (function_id, id);`);
    this.insert = db.prepare('INSERT INTO function_errors (function_id, source_id, at, kind, error, logs, request) VALUES (?, ?, ?, ?, ?, ?, ?)');
    // The newest KEPT_ERRORS of the function stay, and none older than the retention.
    this.trim = db.prepare(`DELETE FROM function_errors WHERE function_id = ? AND (at < ? OR id <= (
      SELECT id FROM function_errors WHERE function_id = ? ORDER BY id DESC LIMIT 1 OFFSET ${KEPT_ERRORS}))`);
    this.select = db.prepare('SELECT * FROM function_errors WHERE function_id = ? AND at >= ? ORDER BY id DESC LIMIT ?');
  }

  record(e: Omit<FunctionErrorEntry, 'id' | 'at'>): void {
    const at = this.now();
    const headers = Object.fromEntries(Object.entries(e.request.headers).map(([k, v]) => [k, SECRET_HEADERS.has(k.toLowerCase()) ? '[redacted]' : v]));
    const body = e.request.body.length > BODY_CHARS ? `${e.request.body.slice(0, BODY_CHARS)}…[truncated]` : e.request.body;
    this.insert.run(e.functionId, e.sourceId, at, e.kind, e.error, JSON.stringify(e.logs), JSON.stringify({ ...e.request, headers, body }));
    this.trim.run(e.functionId, at - ERROR_RETENTION_MS, e.functionId);
  }

  /** The function's errors, newest first. */
  list(functionId: string, limit = KEPT_ERRORS): FunctionErrorEntry[] {
    const rows = this.select.all(functionId, this.now() - ERROR_RETENTION_MS, limit) as {
      id: number; function_id: string; source_id: string; at: number; kind: string; error: string; logs: string; request: string;
    }[];
    return rows.map((r) => ({
      id: r.id, functionId: r.function_id, sourceId: r.source_id, at: r.at, kind: r.kind, error: r.error,
      logs: JSON.parse(r.logs) as string[], request: JSON.parse(r.request) as FunctionErrorEntry['request'],
    }));
  }
}
