import type BetterSqlite3 from 'better-sqlite3';
import type { ApplyReport, Origin, WorkspacePlan } from './plan.js';
import type { ControlPlaneSnapshot, ControlPlaneStore, DestinationInstance, Label, SavedFilter, Source, Workspace } from './types.js';
import { createApplier } from './apply.js';
import { migrateControlPlane } from './migrate.js';
import { openSettings } from './secrets.js';
import { createSecretUpdater } from './secret.js';
import { createAdmin, type ControlPlaneAdmin } from './admin.js';
import { openIamStore, type IamStore } from './iam.js';
import { readFunctions } from './functions.js';
import { readWarehouses } from './warehouses.js';
import { createObservabilityStore, type LegacyImportReport, type LegacyObservabilityRows } from './observability.js';
import { postgresDb, sqliteDb, type ControlPlaneDb, type PostgresStoreSettings, type Tx } from './db.js';

export { ControlPlaneConflictError } from './apply.js';
export { ControlPlaneFileOwnedError, ControlPlaneNotFoundError } from './errors.js';
export type { PostgresStoreSettings } from './db.js';
export type { LegacyImportReport, LegacyObservabilityRows } from './observability.js';

/**
 * The control plane: workspace, sources, destination instances, and the IAM
 * tables of the Public API. Two backends share every query (Kysely): the
 * embedded SQLite file (tables prefixed `cp_`, the default) and PostgreSQL
 * (SWITCHYARD_STORE=postgres://…), which several processes share.
 *
 * Reads on hot paths (snapshot, version, sourceByWriteKey) answer from a cache
 * in memory; writes are async and reload the cache before they resolve, so this
 * store's readers see them at once. Changes made by other connections arrive by
 * polling the version (SQLite, and PostgreSQL as a fallback) or by LISTEN/NOTIFY
 * (PostgreSQL, within a second).
 */
export interface ControlPlane extends ControlPlaneStore {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Makes the store match the workspace file in one transaction and bumps the
   * version only when something changed. Throws ControlPlaneConflictError when
   * the file collides with an entity it does not own (a write key or instance
   * name already used by an `api` entity); nothing is applied then.
   */
  applyWorkspaceFile(plan: WorkspacePlan): Promise<ApplyReport>;
  /** Hot path of ingest: a Map lookup in the cached snapshot. Disabled sources are returned too. */
  sourceByWriteKey(writeKey: string): Source | undefined;
  /**
   * Re-encrypts one secret key of a destination's settings (refreshed OAuth
   * tokens) and bumps the version; resolves to the new version. Rejects when the
   * destination does not exist or `key` is not one of its secret settings.
   * A later apply of the workspace file puts the file's value back.
   */
  updateDestinationSecret(destinationId: string, key: string, value: unknown): Promise<number>;
  /** Writes made through the Public API; each one bumps the version. */
  readonly admin: ControlPlaneAdmin;
  /** Users, sessions, invites, tokens, audit trail (no version bump: not configuration). */
  readonly iam: IamStore;
  /**
   * Upgrade from a version that kept alert rules, alert notifications and
   * failure-log collections in stats.db: copies those rows into each of the
   * store's tables that is still empty; resolves to how many rows each got.
   */
  importLegacyObservability(rows: LegacyObservabilityRows): Promise<LegacyImportReport>;
  /** Calls `listener` after the cache moved to a new version (any writer, any process). Returns an unsubscribe. */
  onChange(listener: (version: number) => void): () => void;
  close(): Promise<void>;
}

export interface ControlPlaneOptions {
  secretKey: Buffer;
  /**
   * How often the version is read to catch changes made elsewhere. Default 100 ms
   * on SQLite (a cheap local read), 1 s on PostgreSQL (a fallback for NOTIFY).
   * 0: no timer (refresh() only).
   */
  pollMs?: number;
}

export type StoreLocation = { sqlite: BetterSqlite3.Database } | { postgres: PostgresStoreSettings };

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
 * Opens the store and loads the first snapshot. SQLite: uses the caller's
 * handle as is (WAL, busy_timeout, ...) and close() does not close it, other
 * modules share the connection. PostgreSQL: a pool and a LISTEN connection of
 * its own, closed by close().
 */
