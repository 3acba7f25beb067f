import type BetterSqlite3 from 'better-sqlite3';
import { ControlPlaneFileOwnedError, ControlPlaneNotFoundError } from './errors.js';
import { openSettings, sealSettings } from './secrets.js';
import type { StoredWarehouse, WarehouseSchedule, WarehouseSyncOverride } from './types.js';

/**
 * Warehouses written through the Public API (origin `api`), each write one IMMEDIATE
 * transaction that bumps the control-plane version (the `write` wrapper of
 * sqlite-admin.ts). Secret settings (a PostgreSQL password or URL) are encrypted as
 * destinations' are.
 */
export interface NewWarehouse {
  id: string; name: string; type: 'duckdb' | 'postgres'; enabled: boolean;
  settings: Record<string, unknown>; secretSettings: readonly string[];
}
export interface WarehousePatch { name?: string; enabled?: boolean; settings?: Record<string, unknown>; secretSettings?: readonly string[] }

export interface WarehouseAdmin {
  createWarehouse(w: NewWarehouse): void;
  updateWarehouse(id: string, patch: WarehousePatch): void;
  deleteWarehouse(id: string): void;
  /** False when the source was already connected (nothing changed). */
  connectWarehouseSource(id: string, sourceId: string): boolean;
  /** Also drops the source's selective-sync overrides on this warehouse. */
  disconnectWarehouseSource(id: string, sourceId: string): void;
  setWarehouseSyncOverrides(id: string, overrides: readonly WarehouseSyncOverride[]): void;
  setWarehouseSchedule(id: string, schedule: WarehouseSchedule | null): void;
}

interface Row {
  id: string; workspace_id: string; name: string; type: string; enabled: number; settings: string; secret_settings: string;
  sync_overrides: string; schedule: string | null; origin: string;
}
type Write = <A extends unknown[], R>(fn: (...args: A) => R) => (...args: A) => R;

