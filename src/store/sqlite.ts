import type BetterSqlite3 from 'better-sqlite3';
import type { ApplyReport, Origin, WorkspacePlan } from './plan.js';
import type { ControlPlaneSnapshot, ControlPlaneStore, DestinationInstance, Label, SavedFilter, Source, Workspace } from './types.js';
import { createApplier } from './sqlite-apply.js';
import { migrateControlPlane } from './sqlite-schema.js';
import { openSettings } from './secrets.js';
import { createSecretUpdater } from './sqlite-secret.js';
import { createAdmin, type ControlPlaneAdmin } from './sqlite-admin.js';
import { warehouseReader } from './sqlite-warehouses.js';

export { ControlPlaneConflictError } from './sqlite-apply.js';
export { ControlPlaneFileOwnedError, ControlPlaneNotFoundError } from './errors.js';

/**
 * The embedded control plane: workspace, sources and destination instances in
 * the SQLite file shared with the rest of Switchyard (tables prefixed `cp_`).
 */
export interface SqliteControlPlane extends ControlPlaneStore {
  /**
   * Makes the store match the workspace file in one transaction and bumps the
   * version only when something changed. Throws ControlPlaneConflictError when
   * the file collides with an entity it does not own (a write key or instance
   * name already used by an `api` entity); nothing is applied then.
   */
  applyWorkspaceFile(plan: WorkspacePlan): ApplyReport;
  /** Hot path of ingest: a Map lookup in the cached snapshot. Disabled sources are returned too. */
  sourceByWriteKey(writeKey: string): Source | undefined;
  /**
   * Re-encrypts one secret key of a destination's settings (refreshed OAuth
   * tokens) and bumps the version; returns the new version. Throws when the
   * destination does not exist or `key` is not one of its secret settings.
   * A later apply of the workspace file puts the file's value back.
   */
  updateDestinationSecret(destinationId: string, key: string, value: unknown): number;
  /** Writes made through the Public API; each one bumps the version. */
  readonly admin: ControlPlaneAdmin;
}

/** snapshot() before any workspace file was applied. */
export class ControlPlaneEmptyError extends Error {
  override name = 'ControlPlaneEmptyError';
  constructor() {
    super('the control plane holds no workspace yet: apply a workspace file first');
  }
}

interface Cache {
  snapshot: ControlPlaneSnapshot;
  byWriteKey: Map<string, Source>;
}

interface SourceRow {
  id: string; workspace_id: string; slug: string; name: string; enabled: number; metadata_id: string; settings: string; labels: string;
  origin: Origin;
}
interface DestinationRow {
  id: string; workspace_id: string; name: string; type: string; enabled: number; settings: string; secret_settings: string;
  filters: string; origin: Origin;
}

/**
 * Uses the caller's handle as is (the caller sets WAL, busy_timeout, ...);
 * close() therefore does not close it: other modules share the connection.
 * Several threads/processes may open the same file: each sees the others'
 * applies through version(), which reads the meta row.
 */