export async function openControlPlane(location: StoreLocation, opts: ControlPlaneOptions): Promise<ControlPlane> {
  if (opts.secretKey.length !== 32) throw new Error('secretKey must be 32 bytes');
  const cp = 'sqlite' in location ? sqliteDb(location.sqlite) : await postgresDb(location.postgres);
  try {
    await migrateControlPlane(cp);
    return await openOn(cp, opts);
  } catch (err) {
    await cp.close();
    throw err;
  }
}

/** The embedded store on a better-sqlite3 handle (the default). */
export function openSqliteControlPlane(db: BetterSqlite3.Database, opts: ControlPlaneOptions): Promise<ControlPlane> {
  return openControlPlane({ sqlite: db }, opts);
}

async function openOn(cp: ControlPlaneDb, opts: ControlPlaneOptions): Promise<ControlPlane> {
  const apply = createApplier(cp, opts.secretKey);
  const updateSecret = createSecretUpdater(cp, opts.secretKey);
  const listeners = new Set<(version: number) => void>();
  let cache: { version: number; value: Cache | undefined } = await cp.read((tx) => build(tx, opts.secretKey));
  let closed = false;

  const readVersion = async (): Promise<number> =>
    Number((await cp.db.selectFrom('cp_meta').select('value').where('key', '=', 'version').executeTakeFirstOrThrow()).value);

  // One refresh at a time; a call during one waits for it and then checks again,
  // so a write that committed before the call is always seen when it resolves.
  let running: Promise<void> | undefined;
  let again = false;
  const reloadIfChanged = async (): Promise<void> => {
    if (closed) return;
    if ((await readVersion()) === cache.version) return;
    const next = await cp.read((tx) => build(tx, opts.secretKey));
    if (closed || next.version === cache.version) return;
    cache = next;
    for (const l of listeners) {
      try {
        l(next.version);
      } catch {
        // A listener's failure is its own; the other listeners still hear of the change.
      }
    }
  };
  const refresh = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await reloadIfChanged();
        } while (again);
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const background = () => void refresh().catch(() => {
    // The next poll or notification tries again; readers keep the last good snapshot.
  });

  const pollMs = opts.pollMs ?? (cp.dialect === 'sqlite' ? 100 : 1000);
  const poll = pollMs > 0 ? setInterval(background, pollMs) : undefined;
  poll?.unref();
  const stopListening = cp.listen?.(background);

  const open = () => {
    if (closed) throw new Error('the control-plane store is closed');
  };
  // Every write reloads the cache before it resolves, so this store's readers see it at once.
  // The write has committed by then: a failed reload must not report it as failed
  // (the next poll or notification reloads).
  const thenRefresh = async <R>(result: Promise<R>): Promise<R> => {
    const value = await result;
    await refresh().catch(() => {});
    return value;
  };
  const admin = Object.fromEntries(Object.entries(createAdmin(cp, opts.secretKey)).map(([name, fn]) => [name, (...args: unknown[]) => {
    open();
    return thenRefresh((fn as (...a: unknown[]) => Promise<unknown>)(...args));
  }])) as unknown as ControlPlaneAdmin;

  const observability = Object.fromEntries(Object.entries(createObservabilityStore(cp)).map(([name, fn]) => [name, (...args: unknown[]) => {
    open();
    return (fn as (...a: unknown[]) => Promise<unknown>)(...args);
  }])) as unknown as ReturnType<typeof createObservabilityStore>;

  return {
    ...observability,
    dialect: cp.dialect,
    admin,
    iam: openIamStore(cp),
    applyWorkspaceFile(plan) {
      open();
      return thenRefresh(apply(plan));
    },
    updateDestinationSecret(destinationId, key, value) {
      open();
      return thenRefresh(updateSecret(destinationId, key, value));
    },
    snapshot() {
      open();
      if (!cache.value) throw new ControlPlaneEmptyError();
      return cache.value.snapshot;
    },
    version() {
      open();
      return cache.version;
    },
    sourceByWriteKey(writeKey) {
      open();
      return cache.value?.byWriteKey.get(writeKey);
    },
    refresh() {
      open();
      return refresh();
    },
    onChange(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    async close() {
      if (closed) return;
      closed = true;
      if (poll) clearInterval(poll);
      listeners.clear();
      await stopListening?.();
      await running?.catch(() => {});
      await cp.close();
    },
  };
}

