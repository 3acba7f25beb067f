import type Database from 'better-sqlite3';
import type { ControlPlane, LegacyImportReport, LegacyObservabilityRows } from '../store/control-plane.js';

const MARKER = 'alerts and failure-log collections';

/**
 * Upgrade path. Before control-plane migration 5, alert rules (`alert_rules`), alert
 * notifications (`alert_notifications`) and failure-log collections
 * (`failure_log_collections`) lived in DATA_DIR/stats.db, which processes on other
 * machines do not share. At start, a process that serves the API or checks alerts
 * copies them into the control-plane store, once per stats.db:
 * - a store table gets the rows only while it is empty (the first process of a
 *   cluster to start brings its rows; the others find the table filled);
 * - stats.db records that it was done (table `moved_to_store`), so rules deleted
 *   through the API later are not brought back at the next start.
 * The old tables are left as they are (user data; nothing reads them any more).
 * Resolves to what was imported, undefined when this stats.db was done before.
 */
export async function moveStatsTablesToStore(
  statsDb: Database.Database, store: Pick<ControlPlane, 'importLegacyObservability'>,
): Promise<LegacyImportReport | undefined> {
  statsDb.exec(`CREATE TABLE IF NOT EXISTS moved_to_store (name TEXT PRIMARY KEY, at INTEGER NOT NULL)`);
  if (statsDb.prepare(`SELECT 1 FROM moved_to_store WHERE name = ?`).get(MARKER)) return undefined;
  const exists = (table: string) => statsDb.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(table) !== undefined;
  const all = <T>(table: string, query: string): T[] => (exists(table) ? (statsDb.prepare(query).all() as T[]) : []);
  const rows: LegacyObservabilityRows = {
    alertRules: all('alert_rules', `SELECT id, body, state FROM alert_rules ORDER BY id`),
    alertNotifications: all('alert_notifications', `SELECT alert_id, at, status, message FROM alert_notifications ORDER BY id`),
    failureLogCollections: all('failure_log_collections',
      `SELECT destination_id, collection_id, enabled, updated_at FROM failure_log_collections ORDER BY destination_id`),
  };
  let report: LegacyImportReport;
  try {
    report = await store.importLegacyObservability(rows);
  } catch (err) {
    throw new Error(`moving alert rules and failure-log collections from stats.db into the control-plane store failed: ${(err as Error).message}`, { cause: err });
  }
  // OR IGNORE: processes sharing this DATA_DIR may start together (the store import ran once, under its lock).
  statsDb.prepare(`INSERT OR IGNORE INTO moved_to_store (name, at) VALUES (?, ?)`).run(MARKER, Date.now());
  return report;
}
