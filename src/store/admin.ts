import type { DestinationFilter } from '../core/filters.js';
import { ControlPlaneConflictError, keyOwner, linkOwner, savedFilters, translate } from './apply.js';
import { bumpVersion, type ControlPlaneDb, type Tx } from './db.js';
import { openSettings, sealSettings } from './secrets.js';
import { ControlPlaneFileOwnedError, ControlPlaneNotFoundError } from './errors.js';
import { createFunctionAdmin, type FunctionAdmin } from './functions.js';
import { createWarehouseAdmin, type WarehouseAdmin } from './warehouses.js';
import type { Label } from './types.js';

/**
 * Writes made through the Public API (origin `api`), each in one write
 * transaction that bumps the control-plane version, so the router and every other
 * reader picks the change up within its polling interval.
 *
 * The workspace file stays the source of truth for what it defines: these
 * functions refuse to change an entity whose origin is `file`
 * (ControlPlaneFileOwnedError), and the file applier never deletes `api` entities.
 */
export { ControlPlaneFileOwnedError, ControlPlaneNotFoundError };

export interface NewSource {
  id: string; slug: string; name: string; enabled: boolean; metadataId: string;
  settings: Record<string, unknown>; writeKey: string; labels: Label[];
}
export interface SourcePatch { slug?: string; name?: string; enabled?: boolean; settings?: Record<string, unknown>; labels?: Label[] }
export interface NewDestination {
  id: string; name: string; type: string; enabled: boolean; sourceIds: string[];
  settings: Record<string, unknown>; secretSettings: readonly string[];
}
export interface DestinationPatch { name?: string; enabled?: boolean; settings?: Record<string, unknown>; secretSettings?: readonly string[] }
export interface LabelDefinition extends Label { description?: string }

export interface ControlPlaneAdmin extends WarehouseAdmin, FunctionAdmin {
  /** Creates the workspace the API works in when none exists yet (no workspace file). */
  ensureWorkspace(w: { id: string; slug: string; name: string }): Promise<void>;
  createSource(s: NewSource): Promise<void>;
  updateSource(id: string, patch: SourcePatch): Promise<void>;
  /** Deletes the source, its write keys, its links, and the `api` destinations left with no source. */
  deleteSource(id: string): Promise<{ deletedDestinations: string[] }>;
  addWriteKey(sourceId: string, writeKey: string): Promise<void>;
  removeWriteKey(sourceId: string, writeKey: string): Promise<void>;
  createDestination(d: NewDestination): Promise<void>;
  updateDestination(id: string, patch: DestinationPatch): Promise<void>;
  deleteDestination(id: string): Promise<void>;
  /** Replaces the filters; unchanged ones keep their savedAt (they do not re-apply to older events). */
  setDestinationFilters(id: string, filters: readonly DestinationFilter[]): Promise<void>;
  listLabels(): Promise<LabelDefinition[]>;
  createLabel(l: LabelDefinition): Promise<void>;
  deleteLabel(key: string, value: string): Promise<void>;
}

interface OwnedRow { origin: string }