/** Reads the whole configuration in one read transaction, so it is consistent while another connection writes. */
async function build(tx: Tx, secretKey: Buffer): Promise<{ version: number; value: Cache | undefined }> {
  const meta = new Map((await tx.selectFrom('cp_meta').select(['key', 'value']).execute()).map((r) => [r.key, r.value]));
  const version = Number(meta.get('version'));
  const wsId = meta.get('workspace_id');
  const ws = wsId === undefined ? undefined
    : await tx.selectFrom('cp_workspaces').select(['id', 'slug', 'name', 'rate_limit_per_second']).where('id', '=', String(wsId)).executeTakeFirst();
  if (!ws) return { version, value: undefined };
  const workspace: Workspace = { id: ws.id, slug: ws.slug, name: ws.name, rateLimitPerSecond: ws.rate_limit_per_second };

  const sourceRows: SourceRow[] = await tx.selectFrom('cp_sources')
    .select(['id', 'workspace_id', 'slug', 'name', 'enabled', 'metadata_id', 'settings', 'labels', 'origin'])
    .where('workspace_id', '=', ws.id).orderBy('id').execute() as SourceRow[];
  const sources = sourceRows.map((r): Source => ({
    id: r.id, workspaceId: r.workspace_id, slug: r.slug, name: r.name, enabled: r.enabled === 1, writeKeys: [],
    metadataId: r.metadata_id, settings: JSON.parse(r.settings) as Record<string, unknown>,
    labels: JSON.parse(r.labels) as Label[], origin: r.origin,
  }));
  const sourceById = new Map(sources.map((s) => [s.id, s]));
  const byWriteKey = new Map<string, Source>();
  const keys = await tx.selectFrom('cp_write_keys as k').innerJoin('cp_sources as s', 's.id', 'k.source_id')
    .select(['k.write_key', 'k.source_id']).where('s.workspace_id', '=', ws.id).orderBy('k.write_key').execute();
  for (const k of keys) {
    const source = sourceById.get(k.source_id);
    if (!source) continue;
    source.writeKeys.push(k.write_key);
    byWriteKey.set(k.write_key, source);
  }

  const destRows = await tx.selectFrom('cp_destinations')
    .select(['id', 'workspace_id', 'name', 'type', 'enabled', 'settings', 'secret_settings', 'filters', 'origin'])
    .where('workspace_id', '=', ws.id).orderBy('id').execute() as DestinationRow[];
  const destinations = destRows.map((r): DestinationInstance => ({
    id: r.id, workspaceId: r.workspace_id, name: r.name, type: r.type, enabled: r.enabled === 1, sourceIds: [],
    settings: decrypt(r, secretKey), filters: JSON.parse(r.filters) as SavedFilter[], origin: r.origin,
  }));
  const destById = new Map(destinations.map((d) => [d.id, d]));
  const links = await tx.selectFrom('cp_destination_sources as l').innerJoin('cp_destinations as d', 'd.id', 'l.destination_id')
    .select(['l.destination_id', 'l.source_id']).where('d.workspace_id', '=', ws.id).orderBy('l.source_id').execute();
  for (const l of links) destById.get(l.destination_id)?.sourceIds.push(l.source_id);

  // Frozen: the snapshot is shared by every caller until the next change, so
  // a consumer mutating it would silently change what others see.
  const warehouses = await readWarehouses(tx, secretKey, ws.id);
  const { functions, insertFunctions } = await readFunctions(tx, secretKey, ws.id);
  const snapshot = deepFreeze({ version, workspace, sources, destinations, warehouses, functions, insertFunctions });
  return { version, value: { snapshot, byWriteKey } };
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
