import type BetterSqlite3 from 'better-sqlite3';
import type { ApplyReport, EntityIds, PlannedDestination, PlannedSource, WorkspacePlan } from './plan.js';
import { openSettings, sealSettings } from './secrets.js';
import type { DestinationFilter } from '../core/filters.js';
import type { SavedFilter } from './types.js';

/**
 * Makes the control-plane tables match a workspace plan, in one IMMEDIATE
 * transaction (a reader never sees half a file; two appliers never interleave).
 *
 * Rules:
 * - The plan is the whole truth for entities with origin `file`: those missing
 *   from it are deleted. Entities with another origin (`api`) are never deleted,
 *   but an `api` entity whose id appears in the plan is adopted (origin becomes
 *   `file`): the declarative file wins for what it names.
 * - A row is rewritten only when it differs, and the version is bumped only when
 *   something changed, so re-applying an unchanged file is a no-op that readers
 *   polling version() do not notice.
 * - Links and write keys are deleted before rows are upserted and re-inserted
 *   after, so swaps inside one file (a write key moving between sources, two
 *   instances trading names) never trip the unique indexes half-way.
 */
export class ControlPlaneConflictError extends Error {
  override name = 'ControlPlaneConflictError';
}

interface WorkspaceRow { id: string; slug: string; name: string; rate_limit_per_second: number; origin: string }
interface SourceRow { id: string; workspace_id: string; slug: string; name: string; enabled: number; origin: string }
interface DestinationRow {
  id: string; workspace_id: string; name: string; type: string; enabled: number;
  settings: string; secret_settings: string; origin: string; filters: string;
}

const emptyIds = (): EntityIds => ({ workspaces: [], sources: [], destinations: [] });