export function createAdmin(cp: ControlPlaneDb, secretKey: Buffer): ControlPlaneAdmin {
  /** Runs `fn` in a write transaction and bumps the version (and notifies) when it returns. */
  const write = <A extends unknown[], R>(fn: (tx: Tx, ...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => cp.write(async (tx) => {
      const result = await fn(tx, ...args);
      await bumpVersion(cp, tx);
      return result;
    });
  const currentWorkspace = async (tx: Tx): Promise<string> => {
    const row = await tx.selectFrom('cp_meta').select('value').where('key', '=', 'workspace_id').executeTakeFirst();
    if (row === undefined) throw new ControlPlaneNotFoundError('there is no workspace yet');
    return String(row.value);
  };
  const ownedSource = async (tx: Tx, id: string) => {
    const row = await tx.selectFrom('cp_sources').select(['origin', 'slug', 'name', 'enabled', 'settings', 'labels']).where('id', '=', id).executeTakeFirst();
    if (!row) throw new ControlPlaneNotFoundError(`no source ${id}`);
    if (row.origin !== 'api') throw new ControlPlaneFileOwnedError(`source ${id} is defined in the workspace file; change it there (the file is the source of truth for what it defines)`);
    return row;
  };
  const ownedDestination = async (tx: Tx, id: string) => {
    const row = await tx.selectFrom('cp_destinations').select(['origin', 'name', 'enabled', 'settings', 'secret_settings', 'filters'])
      .where('id', '=', id).executeTakeFirst();
    if (!row) throw new ControlPlaneNotFoundError(`no destination ${id}`);
    if (row.origin !== 'api') throw new ControlPlaneFileOwnedError(`destination ${id} is defined in the workspace file; change it there (the file is the source of truth for what it defines)`);
    return row;
  };
  const checkLabels = async (tx: Tx, labels: readonly Label[]) => {
    for (const l of labels) {
      const found = await tx.selectFrom('cp_labels').select('key').where('key', '=', l.key).where('value', '=', l.value).executeTakeFirst();
      if (!found) throw new ControlPlaneNotFoundError(`label ${l.key}:${l.value} does not exist; create it first`);
    }
  };
  const insertKey = (tx: Tx, key: string, sourceId: string) =>
    translate(cp, tx, () => tx.insertInto('cp_write_keys').values({ write_key: key, source_id: sourceId }).execute(),
      async () => `write key "${key}" is already used by source "${await keyOwner(tx, key)}"`);
  const link = (tx: Tx, destinationId: string, sourceId: string, name: string) =>
    translate(cp, tx, () => tx.insertInto('cp_destination_sources').values({ destination_id: destinationId, source_id: sourceId, name }).execute(),
      async () => `source "${sourceId}" already has a destination instance named "${name}" (destination "${await linkOwner(tx, sourceId, name)}"); instance names are unique per source`);
  const linkCount = async (tx: Tx, destinationId: string) => Number((await tx.selectFrom('cp_destination_sources')
    .select((eb) => eb.fn.countAll().as('n')).where('destination_id', '=', destinationId).executeTakeFirstOrThrow()).n);

  return {
    ...createWarehouseAdmin(secretKey, write, currentWorkspace),
    ...createFunctionAdmin(secretKey, write, (fn) => cp.read(fn), currentWorkspace),
    ensureWorkspace: write(async (tx, w: { id: string; slug: string; name: string }) => {
      if (await tx.selectFrom('cp_meta').select('value').where('key', '=', 'workspace_id').executeTakeFirst()) return;
      const now = Date.now();
      await tx.insertInto('cp_workspaces').values({ id: w.id, slug: w.slug, name: w.name, rate_limit_per_second: 0, origin: 'api', created_at: now, updated_at: now }).execute();
      await tx.insertInto('cp_meta').values({ key: 'workspace_id', value: w.id }).onConflict((oc) => oc.column('key').doUpdateSet({ value: w.id })).execute();
    }),
    createSource: write(async (tx, s: NewSource) => {
      await checkLabels(tx, s.labels);
      const now = Date.now();
      const ws = await currentWorkspace(tx);
      await translate(cp, tx, () => tx.insertInto('cp_sources').values({
        id: s.id, workspace_id: ws, slug: s.slug, name: s.name, enabled: s.enabled ? 1 : 0, metadata_id: s.metadataId,
        settings: JSON.stringify(s.settings), labels: JSON.stringify(s.labels), origin: 'api', created_at: now, updated_at: now,
      }).execute(), `slug "${s.slug}" is already used by another source`);
      await insertKey(tx, s.writeKey, s.id);
    }),
    updateSource: write(async (tx, id: string, patch: SourcePatch) => {
      const cur = await ownedSource(tx, id);
      if (patch.labels) await checkLabels(tx, patch.labels);
      await translate(cp, tx, () => tx.updateTable('cp_sources').set({
        slug: patch.slug ?? cur.slug, name: patch.name ?? cur.name,
        enabled: patch.enabled === undefined ? cur.enabled : patch.enabled ? 1 : 0,
        settings: patch.settings ? JSON.stringify(patch.settings) : cur.settings,
        labels: patch.labels ? JSON.stringify(patch.labels) : cur.labels, updated_at: Date.now(),
      }).where('id', '=', id).execute(), `slug "${patch.slug ?? ''}" is already used by another source`);
    }),
    deleteSource: write(async (tx, id: string) => {
      await ownedSource(tx, id);
      const linked = (await tx.selectFrom('cp_destination_sources').select('destination_id').where('source_id', '=', id).execute())
        .map((r) => r.destination_id);
      await tx.deleteFrom('cp_destination_sources').where('source_id', '=', id).execute();
      const deletedDestinations: string[] = [];
      for (const destId of linked) {
        const d = await tx.selectFrom('cp_destinations').select('origin').where('id', '=', destId).executeTakeFirst();
        if (d?.origin === 'api' && (await linkCount(tx, destId)) === 0) {
          await tx.deleteFrom('cp_insert_functions').where('destination_id', '=', destId).execute();
          await tx.deleteFrom('cp_destinations').where('id', '=', destId).execute();
          deletedDestinations.push(destId);
        }
      }
      await tx.deleteFrom('cp_write_keys').where('source_id', '=', id).execute();
      // Warehouses lose the source (and its selective-sync overrides stay harmless: nothing matches them).
      await tx.deleteFrom('cp_warehouse_sources').where('source_id', '=', id).execute();
      await tx.deleteFrom('cp_sources').where('id', '=', id).execute();
      return { deletedDestinations };
    }),
    addWriteKey: write(async (tx, sourceId: string, key: string) => {
      await ownedSource(tx, sourceId);
      await insertKey(tx, key, sourceId);
    }),
    removeWriteKey: write(async (tx, sourceId: string, key: string) => {
      await ownedSource(tx, sourceId);
      const keys = (await tx.selectFrom('cp_write_keys').select('write_key').where('source_id', '=', sourceId).execute()).map((r) => r.write_key);
      if (!keys.includes(key)) throw new ControlPlaneNotFoundError(`source ${sourceId} has no write key ${key}`);
      if (keys.length === 1) throw new ControlPlaneConflictError(`write key ${key} is the last one of source ${sourceId}; create another before removing it`);
      await tx.deleteFrom('cp_write_keys').where('write_key', '=', key).where('source_id', '=', sourceId).execute();
    }),
    createDestination: write(async (tx, d: NewDestination) => {
      const now = Date.now();
      const ws = await currentWorkspace(tx);
      await tx.insertInto('cp_destinations').values({
        id: d.id, workspace_id: ws, name: d.name, type: d.type, enabled: d.enabled ? 1 : 0,
        settings: sealSettings(secretKey, d.settings, d.secretSettings), secret_settings: JSON.stringify(d.secretSettings),
        filters: '[]', origin: 'api', created_at: now, updated_at: now,
      }).execute();
      for (const sourceId of new Set(d.sourceIds)) {
        const s = await tx.selectFrom('cp_sources').select('id').where('id', '=', sourceId).executeTakeFirst();
        if (!s) throw new ControlPlaneNotFoundError(`no source ${sourceId}`);
        await link(tx, d.id, sourceId, d.name);
      }
    }),
    updateDestination: write(async (tx, id: string, patch: DestinationPatch) => {
      const cur = await ownedDestination(tx, id);
      const secrets = patch.secretSettings ?? (JSON.parse(cur.secret_settings) as string[]);
      const settings = patch.settings ?? openSettings(secretKey, cur.settings, JSON.parse(cur.secret_settings) as string[]);
      const name = patch.name ?? cur.name;
      // The links carry a copy of the name, where the unique index checks it (on
      // SQLite a trigger copies it too, from migration 1).
      await translate(cp, tx, async () => {
        await tx.updateTable('cp_destinations').set({
          name, enabled: patch.enabled === undefined ? cur.enabled : patch.enabled ? 1 : 0,
          settings: sealSettings(secretKey, settings, secrets), secret_settings: JSON.stringify(secrets), updated_at: Date.now(),
        }).where('id', '=', id).execute();
        await tx.updateTable('cp_destination_sources').set({ name }).where('destination_id', '=', id).execute();
      }, `another destination instance of the same source is already named "${name}"; instance names are unique per source`);
    }),
    deleteDestination: write(async (tx, id: string) => {
      await ownedDestination(tx, id);
      await tx.deleteFrom('cp_destination_sources').where('destination_id', '=', id).execute();
      await tx.deleteFrom('cp_insert_functions').where('destination_id', '=', id).execute();
      await tx.deleteFrom('cp_destinations').where('id', '=', id).execute();
    }),
    setDestinationFilters: write(async (tx, id: string, filters: readonly DestinationFilter[]) => {
      const cur = await ownedDestination(tx, id);
      const now = Date.now();
      const saved = savedFilters(filters, cur.filters, now);
      await tx.updateTable('cp_destinations').set({ filters: JSON.stringify(saved), updated_at: now }).where('id', '=', id).execute();
    }),
    listLabels: async () => (await cp.db.selectFrom('cp_labels').select(['key', 'value', 'description']).orderBy('key').orderBy('value').execute())
      .map((r) => ({ key: r.key, value: r.value, ...(r.description ? { description: r.description } : {}) })),
    createLabel: write(async (tx, l: LabelDefinition) => {
      await translate(cp, tx, () => tx.insertInto('cp_labels').values({ key: l.key, value: l.value, description: l.description ?? null, created_at: Date.now() }).execute(),
        `label ${l.key}:${l.value} already exists`);
    }),
    deleteLabel: write(async (tx, key: string, value: string) => {
      const res = await tx.deleteFrom('cp_labels').where('key', '=', key).where('value', '=', value).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw new ControlPlaneNotFoundError(`label ${key}:${value} does not exist`);
      // Sources lose the label too, so no source carries a label that no longer exists.
      for (const r of await tx.selectFrom('cp_sources').select(['id', 'labels']).where('labels', '!=', '[]').execute()) {
        const labels = JSON.parse(r.labels) as Label[];
        const kept = labels.filter((l) => !(l.key === key && l.value === value));
        if (kept.length !== labels.length) await tx.updateTable('cp_sources').set({ labels: JSON.stringify(kept) }).where('id', '=', r.id).execute();
      }
    }),
  };
}
