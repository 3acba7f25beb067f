import type BetterSqlite3 from 'better-sqlite3';
import type { DestinationFilter } from '../core/filters.js';
import { ControlPlaneConflictError, savedFilters, translate as unique } from './sqlite-apply.js';
import { openSettings, sealSettings } from './secrets.js';
import { ControlPlaneFileOwnedError, ControlPlaneNotFoundError } from './errors.js';
import { createWarehouseAdmin, type WarehouseAdmin } from './sqlite-warehouses.js';
import type { Label } from './types.js';

/**
 * Writes made through the Public API (origin `api`), each in one IMMEDIATE
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

export interface ControlPlaneAdmin extends WarehouseAdmin {
  /** Creates the workspace the API works in when none exists yet (no workspace file). */
  ensureWorkspace(w: { id: string; slug: string; name: string }): void;
  createSource(s: NewSource): void;
  updateSource(id: string, patch: SourcePatch): void;
  /** Deletes the source, its write keys, its links, and the `api` destinations left with no source. */
  deleteSource(id: string): { deletedDestinations: string[] };
  addWriteKey(sourceId: string, writeKey: string): void;
  removeWriteKey(sourceId: string, writeKey: string): void;
  createDestination(d: NewDestination): void;
  updateDestination(id: string, patch: DestinationPatch): void;
  deleteDestination(id: string): void;
  /** Replaces the filters; unchanged ones keep their savedAt (they do not re-apply to older events). */
  setDestinationFilters(id: string, filters: readonly DestinationFilter[]): void;
  listLabels(): LabelDefinition[];
  createLabel(l: LabelDefinition): void;
  deleteLabel(key: string, value: string): void;
}

interface OwnedRow { origin: string }