export function createWarehouseAdmin(db: BetterSqlite3.Database, secretKey: Buffer, write: Write, workspaceId: () => string): WarehouseAdmin {
  const q = {
    row: db.prepare('SELECT * FROM cp_warehouses WHERE id = ?'),
    insert: db.prepare(`INSERT INTO cp_warehouses
      (id, workspace_id, name, type, enabled, settings, secret_settings, sync_overrides, schedule, origin, created_at, updated_at)
      VALUES (@id, @ws, @name, @type, @enabled, @settings, @secrets, '[]', NULL, 'api', @now, @now)`),
    update: db.prepare(`UPDATE cp_warehouses SET name = @name, enabled = @enabled, settings = @settings, secret_settings = @secrets,
      updated_at = @now WHERE id = @id`),
    setOverrides: db.prepare('UPDATE cp_warehouses SET sync_overrides = ?, updated_at = ? WHERE id = ?'),
    setSchedule: db.prepare('UPDATE cp_warehouses SET schedule = ?, updated_at = ? WHERE id = ?'),
    delete: db.prepare('DELETE FROM cp_warehouses WHERE id = ?'),
    source: db.prepare('SELECT 1 FROM cp_sources WHERE id = ?').pluck(),
    link: db.prepare('INSERT INTO cp_warehouse_sources (warehouse_id, source_id) VALUES (?, ?) ON CONFLICT DO NOTHING'),
    unlink: db.prepare('DELETE FROM cp_warehouse_sources WHERE warehouse_id = ? AND source_id = ?'),
    unlinkAll: db.prepare('DELETE FROM cp_warehouse_sources WHERE warehouse_id = ?'),
  };
  const owned = (id: string): Row => {
    const row = q.row.get(id) as Row | undefined;
    if (!row) throw new ControlPlaneNotFoundError(`no warehouse ${id}`);
    if (row.origin !== 'api') throw new ControlPlaneFileOwnedError(`warehouse ${id} is defined in the workspace file; change it there (the file is the source of truth for what it defines)`);
    return row;
  };

  return {
    createWarehouse: write((w: NewWarehouse) => {
      const now = Date.now();
      q.insert.run({
        id: w.id, ws: workspaceId(), name: w.name, type: w.type, enabled: w.enabled ? 1 : 0,
        settings: sealSettings(secretKey, w.settings, w.secretSettings), secrets: JSON.stringify(w.secretSettings), now,
      });
    }),
    updateWarehouse: write((id: string, patch: WarehousePatch) => {
      const cur = owned(id);
      const secrets = patch.secretSettings ?? (JSON.parse(cur.secret_settings) as string[]);
      const settings = patch.settings ?? openSettings(secretKey, cur.settings, JSON.parse(cur.secret_settings) as string[]);
      q.update.run({
        id, name: patch.name ?? cur.name, enabled: patch.enabled === undefined ? cur.enabled : patch.enabled ? 1 : 0,
        settings: sealSettings(secretKey, settings, secrets), secrets: JSON.stringify(secrets), now: Date.now(),
      });
    }),
    deleteWarehouse: write((id: string) => {
      owned(id);
      q.unlinkAll.run(id);
      q.delete.run(id);
    }),
    connectWarehouseSource: write((id: string, sourceId: string) => {
      owned(id);
      if (!q.source.get(sourceId)) throw new ControlPlaneNotFoundError(`no source ${sourceId}`);
      return q.link.run(id, sourceId).changes > 0;
    }),
    disconnectWarehouseSource: write((id: string, sourceId: string) => {
      const cur = owned(id);
      if (q.unlink.run(id, sourceId).changes === 0) throw new ControlPlaneNotFoundError(`source ${sourceId} is not connected to warehouse ${id}`);
      const overrides = (JSON.parse(cur.sync_overrides) as WarehouseSyncOverride[]).filter((o) => o.sourceId !== sourceId);
      q.setOverrides.run(JSON.stringify(overrides), Date.now(), id);
    }),
    setWarehouseSyncOverrides: write((id: string, overrides: readonly WarehouseSyncOverride[]) => {
      owned(id);
      q.setOverrides.run(JSON.stringify(overrides), Date.now(), id);
    }),
    setWarehouseSchedule: write((id: string, schedule: WarehouseSchedule | null) => {
      owned(id);
      q.setSchedule.run(schedule ? JSON.stringify(schedule) : null, Date.now(), id);
    }),
  };
}

/** Reads the workspace's API warehouses (for the snapshot, inside its read transaction). */
export function warehouseReader(db: BetterSqlite3.Database, secretKey: Buffer): (workspaceId: string) => StoredWarehouse[] {
  const rows = db.prepare('SELECT * FROM cp_warehouses WHERE workspace_id = ? ORDER BY id');
  // The join drops links to sources that no longer exist (when foreign keys are off).
  const links = db.prepare(`SELECT l.warehouse_id, l.source_id FROM cp_warehouse_sources l
    JOIN cp_sources s ON s.id = l.source_id JOIN cp_warehouses w ON w.id = l.warehouse_id
    WHERE w.workspace_id = ? ORDER BY l.source_id`);
  return (workspaceId) => {
    const out = (rows.all(workspaceId) as Row[]).map((r): StoredWarehouse => {
      let settings: Record<string, unknown>;
      try {
        settings = openSettings(secretKey, r.settings, JSON.parse(r.secret_settings) as string[]);
      } catch (err) {
        throw new Error(`cannot read the settings of warehouse "${r.id}": ${(err as Error).message}`, { cause: err });
      }
      return {
        id: r.id, workspaceId: r.workspace_id, name: r.name, type: r.type as StoredWarehouse['type'], enabled: r.enabled === 1, sourceIds: [],
        settings, syncOverrides: JSON.parse(r.sync_overrides) as WarehouseSyncOverride[],
        schedule: r.schedule === null ? null : (JSON.parse(r.schedule) as WarehouseSchedule), origin: r.origin as StoredWarehouse['origin'],
      };
    });
    const byId = new Map(out.map((w) => [w.id, w]));
    for (const l of links.all(workspaceId) as { warehouse_id: string; source_id: string }[]) byId.get(l.warehouse_id)?.sourceIds.push(l.source_id);
    return out;
  };
}
