import { ControlPlaneFileOwnedError, ControlPlaneNotFoundError } from './errors.js';
import type { Tx } from './db.js';
import { openSettings, sealSettings } from './secrets.js';
import type { StoredWarehouse, WarehouseSchedule, WarehouseSyncOverride } from './types.js';

/**
 * Warehouses written through the Public API (origin `api`), each write one write
 * transaction that bumps the control-plane version (the `write` wrapper of
 * admin.ts). Secret settings (a PostgreSQL password or URL) are encrypted as
 * destinations' are.
 */
export interface NewWarehouse {
  id: string; name: string; type: 'duckdb' | 'postgres'; enabled: boolean;
  settings: Record<string, unknown>; secretSettings: readonly string[];
}
export interface WarehousePatch { name?: string; enabled?: boolean; settings?: Record<string, unknown>; secretSettings?: readonly string[] }

export interface WarehouseAdmin {
  createWarehouse(w: NewWarehouse): Promise<void>;
  updateWarehouse(id: string, patch: WarehousePatch): Promise<void>;
  deleteWarehouse(id: string): Promise<void>;
  /** False when the source was already connected (nothing changed). */
  connectWarehouseSource(id: string, sourceId: string): Promise<boolean>;
  /** Also drops the source's selective-sync overrides on this warehouse. */
  disconnectWarehouseSource(id: string, sourceId: string): Promise<void>;
  setWarehouseSyncOverrides(id: string, overrides: readonly WarehouseSyncOverride[]): Promise<void>;
  setWarehouseSchedule(id: string, schedule: WarehouseSchedule | null): Promise<void>;
}

type Write = <A extends unknown[], R>(fn: (tx: Tx, ...args: A) => Promise<R>) => (...args: A) => Promise<R>;

export function createWarehouseAdmin(secretKey: Buffer, write: Write, workspaceId: (tx: Tx) => Promise<string>): WarehouseAdmin {
  const owned = async (tx: Tx, id: string) => {
    const row = await tx.selectFrom('cp_warehouses').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new ControlPlaneNotFoundError(`no warehouse ${id}`);
    if (row.origin !== 'api') throw new ControlPlaneFileOwnedError(`warehouse ${id} is defined in the workspace file; change it there (the file is the source of truth for what it defines)`);
    return row;
  };

  return {
    createWarehouse: write(async (tx, w: NewWarehouse) => {
      const now = Date.now();
      await tx.insertInto('cp_warehouses').values({
        id: w.id, workspace_id: await workspaceId(tx), name: w.name, type: w.type, enabled: w.enabled ? 1 : 0,
        settings: sealSettings(secretKey, w.settings, w.secretSettings), secret_settings: JSON.stringify(w.secretSettings),
        sync_overrides: '[]', schedule: null, origin: 'api', created_at: now, updated_at: now,
      }).execute();
    }),
    updateWarehouse: write(async (tx, id: string, patch: WarehousePatch) => {
      const cur = await owned(tx, id);
      const secrets = patch.secretSettings ?? (JSON.parse(cur.secret_settings) as string[]);
      const settings = patch.settings ?? openSettings(secretKey, cur.settings, JSON.parse(cur.secret_settings) as string[]);
      await tx.updateTable('cp_warehouses').set({
        name: patch.name ?? cur.name, enabled: patch.enabled === undefined ? cur.enabled : patch.enabled ? 1 : 0,
        settings: sealSettings(secretKey, settings, secrets), secret_settings: JSON.stringify(secrets), updated_at: Date.now(),
      }).where('id', '=', id).execute();
    }),
    deleteWarehouse: write(async (tx, id: string) => {
      await owned(tx, id);
      await tx.deleteFrom('cp_warehouse_sources').where('warehouse_id', '=', id).execute();
      await tx.deleteFrom('cp_warehouses').where('id', '=', id).execute();
    }),
    connectWarehouseSource: write(async (tx, id: string, sourceId: string) => {
      await owned(tx, id);
      const source = await tx.selectFrom('cp_sources').select('id').where('id', '=', sourceId).executeTakeFirst();
      if (!source) throw new ControlPlaneNotFoundError(`no source ${sourceId}`);
      const res = await tx.insertInto('cp_warehouse_sources').values({ warehouse_id: id, source_id: sourceId })
        .onConflict((oc) => oc.doNothing()).executeTakeFirst();
      return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
    }),
    disconnectWarehouseSource: write(async (tx, id: string, sourceId: string) => {
      const cur = await owned(tx, id);
      const res = await tx.deleteFrom('cp_warehouse_sources').where('warehouse_id', '=', id).where('source_id', '=', sourceId).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw new ControlPlaneNotFoundError(`source ${sourceId} is not connected to warehouse ${id}`);
      const overrides = (JSON.parse(cur.sync_overrides) as WarehouseSyncOverride[]).filter((o) => o.sourceId !== sourceId);
      await tx.updateTable('cp_warehouses').set({ sync_overrides: JSON.stringify(overrides), updated_at: Date.now() }).where('id', '=', id).execute();
    }),
    setWarehouseSyncOverrides: write(async (tx, id: string, overrides: readonly WarehouseSyncOverride[]) => {
      await owned(tx, id);
      await tx.updateTable('cp_warehouses').set({ sync_overrides: JSON.stringify(overrides), updated_at: Date.now() }).where('id', '=', id).execute();
    }),
    setWarehouseSchedule: write(async (tx, id: string, schedule: WarehouseSchedule | null) => {
      await owned(tx, id);
      await tx.updateTable('cp_warehouses').set({ schedule: schedule ? JSON.stringify(schedule) : null, updated_at: Date.now() }).where('id', '=', id).execute();
    }),
  };
}

/** Reads the workspace's API warehouses (for the snapshot, inside its read transaction). */
export async function readWarehouses(tx: Tx, secretKey: Buffer, workspaceId: string): Promise<StoredWarehouse[]> {
  const rows = await tx.selectFrom('cp_warehouses').selectAll().where('workspace_id', '=', workspaceId).orderBy('id').execute();
  const out = rows.map((r): StoredWarehouse => {
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
  // The join drops links to sources that no longer exist (when foreign keys are off).
  const links = await tx.selectFrom('cp_warehouse_sources as l').innerJoin('cp_sources as s', 's.id', 'l.source_id')
    .innerJoin('cp_warehouses as w', 'w.id', 'l.warehouse_id')
    .select(['l.warehouse_id', 'l.source_id']).where('w.workspace_id', '=', workspaceId).orderBy('l.source_id').execute();
  for (const l of links) byId.get(l.warehouse_id)?.sourceIds.push(l.source_id);
  return out;
}