export function openSqliteControlPlane(
  db: BetterSqlite3.Database,
  opts: { secretKey: Buffer; /** Re-read the version at most this often (0: on every call). */ versionCheckMs?: number },
): SqliteControlPlane {
  if (opts.secretKey.length !== 32) throw new Error('secretKey must be 32 bytes');
  migrateControlPlane(db);
  const apply = createApplier(db, opts.secretKey);
  const updateSecret = createSecretUpdater(db, opts.secretKey);
  const q = {
    version: db.prepare("SELECT value FROM cp_meta WHERE key = 'version'").pluck(),
    workspaceId: db.prepare("SELECT value FROM cp_meta WHERE key = 'workspace_id'").pluck(),
    workspace: db.prepare('SELECT id, slug, name, rate_limit_per_second FROM cp_workspaces WHERE id = ?'),
    sources: db.prepare(`SELECT id, workspace_id, slug, name, enabled, metadata_id, settings, labels, origin
      FROM cp_sources WHERE workspace_id = ? ORDER BY id`),
    writeKeys: db.prepare(`SELECT k.write_key, k.source_id FROM cp_write_keys k
      JOIN cp_sources s ON s.id = k.source_id WHERE s.workspace_id = ? ORDER BY k.write_key`),
    destinations: db.prepare(`SELECT id, workspace_id, name, type, enabled, settings, secret_settings, filters, origin
      FROM cp_destinations WHERE workspace_id = ? ORDER BY id`),
    links: db.prepare(`SELECT l.destination_id, l.source_id FROM cp_destination_sources l
      JOIN cp_destinations d ON d.id = l.destination_id WHERE d.workspace_id = ? ORDER BY l.source_id`),
  };

  const warehouses = warehouseReader(db, opts.secretKey);

  let cache: { version: number; value: Cache | undefined } | undefined;
  let closed = false;

  const readVersion = (): number => Number(q.version.get());

  // One read transaction, so the snapshot is consistent even while another
  // connection applies a file.
  const build = db.transaction((): { version: number; value: Cache | undefined } => {
    const version = readVersion();
    const wsId = q.workspaceId.get() as string | undefined;
    const ws = wsId === undefined ? undefined
      : (q.workspace.get(wsId) as { id: string; slug: string; name: string; rate_limit_per_second: number } | undefined);
    if (!ws) return { version, value: undefined };
    const workspace: Workspace = { id: ws.id, slug: ws.slug, name: ws.name, rateLimitPerSecond: ws.rate_limit_per_second };

    const sources = (q.sources.all(ws.id) as SourceRow[]).map((r): Source => ({
      id: r.id, workspaceId: r.workspace_id, slug: r.slug, name: r.name, enabled: r.enabled === 1, writeKeys: [],
      metadataId: r.metadata_id, settings: JSON.parse(r.settings) as Record<string, unknown>,
      labels: JSON.parse(r.labels) as Label[], origin: r.origin,
    }));
    const sourceById = new Map(sources.map((s) => [s.id, s]));
    const byWriteKey = new Map<string, Source>();
    for (const k of q.writeKeys.all(ws.id) as { write_key: string; source_id: string }[]) {
      const source = sourceById.get(k.source_id);
      if (!source) continue;
      source.writeKeys.push(k.write_key);
      byWriteKey.set(k.write_key, source);
    }

    const destinations = (q.destinations.all(ws.id) as DestinationRow[]).map((r): DestinationInstance => ({
      id: r.id, workspaceId: r.workspace_id, name: r.name, type: r.type, enabled: r.enabled === 1, sourceIds: [],
      settings: decrypt(r, opts.secretKey), filters: JSON.parse(r.filters) as SavedFilter[], origin: r.origin,
    }));
    const destById = new Map(destinations.map((d) => [d.id, d]));
    for (const l of q.links.all(ws.id) as { destination_id: string; source_id: string }[]) {
      destById.get(l.destination_id)?.sourceIds.push(l.source_id);
    }

    // Frozen: the snapshot is shared by every caller until the next change, so
    // a consumer mutating it would silently change what others see.
    const snapshot = deepFreeze({ version, workspace, sources, destinations, warehouses: warehouses(ws.id) });
    return { version, value: { snapshot, byWriteKey } };
  });

  const checkEvery = opts.versionCheckMs ?? 0;
  let checkedAt = 0;
  const current = (): Cache | undefined => {
    if (closed) throw new Error('the control-plane store is closed');
    // One indexed read per check; the rebuild happens only after a change. With
    // versionCheckMs, changes made through another connection are seen within it;
    // changes made through this store are seen at once (apply drops the cache).
    const now = checkEvery > 0 ? Date.now() : 0;
    if (!cache || ((checkEvery === 0 || now - checkedAt >= checkEvery) && cache.version !== readVersion())) cache = build();
    if (checkEvery > 0 && now - checkedAt >= checkEvery) checkedAt = now;
    return cache.value;
  };

  // Every admin write drops the cache, so this store's readers see it at once.
  const rawAdmin = createAdmin(db, opts.secretKey);
  const admin = Object.fromEntries(Object.entries(rawAdmin).map(([name, fn]) => [name, (...args: unknown[]) => {
    if (closed) throw new Error('the control-plane store is closed');
    const result = (fn as (...a: unknown[]) => unknown)(...args);
    cache = undefined;
    return result;
  }])) as unknown as ControlPlaneAdmin;

  return {
    admin,
    applyWorkspaceFile(plan) {
      if (closed) throw new Error('the control-plane store is closed');
      const report = apply(plan);
      if (report.changed) cache = undefined;
      return report;
    },
    updateDestinationSecret(destinationId, key, value) {
      if (closed) throw new Error('the control-plane store is closed');
      const version = updateSecret(destinationId, key, value);
      cache = undefined;
      return version;
    },
    snapshot() {
      const value = current();
      if (!value) throw new ControlPlaneEmptyError();
      return value.snapshot;
    },
    version() {
      if (closed) throw new Error('the control-plane store is closed');
      return readVersion();
    },
    sourceByWriteKey(writeKey) {
      return current()?.byWriteKey.get(writeKey);
    },
    close() {
      closed = true;
      cache = undefined;
    },
  };
}

function decrypt(r: DestinationRow, key: Buffer): Record<string, unknown> {
  try {
    return openSettings(key, r.settings, JSON.parse(r.secret_settings) as string[]);
  } catch (err) {
    throw new Error(`cannot read the settings of destination "${r.id}": ${(err as Error).message}`, { cause: err });
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
