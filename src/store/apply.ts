import { sql } from 'kysely';
import type { ControlPlaneDb, Tx } from './db.js';
import type { ApplyReport, EntityIds, PlannedDestination, PlannedSource, WorkspacePlan } from './plan.js';
import { openSettings, sealSettings } from './secrets.js';
import type { DestinationFilter } from '../core/filters.js';
import type { SavedFilter } from './types.js';

/**
 * Makes the control-plane tables match a workspace plan, in one write
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
interface SourceRow { id: string; workspace_id: string; slug: string; name: string; enabled: number; origin: string; labels: string }
interface DestinationRow {
  id: string; workspace_id: string; name: string; type: string; enabled: number;
  settings: string; secret_settings: string; origin: string; filters: string;
}

const emptyIds = (): EntityIds => ({ workspaces: [], sources: [], destinations: [] });

export function createApplier(cp: ControlPlaneDb, secretKey: Buffer): (plan: WorkspacePlan) => Promise<ApplyReport> {
  const apply = async (tx: Tx, plan: WorkspacePlan): Promise<ApplyReport> => {
    const now = Date.now();
    const created = emptyIds();
    const updated = emptyIds();
    const deleted = emptyIds();
    const wsId = plan.workspace.id;

    const workspaces = new Map((await tx.selectFrom('cp_workspaces').select(['id', 'slug', 'name', 'rate_limit_per_second', 'origin']).execute())
      .map((r): [string, WorkspaceRow] => [r.id, r]));
    const sources = new Map((await tx.selectFrom('cp_sources').select(['id', 'workspace_id', 'slug', 'name', 'enabled', 'origin', 'labels']).execute())
      .map((r): [string, SourceRow] => [r.id, r]));
    const destinations = new Map((await tx.selectFrom('cp_destinations')
      .select(['id', 'workspace_id', 'name', 'type', 'enabled', 'settings', 'secret_settings', 'origin', 'filters']).execute())
      .map((r): [string, DestinationRow] => [r.id, r]));
    const keysOf = groupBy(await tx.selectFrom('cp_write_keys').select(['write_key', 'source_id']).execute(), (r) => r.source_id, (r) => r.write_key);
    const linksOf = groupBy(await tx.selectFrom('cp_destination_sources').select(['destination_id', 'source_id']).execute(),
      (r) => r.destination_id, (r) => r.source_id);
    const meta = async (key: string) => (await tx.selectFrom('cp_meta').select('value').where('key', '=', key).executeTakeFirst())?.value;
    const setMeta = (key: string, value: string | number) => tx.insertInto('cp_meta').values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value })).execute();

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
    for (const r of await tx.selectFrom('cp_warehouses').select('workspace_id').distinct().execute()) stillUsed.add(r.workspace_id);
    deleted.workspaces = [...workspaces.values()]
      .filter((r) => r.origin === 'file' && r.id !== wsId && !stillUsed.has(r.id))
      .map((r) => r.id);
    const currentWorkspaceChanged = (await meta('workspace_id')) !== wsId;

    // Foreign keys are checked at commit, not per statement: a workspace whose id
    // changed is deleted before its sources move to the new one, which frees its slug.
    await cp.deferForeignKeys(tx);
    // 1. Unlink and drop keys of everything about to be rewritten or deleted.
    const unlinkDests = [...deleted.destinations, ...destsToWrite.map((d) => d.id)];
    const dropKeysOf = [...deleted.sources, ...sourcesToWrite.map((s) => s.id)];
    for (const ids of chunks(unlinkDests)) await tx.deleteFrom('cp_destination_sources').where('destination_id', 'in', ids).execute();
    // An `api` destination linked to a deleted source loses that link (the source is gone).
    for (const ids of chunks(deleted.sources)) await tx.deleteFrom('cp_destination_sources').where('source_id', 'in', ids).execute();
    // So does an `api` warehouse connected to it.
    for (const ids of chunks(deleted.sources)) await tx.deleteFrom('cp_warehouse_sources').where('source_id', 'in', ids).execute();
    for (const ids of chunks(dropKeysOf)) await tx.deleteFrom('cp_write_keys').where('source_id', 'in', ids).execute();
    // 2. Delete rows, children first.
    for (const ids of chunks(deleted.destinations)) {
      await tx.deleteFrom('cp_insert_functions').where('destination_id', 'in', ids).execute();
      await tx.deleteFrom('cp_destinations').where('id', 'in', ids).execute();
    }
    for (const ids of chunks(deleted.sources)) await tx.deleteFrom('cp_sources').where('id', 'in', ids).execute();
    for (const ids of chunks(deleted.workspaces)) await tx.deleteFrom('cp_workspaces').where('id', 'in', ids).execute();
    // 3. Upsert rows.
    if (wsChanged) {
      const set = { slug: w.slug, name: w.name, rate_limit_per_second: w.rateLimitPerSecond, origin: 'file', updated_at: now };
      await translate(cp, tx, () => tx.insertInto('cp_workspaces').values({ id: wsId, ...set, created_at: now })
        .onConflict((oc) => oc.column('id').doUpdateSet(set)).execute(),
      `workspace "${wsId}": slug "${w.slug}" is already used by another workspace`);
    }
    // The labels the file names exist (it has no other way to create them).
    for (const l of new Map(sourcesToWrite.flatMap((s) => s.labels).map((l) => [`${l.key}:${l.value}`, l])).values()) {
      await tx.insertInto('cp_labels').values({ key: l.key, value: l.value, description: null, created_at: now })
        .onConflict((oc) => oc.columns(['key', 'value']).doNothing()).execute();
    }
    for (const s of sourcesToWrite) {
      const set = { workspace_id: wsId, slug: s.slug, name: s.name, enabled: s.enabled ? 1 : 0, origin: 'file', labels: JSON.stringify(s.labels), updated_at: now };
      await translate(cp, tx, () => tx.insertInto('cp_sources').values({ id: s.id, ...set, created_at: now })
        .onConflict((oc) => oc.column('id').doUpdateSet(set)).execute(),
      `source "${s.id}": slug "${s.slug}" is already used by another source of workspace "${wsId}"`);
    }
    for (const d of destsToWrite) {
      const set = {
        workspace_id: wsId, name: d.name, type: d.type, enabled: d.enabled ? 1 : 0,
        settings: sealSettings(secretKey, d.settings, d.secretSettings), secret_settings: JSON.stringify(d.secretSettings),
        filters: JSON.stringify(savedFilters(d.filters, destinations.get(d.id)?.filters, now)), origin: 'file', updated_at: now,
      };
      await tx.insertInto('cp_destinations').values({ id: d.id, ...set, created_at: now })
        .onConflict((oc) => oc.column('id').doUpdateSet(set)).execute();
    }
    // 4. Re-insert keys and links; the unique indexes turn conflicts with `api` entities into clear errors.
    for (const s of sourcesToWrite) {
      for (const key of new Set(s.writeKeys)) {
        await translate(cp, tx, () => tx.insertInto('cp_write_keys').values({ write_key: key, source_id: s.id }).execute(),
          async () => `write key "${key}" of source "${s.id}" is already used by source "${await keyOwner(tx, key)}"`);
      }
    }
    for (const d of destsToWrite) {
      for (const sourceId of new Set(d.sourceIds)) {
        await translate(cp, tx, () => tx.insertInto('cp_destination_sources').values({ destination_id: d.id, source_id: sourceId, name: d.name }).execute(),
          async () => `destination "${d.id}": source "${sourceId}" already has an instance named "${d.name}" ` +
            `(destination "${await linkOwner(tx, sourceId, d.name)}"); instance names are unique per source`);
      }
    }

    const changed = currentWorkspaceChanged || [created, updated, deleted].some((ids) =>
      ids.workspaces.length + ids.sources.length + ids.destinations.length > 0);
    let version = Number(await meta('version'));
    if (changed) {
      version += 1;
      await setMeta('version', version);
      await setMeta('workspace_id', wsId);
      await cp.notify(tx, version);
    }
    return { changed, version, created, updated, deleted };
  };

  return (plan) => {
    checkPlan(plan);
    return cp.write((tx) => apply(tx, plan));
  };
}

export async function keyOwner(tx: Tx, key: string): Promise<string> {
  const row = await tx.selectFrom('cp_write_keys').select('source_id').where('write_key', '=', key).executeTakeFirst();
  return String(row?.source_id);
}

export async function linkOwner(tx: Tx, sourceId: string, name: string): Promise<string> {
  const row = await tx.selectFrom('cp_destination_sources').select('destination_id')
    .where('source_id', '=', sourceId).where('name', '=', name).executeTakeFirst();
  return String(row?.destination_id);
}

/** IN lists stay under SQLite's bound-parameter limit. */
function chunks(ids: readonly string[], size = 500): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < ids.length; i += size) out.push(ids.slice(i, i + size));
  return out;
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
    cur.enabled !== (s.enabled ? 1 : 0) || !sameSet(curKeys, s.writeKeys) ||
    !sameSet((JSON.parse(cur.labels) as { key: string; value: string }[]).map((l) => `${l.key}:${l.value}`), s.labels.map((l) => `${l.key}:${l.value}`));
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

/**
 * Turns a unique-constraint failure into a message that names both parties. The
 * statement runs under a savepoint: PostgreSQL aborts the whole transaction on
 * an error otherwise, and the message may need a query to name the other party.
 */
export async function translate(cp: ControlPlaneDb, tx: Tx, fn: () => Promise<unknown>, message: string | (() => Promise<string> | string)): Promise<void> {
  await sql`SAVEPOINT cp_unique`.execute(tx);
  try {
    await fn();
  } catch (err) {
    await sql`ROLLBACK TO SAVEPOINT cp_unique`.execute(tx);
    await sql`RELEASE SAVEPOINT cp_unique`.execute(tx);
    if (cp.isUniqueViolation(err)) {
      throw new ControlPlaneConflictError(typeof message === 'string' ? message : await message(), { cause: err });
    }
    throw err;
  }
  await sql`RELEASE SAVEPOINT cp_unique`.execute(tx);
}