export function createApplier(db: BetterSqlite3.Database, secretKey: Buffer): (plan: WorkspacePlan) => ApplyReport {
  const q = {
    workspaces: db.prepare('SELECT id, slug, name, rate_limit_per_second, origin FROM cp_workspaces'),
    sources: db.prepare('SELECT id, workspace_id, slug, name, enabled, origin FROM cp_sources'),
    destinations: db.prepare(
      'SELECT id, workspace_id, name, type, enabled, settings, secret_settings, origin, filters FROM cp_destinations',
    ),
    writeKeys: db.prepare('SELECT write_key, source_id FROM cp_write_keys'),
    links: db.prepare('SELECT destination_id, source_id FROM cp_destination_sources'),
    meta: db.prepare('SELECT value FROM cp_meta WHERE key = ?').pluck(),
    setMeta: db.prepare('INSERT INTO cp_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    delLinksOfDest: db.prepare('DELETE FROM cp_destination_sources WHERE destination_id = ?'),
    delLinksOfSource: db.prepare('DELETE FROM cp_destination_sources WHERE source_id = ?'),
    delWarehouseLinksOfSource: db.prepare('DELETE FROM cp_warehouse_sources WHERE source_id = ?'),
    warehouseWorkspaces: db.prepare('SELECT DISTINCT workspace_id FROM cp_warehouses').pluck(),
    delKeysOfSource: db.prepare('DELETE FROM cp_write_keys WHERE source_id = ?'),
    delDest: db.prepare('DELETE FROM cp_destinations WHERE id = ?'),
    delSource: db.prepare('DELETE FROM cp_sources WHERE id = ?'),
    delWorkspace: db.prepare('DELETE FROM cp_workspaces WHERE id = ?'),
    upsertWorkspace: db.prepare(`INSERT INTO cp_workspaces (id, slug, name, rate_limit_per_second, origin, created_at, updated_at)
      VALUES (@id, @slug, @name, @rate, 'file', @now, @now)
      ON CONFLICT (id) DO UPDATE SET slug = @slug, name = @name, rate_limit_per_second = @rate, origin = 'file', updated_at = @now`),
    upsertSource: db.prepare(`INSERT INTO cp_sources (id, workspace_id, slug, name, enabled, origin, created_at, updated_at)
      VALUES (@id, @ws, @slug, @name, @enabled, 'file', @now, @now)
      ON CONFLICT (id) DO UPDATE SET workspace_id = @ws, slug = @slug, name = @name, enabled = @enabled, origin = 'file', updated_at = @now`),
    upsertDest: db.prepare(`INSERT INTO cp_destinations
      (id, workspace_id, name, type, enabled, settings, secret_settings, filters, origin, created_at, updated_at)
      VALUES (@id, @ws, @name, @type, @enabled, @settings, @secrets, @filters, 'file', @now, @now)
      ON CONFLICT (id) DO UPDATE SET workspace_id = @ws, name = @name, type = @type, enabled = @enabled,
        settings = @settings, secret_settings = @secrets, filters = @filters, origin = 'file', updated_at = @now`),
    insertKey: db.prepare('INSERT INTO cp_write_keys (write_key, source_id) VALUES (?, ?)'),
    keyOwner: db.prepare('SELECT source_id FROM cp_write_keys WHERE write_key = ?').pluck(),
    insertLink: db.prepare(`INSERT INTO cp_destination_sources (destination_id, source_id, name)
      SELECT id, ?, name FROM cp_destinations WHERE id = ?`),
    linkOwner: db.prepare('SELECT destination_id FROM cp_destination_sources WHERE source_id = ? AND name = ?').pluck(),
  };

  const apply = (plan: WorkspacePlan): ApplyReport => {
    const now = Date.now();
    const created = emptyIds();
    const updated = emptyIds();
    const deleted = emptyIds();
    const wsId = plan.workspace.id;

    const workspaces = new Map((q.workspaces.all() as WorkspaceRow[]).map((r) => [r.id, r]));
    const sources = new Map((q.sources.all() as SourceRow[]).map((r) => [r.id, r]));
    const destinations = new Map((q.destinations.all() as DestinationRow[]).map((r) => [r.id, r]));
    const keysOf = groupBy(q.writeKeys.all() as { write_key: string; source_id: string }[], (r) => r.source_id, (r) => r.write_key);
    const linksOf = groupBy(q.links.all() as { destination_id: string; source_id: string }[], (r) => r.destination_id, (r) => r.source_id);

    // Decide what changes before touching anything.
    const cw = workspaces.get(wsId);
    const w = plan.workspace;
    const wsChanged = !cw || cw.slug !== w.slug || cw.name !== w.name || cw.rate_limit_per_second !== w.rateLimitPerSecond || cw.origin !== 'file';
    if (wsChanged) (cw ? updated : created).workspaces.push(wsId);

    const sourcesToWrite = plan.sources.filter((s) => {
      const cur = sources.get(s.id);
      if (cur && !sourceDiffers(cur, keysOf.get(cur.id) ?? [], s, wsId)) return false;
      (cur ? updated : created).sources.push(s.id);
      return true;
    });
    const destsToWrite = plan.destinations.filter((d) => {
      const cur = destinations.get(d.id);
      if (cur && !destinationDiffers(cur, linksOf.get(cur.id) ?? [], d, wsId, secretKey)) return false;
      (cur ? updated : created).destinations.push(d.id);
      return true;
    });

    const inPlan = { sources: new Set(plan.sources.map((s) => s.id)), destinations: new Set(plan.destinations.map((d) => d.id)) };
    deleted.sources = [...sources.values()].filter((r) => r.origin === 'file' && !inPlan.sources.has(r.id)).map((r) => r.id);
    deleted.destinations = [...destinations.values()]
      .filter((r) => r.origin === 'file' && !inPlan.destinations.has(r.id))
      .map((r) => r.id);
    // A file workspace no longer named is deleted only once nothing (an `api` entity) still lives in it.
    const stillUsed = new Set<string>();
    for (const r of sources.values()) if (!inPlan.sources.has(r.id) && !deleted.sources.includes(r.id)) stillUsed.add(r.workspace_id);
    for (const r of destinations.values()) {
      if (!inPlan.destinations.has(r.id) && !deleted.destinations.includes(r.id)) stillUsed.add(r.workspace_id);
    }
    // API warehouses live in their workspace too (the file never deletes them).
    for (const id of q.warehouseWorkspaces.all() as string[]) stillUsed.add(id);
    deleted.workspaces = [...workspaces.values()]
      .filter((r) => r.origin === 'file' && r.id !== wsId && !stillUsed.has(r.id))
      .map((r) => r.id);
    const currentWorkspaceChanged = q.meta.get('workspace_id') !== wsId;

    // Foreign keys (when the caller enables them) are checked at commit, not per
    // statement: a workspace whose id changed is deleted before its sources move
    // to the new one, which frees its slug. Resets by itself at commit.
    db.pragma('defer_foreign_keys = ON');
    // 1. Unlink and drop keys of everything about to be rewritten or deleted.
    for (const id of [...deleted.destinations, ...destsToWrite.map((d) => d.id)]) q.delLinksOfDest.run(id);
    // An `api` destination linked to a deleted source loses that link (the source is gone).
    for (const id of deleted.sources) q.delLinksOfSource.run(id);
    // So does an `api` warehouse connected to it.
    for (const id of deleted.sources) q.delWarehouseLinksOfSource.run(id);
    for (const id of [...deleted.sources, ...sourcesToWrite.map((s) => s.id)]) q.delKeysOfSource.run(id);
    // 2. Delete rows, children first (foreign keys may be enforced by the caller).
    for (const id of deleted.destinations) q.delDest.run(id);
    for (const id of deleted.sources) q.delSource.run(id);
    for (const id of deleted.workspaces) q.delWorkspace.run(id);
    // 3. Upsert rows.
    if (wsChanged) {
      translate(() => q.upsertWorkspace.run({ id: wsId, slug: w.slug, name: w.name, rate: w.rateLimitPerSecond, now }),
        `workspace "${wsId}": slug "${w.slug}" is already used by another workspace`);
    }
    for (const s of sourcesToWrite) {
      translate(() => q.upsertSource.run({ id: s.id, ws: wsId, slug: s.slug, name: s.name, enabled: s.enabled ? 1 : 0, now }),
        `source "${s.id}": slug "${s.slug}" is already used by another source of workspace "${wsId}"`);
    }
    for (const d of destsToWrite) {
      q.upsertDest.run({
        id: d.id, ws: wsId, name: d.name, type: d.type, enabled: d.enabled ? 1 : 0,
        settings: sealSettings(secretKey, d.settings, d.secretSettings), secrets: JSON.stringify(d.secretSettings),
        filters: JSON.stringify(savedFilters(d.filters, destinations.get(d.id)?.filters, now)), now,
      });
    }
    // 4. Re-insert keys and links; the unique indexes turn conflicts with `api` entities into clear errors.
    for (const s of sourcesToWrite) {
      for (const key of new Set(s.writeKeys)) {
        translate(() => q.insertKey.run(key, s.id),
          () => `write key "${key}" of source "${s.id}" is already used by source "${String(q.keyOwner.get(key))}"`);
      }
    }
    for (const d of destsToWrite) {
      for (const sourceId of new Set(d.sourceIds)) {
        translate(() => q.insertLink.run(sourceId, d.id),
          () => `destination "${d.id}": source "${sourceId}" already has an instance named "${d.name}" ` +
            `(destination "${String(q.linkOwner.get(sourceId, d.name))}"); instance names are unique per source`);
      }
    }

    const changed = currentWorkspaceChanged || [created, updated, deleted].some((ids) =>
      ids.workspaces.length + ids.sources.length + ids.destinations.length > 0);
    let version = Number(q.meta.get('version'));
    if (changed) {
      version += 1;
      q.setMeta.run('version', version);
      q.setMeta.run('workspace_id', wsId);
    }
    return { changed, version, created, updated, deleted };
  };

  const tx = db.transaction(apply);
  return (plan) => {
    checkPlan(plan);
    return tx.immediate(plan);
  };
}

/** The config layer guarantees these; checked again because a bad plan would corrupt the links. */
function checkPlan(plan: WorkspacePlan): void {
  const sourceIds = new Set<string>();
  for (const s of plan.sources) {
    if (sourceIds.has(s.id)) throw new Error(`plan lists source "${s.id}" twice`);
    sourceIds.add(s.id);
  }
  const destIds = new Set<string>();
  for (const d of plan.destinations) {
    if (destIds.has(d.id)) throw new Error(`plan lists destination "${d.id}" twice`);
    destIds.add(d.id);
    for (const id of d.sourceIds) {
      if (!sourceIds.has(id)) throw new Error(`destination "${d.id}" names source "${id}", which the plan does not define`);
    }
  }
}

function sourceDiffers(cur: SourceRow, curKeys: string[], s: PlannedSource, wsId: string): boolean {
  return cur.origin !== 'file' || cur.workspace_id !== wsId || cur.slug !== s.slug || cur.name !== s.name ||
    cur.enabled !== (s.enabled ? 1 : 0) || !sameSet(curKeys, s.writeKeys);
}

function destinationDiffers(cur: DestinationRow, curLinks: string[], d: PlannedDestination, wsId: string, key: Buffer): boolean {
  if (cur.origin !== 'file' || cur.workspace_id !== wsId || cur.name !== d.name || cur.type !== d.type ||
    cur.enabled !== (d.enabled ? 1 : 0) || !sameSet(curLinks, d.sourceIds)) return true;
  const curSecrets = JSON.parse(cur.secret_settings) as string[];
  if (!sameSet(curSecrets, d.secretSettings)) return true;
  const curFilters = (JSON.parse(cur.filters) as SavedFilter[]).map(({ savedAt: _savedAt, ...f }) => f);
  if (canonicalJson(curFilters) !== canonicalJson(d.filters)) return true;
  // Ciphertexts differ on every write (random IV), so compare plaintexts. A
  // value that no longer decrypts (the key changed) counts as changed: the
  // apply re-encrypts it with the current key.
  try {
    return canonicalJson(openSettings(key, cur.settings, curSecrets)) !== canonicalJson(d.settings);
  } catch {
    return true;
  }
}

/**
 * Filters keep their savedAt while unchanged, so re-applying a file does not make
 * a filter newer than the events it already applied to; a new or edited filter is
 * saved now and applies to events received from now on.
 */
export function savedFilters(filters: readonly DestinationFilter[], stored: string | undefined, now: number): SavedFilter[] {
  const before = new Map((JSON.parse(stored ?? '[]') as SavedFilter[]).map((f) => [f.id, f]));
  return filters.map((f) => {
    const prev = before.get(f.id);
    if (prev) {
      const { savedAt, ...body } = prev;
      if (canonicalJson(body) === canonicalJson(f)) return { ...f, savedAt };
    }
    return { ...f, savedAt: now };
  });
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}

/** JSON with object keys sorted, so that key order in the file does not count as a change. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v);
}

function groupBy<T>(rows: T[], key: (r: T) => string, value: (r: T) => string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of rows) {
    const list = out.get(key(r));
    if (list) list.push(value(r));
    else out.set(key(r), [value(r)]);
  }
  return out;
}

/** Turns a unique-constraint failure into a message that names both parties. */
export function translate(fn: () => unknown, message: string | (() => string)): void {
  try {
    fn();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
      throw new ControlPlaneConflictError(typeof message === 'string' ? message : message(), { cause: err });
    }
    throw err;
  }
}