export function createAdmin(db: BetterSqlite3.Database, secretKey: Buffer): ControlPlaneAdmin {
  const q = {
    bump: db.prepare("UPDATE cp_meta SET value = value + 1 WHERE key = 'version'"),
    workspaceId: db.prepare("SELECT value FROM cp_meta WHERE key = 'workspace_id'").pluck(),
    setMeta: db.prepare('INSERT INTO cp_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    insertWorkspace: db.prepare(`INSERT INTO cp_workspaces (id, slug, name, rate_limit_per_second, origin, created_at, updated_at)
      VALUES (?, ?, ?, 0, 'api', ?, ?)`),
    source: db.prepare('SELECT origin, slug, name, enabled, settings, labels FROM cp_sources WHERE id = ?'),
    insertSource: db.prepare(`INSERT INTO cp_sources
      (id, workspace_id, slug, name, enabled, metadata_id, settings, labels, origin, created_at, updated_at)
      VALUES (@id, @ws, @slug, @name, @enabled, @metadataId, @settings, @labels, 'api', @now, @now)`),
    updateSource: db.prepare(`UPDATE cp_sources SET slug = @slug, name = @name, enabled = @enabled, settings = @settings,
      labels = @labels, updated_at = @now WHERE id = @id`),
    deleteSource: db.prepare('DELETE FROM cp_sources WHERE id = ?'),
    keysOf: db.prepare('SELECT write_key FROM cp_write_keys WHERE source_id = ?').pluck(),
    keyOwner: db.prepare('SELECT source_id FROM cp_write_keys WHERE write_key = ?').pluck(),
    insertKey: db.prepare('INSERT INTO cp_write_keys (write_key, source_id) VALUES (?, ?)'),
    deleteKey: db.prepare('DELETE FROM cp_write_keys WHERE write_key = ? AND source_id = ?'),
    deleteKeysOf: db.prepare('DELETE FROM cp_write_keys WHERE source_id = ?'),
    destination: db.prepare('SELECT origin, name, enabled, settings, secret_settings, filters FROM cp_destinations WHERE id = ?'),
    insertDest: db.prepare(`INSERT INTO cp_destinations
      (id, workspace_id, name, type, enabled, settings, secret_settings, filters, origin, created_at, updated_at)
      VALUES (@id, @ws, @name, @type, @enabled, @settings, @secrets, '[]', 'api', @now, @now)`),
    updateDest: db.prepare(`UPDATE cp_destinations SET name = @name, enabled = @enabled, settings = @settings,
      secret_settings = @secrets, updated_at = @now WHERE id = @id`),
    updateFilters: db.prepare('UPDATE cp_destinations SET filters = ?, updated_at = ? WHERE id = ?'),
    deleteDest: db.prepare('DELETE FROM cp_destinations WHERE id = ?'),
    insertLink: db.prepare(`INSERT INTO cp_destination_sources (destination_id, source_id, name)
      SELECT id, ?, name FROM cp_destinations WHERE id = ?`),
    linkOwner: db.prepare('SELECT destination_id FROM cp_destination_sources WHERE source_id = ? AND name = ?').pluck(),
    linksOfSource: db.prepare('SELECT destination_id FROM cp_destination_sources WHERE source_id = ?').pluck(),
    linkCount: db.prepare('SELECT count(*) FROM cp_destination_sources WHERE destination_id = ?').pluck(),
    deleteLinksOfSource: db.prepare('DELETE FROM cp_destination_sources WHERE source_id = ?'),
    deleteLinksOfDest: db.prepare('DELETE FROM cp_destination_sources WHERE destination_id = ?'),
    deleteWarehouseLinksOf: db.prepare('DELETE FROM cp_warehouse_sources WHERE source_id = ?'),
    labels: db.prepare('SELECT key, value, description FROM cp_labels ORDER BY key, value'),
    label: db.prepare('SELECT 1 FROM cp_labels WHERE key = ? AND value = ?').pluck(),
    insertLabel: db.prepare('INSERT INTO cp_labels (key, value, description, created_at) VALUES (?, ?, ?, ?)'),
    deleteLabel: db.prepare('DELETE FROM cp_labels WHERE key = ? AND value = ?'),
    sourcesWithLabels: db.prepare("SELECT id, labels FROM cp_sources WHERE labels != '[]'"),
    setSourceLabels: db.prepare('UPDATE cp_sources SET labels = ? WHERE id = ?'),
  };

  /** Runs `fn` in an IMMEDIATE transaction and bumps the version when it returns. */
  const write = <A extends unknown[], R>(fn: (...args: A) => R) => {
    const tx = db.transaction((...args: A) => {
      const result = fn(...args);
      q.bump.run();
      return result;
    });
    return (...args: A): R => tx.immediate(...args);
  };
  const currentWorkspace = (): string => {
    const id = q.workspaceId.get() as string | undefined;
    if (!id) throw new ControlPlaneNotFoundError('there is no workspace yet');
    return id;
  };
  const ownedSource = (id: string) => {
    const row = q.source.get(id) as (OwnedRow & { slug: string; name: string; enabled: number; settings: string; labels: string }) | undefined;
    if (!row) throw new ControlPlaneNotFoundError(`no source ${id}`);
    if (row.origin !== 'api') throw new ControlPlaneFileOwnedError(`source ${id} is defined in the workspace file; change it there (the file is the source of truth for what it defines)`);
    return row;
  };
  const ownedDestination = (id: string) => {
    const row = q.destination.get(id) as
      (OwnedRow & { name: string; enabled: number; settings: string; secret_settings: string; filters: string }) | undefined;
    if (!row) throw new ControlPlaneNotFoundError(`no destination ${id}`);
    if (row.origin !== 'api') throw new ControlPlaneFileOwnedError(`destination ${id} is defined in the workspace file; change it there (the file is the source of truth for what it defines)`);
    return row;
  };
  const checkLabels = (labels: readonly Label[]) => {
    for (const l of labels) {
      if (!q.label.get(l.key, l.value)) throw new ControlPlaneNotFoundError(`label ${l.key}:${l.value} does not exist; create it first`);
    }
  };
  const insertKey = (key: string, sourceId: string) =>
    unique(() => q.insertKey.run(key, sourceId), () => `write key "${key}" is already used by source "${String(q.keyOwner.get(key))}"`);
  const link = (destinationId: string, sourceId: string, name: string) =>
    unique(() => q.insertLink.run(sourceId, destinationId),
      () => `source "${sourceId}" already has a destination instance named "${name}" (destination "${String(q.linkOwner.get(sourceId, name))}"); instance names are unique per source`);

  return {
    ...createWarehouseAdmin(db, secretKey, write, currentWorkspace),
    ensureWorkspace: write((w) => {
      if (q.workspaceId.get() !== undefined) return;
      const now = Date.now();
      q.insertWorkspace.run(w.id, w.slug, w.name, now, now);
      q.setMeta.run('workspace_id', w.id);
    }),
    createSource: write((s) => {
      checkLabels(s.labels);
      const now = Date.now();
      unique(() => q.insertSource.run({
        id: s.id, ws: currentWorkspace(), slug: s.slug, name: s.name, enabled: s.enabled ? 1 : 0, metadataId: s.metadataId,
        settings: JSON.stringify(s.settings), labels: JSON.stringify(s.labels), now,
      }), `slug "${s.slug}" is already used by another source`);
      insertKey(s.writeKey, s.id);
    }),
    updateSource: write((id, patch) => {
      const cur = ownedSource(id);
      if (patch.labels) checkLabels(patch.labels);
      unique(() => q.updateSource.run({
        id, slug: patch.slug ?? cur.slug, name: patch.name ?? cur.name,
        enabled: patch.enabled === undefined ? cur.enabled : patch.enabled ? 1 : 0,
        settings: patch.settings ? JSON.stringify(patch.settings) : cur.settings,
        labels: patch.labels ? JSON.stringify(patch.labels) : cur.labels, now: Date.now(),
      }), `slug "${patch.slug ?? ''}" is already used by another source`);
    }),
    deleteSource: write((id) => {
      ownedSource(id);
      const linked = q.linksOfSource.all(id) as string[];
      q.deleteLinksOfSource.run(id);
      const deletedDestinations: string[] = [];
      for (const destId of linked) {
        const d = q.destination.get(destId) as OwnedRow | undefined;
        if (d?.origin === 'api' && Number(q.linkCount.get(destId)) === 0) {
          q.deleteDest.run(destId);
          deletedDestinations.push(destId);
        }
      }
      q.deleteKeysOf.run(id);
      // Warehouses lose the source (and its selective-sync overrides stay harmless: nothing matches them).
      q.deleteWarehouseLinksOf.run(id);
      q.deleteSource.run(id);
      return { deletedDestinations };
    }),
    addWriteKey: write((sourceId, key) => {
      ownedSource(sourceId);
      insertKey(key, sourceId);
    }),
    removeWriteKey: write((sourceId, key) => {
      ownedSource(sourceId);
      const keys = q.keysOf.all(sourceId) as string[];
      if (!keys.includes(key)) throw new ControlPlaneNotFoundError(`source ${sourceId} has no write key ${key}`);
      if (keys.length === 1) throw new ControlPlaneConflictError(`write key ${key} is the last one of source ${sourceId}; create another before removing it`);
      q.deleteKey.run(key, sourceId);
    }),
    createDestination: write((d) => {
      const now = Date.now();
      q.insertDest.run({
        id: d.id, ws: currentWorkspace(), name: d.name, type: d.type, enabled: d.enabled ? 1 : 0,
        settings: sealSettings(secretKey, d.settings, d.secretSettings), secrets: JSON.stringify(d.secretSettings), now,
      });
      for (const sourceId of new Set(d.sourceIds)) {
        const s = q.source.get(sourceId);
        if (!s) throw new ControlPlaneNotFoundError(`no source ${sourceId}`);
        link(d.id, sourceId, d.name);
      }
    }),
    updateDestination: write((id, patch) => {
      const cur = ownedDestination(id);
      const secrets = patch.secretSettings ?? (JSON.parse(cur.secret_settings) as string[]);
      const settings = patch.settings ?? openSettings(secretKey, cur.settings, JSON.parse(cur.secret_settings) as string[]);
      const name = patch.name ?? cur.name;
      // The trigger copies a new name onto the links, where the unique index checks it.
      unique(() => q.updateDest.run({
        id, name, enabled: patch.enabled === undefined ? cur.enabled : patch.enabled ? 1 : 0,
        settings: sealSettings(secretKey, settings, secrets), secrets: JSON.stringify(secrets), now: Date.now(),
      }), `another destination instance of the same source is already named "${name}"; instance names are unique per source`);
    }),
    deleteDestination: write((id) => {
      ownedDestination(id);
      q.deleteLinksOfDest.run(id);
      q.deleteDest.run(id);
    }),
    setDestinationFilters: write((id, filters) => {
      const cur = ownedDestination(id);
      const now = Date.now();
      const saved = savedFilters(filters, cur.filters, now);
      q.updateFilters.run(JSON.stringify(saved), now, id);
    }),
    listLabels: () => (q.labels.all() as { key: string; value: string; description: string | null }[])
      .map((r) => ({ key: r.key, value: r.value, ...(r.description ? { description: r.description } : {}) })),
    createLabel: write((l) => {
      unique(() => q.insertLabel.run(l.key, l.value, l.description ?? null, Date.now()), `label ${l.key}:${l.value} already exists`);
    }),
    deleteLabel: write((key, value) => {
      if (q.deleteLabel.run(key, value).changes === 0) throw new ControlPlaneNotFoundError(`label ${key}:${value} does not exist`);
      // Sources lose the label too, so no source carries a label that no longer exists.
      for (const r of q.sourcesWithLabels.all() as { id: string; labels: string }[]) {
        const labels = JSON.parse(r.labels) as Label[];
        const kept = labels.filter((l) => !(l.key === key && l.value === value));
        if (kept.length !== labels.length) q.setSourceLabels.run(JSON.stringify(kept), r.id);
      }
    }),
  };
}
