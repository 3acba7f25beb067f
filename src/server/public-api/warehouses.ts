import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  WAREHOUSE_CATALOG, WAREHOUSE_SECRET_SETTINGS, checkWarehouseSettings, loaderThreadSettings, scheduleInput, warehouseTypeFor,
  type WarehouseCatalogEntry, type WarehouseType,
} from '../../config/warehouse-settings.js';
import { snapshotOrNull } from '../lookup.js';
import type { StoredWarehouse, WarehouseSyncOverride } from '../../store/types.js';
import type { SyncRecord } from '../../storage/warehouse/types.js';
import { canReadSource, canReadWorkspace, forbidden, isOwner, principalOf, type Principal } from './access.js';
import { attempt, audit, currentSnapshot, randomToken, type PublicApiDeps, type WarehousesDeps } from './context.js';
import { apiError, apiErrors, pageOf, readBody, readPage } from './http.js';
import { sourceView } from './sources.js';
import { tryConnect } from './warehouse-connect.js';

type Json = Record<string, unknown>;
type Deps = PublicApiDeps & { warehouses: WarehousesDeps };

/** A warehouse from either owner: the workspace file (held in memory) or the Public API (control.db). */
export type WarehouseEntry = Omit<StoredWarehouse, 'workspaceId'>;

/** File warehouses first; an API warehouse with the same id is shadowed (the file wins for what it names). */
export function allWarehouses(deps: Deps): WarehouseEntry[] {
  const file: WarehouseEntry[] = deps.warehouses.fileWarehouses().map((w) => ({
    id: w.id, name: w.id, type: w.type, enabled: w.enabled, sourceIds: [...w.sourceIds], settings: { ...w.settings },
    syncOverrides: w.syncOverrides, schedule: null, origin: 'file',
  }));
  const ids = new Set(file.map((w) => w.id));
  // No workspace yet: no API warehouse either (they live in one).
  return [...file, ...(snapshotOrNull(deps.store)?.warehouses ?? []).filter((w) => !ids.has(w.id))];
}

const MASK = '••••••••';
const URL_PASSWORD = /^(postgres(?:ql)?:\/\/[^:@/]*:)([^@]*)(@)/;
/** Secrets never come back: the password masked, a URL's password masked. */
function apiSettings(w: WarehouseEntry): Json {
  const out: Json = { name: w.name, ...w.settings };
  if (typeof out.password === 'string') out.password = MASK;
  if (typeof out.url === 'string') out.url = out.url.replace(URL_PASSWORD, `$1${MASK}$3`);
  return out;
}

export function warehouseMetadata(type: string) {
  const e: WarehouseCatalogEntry = WAREHOUSE_CATALOG.find((w) => w.type === type)
    ?? { id: type, slug: type, name: type, type: type as WarehouseType, description: '', options: [] };
  return { id: e.id, slug: e.slug, name: e.name, description: e.description, logos: { default: '' }, options: e.options };
}

/**
 * WarehouseV1, plus `name` at the top (the SDK's model keeps it in `settings.name`
 * only; the console reads either) and `origin` (`file`: declared in the workspace
 * file, whose writes answer 409; `api`: made through the API), as sources carry it.
 */
export function warehouseView(w: WarehouseEntry, workspaceId: string) {
  return { id: w.id, name: w.name, workspaceId, enabled: w.enabled, metadata: warehouseMetadata(w.type), settings: apiSettings(w), origin: w.origin };
}

/**
 * Warehouses as the workspace file declares them (`GET /api/v1/workspace/export`):
 * the file's and the API's, API settings turned into the file's `path`/`url`. Without
 * secrets, a URL's password is left out and named in `omitted`.
 */
export function exportWarehouses(deps: PublicApiDeps, slugOf: (id: string) => string, withSecrets: boolean, omitted: string[]) {
  if (!deps.warehouses) return [];
  return allWarehouses({ ...deps, warehouses: deps.warehouses }).map((w, i) => {
    const settings: Json = w.origin === 'file' ? { ...w.settings } : { ...loaderThreadSettings(w) };
    if (!withSecrets && typeof settings.url === 'string' && URL_PASSWORD.test(settings.url)) {
      settings.url = settings.url.replace(URL_PASSWORD, (_m, head: string) => `${head.slice(0, -1)}@`);
      omitted.push(`warehouses[${i}].settings.url (password)`);
    }
    return {
      id: w.id, type: w.type, enabled: w.enabled, sources: w.sourceIds.map(slugOf), settings,
      ...(w.syncOverrides.length ? {
        syncOverrides: w.syncOverrides.map(({ sourceId, ...o }) => ({ source: slugOf(sourceId), ...o })),
      } : {}),
    };
  });
}

const canRead = (p: Principal, w: WarehouseEntry) => canReadWorkspace(p) || w.sourceIds.some((s) => canReadSource(p, s));

/** `WarehousesApi`, `SelectiveSyncApi` and the warehouse half of `CatalogApi`. */
export function registerWarehousesApi(app: FastifyInstance, deps: Deps): void {
  const wd = deps.warehouses;
  type Req = FastifyRequest<{ Params: { warehouseId: string } }>;
  // A warehouse exists only in a workspace, so there is one whenever a view is made.
  const workspaceId = () => snapshotOrNull(deps.store)?.workspace.id ?? 'default';
  const byId = (id: string) => allWarehouses(deps).find((w) => w.id === id);
  /** The warehouse when the caller may read it (and change it, if asked); otherwise sends 404/403/409. */
  const find = (req: Req, reply: FastifyReply, write = false): WarehouseEntry | undefined => {
    const w = byId(req.params.warehouseId);
    const p = principalOf(req);
    if (!w || !canRead(p, w)) {
      apiError(reply, 404, 'not-found', `no warehouse ${req.params.warehouseId}`);
      return undefined;
    }
    if (write && !isOwner(p)) {
      forbidden(reply, `changes to warehouse ${w.id} (workspace owners only)`);
      return undefined;
    }
    if (write && w.origin === 'file') {
      apiError(reply, 409, 'conflict', `warehouse ${w.id} is defined in the workspace file; change it there (the file is the source of truth for what it defines)`);
      return undefined;
    }
    return w;
  };
  const view = (id: string) => warehouseView(byId(id)!, workspaceId());
  const settingsErrors = (reply: FastifyReply, errors: { field: string; message: string }[]) =>
    apiErrors(reply, 400, errors.map((e) => ({ type: 'validation', ...e })));
  /** Stored form: `name` lives in its own column; secrets are listed for encryption. */
  const split = (type: WarehouseType, settings: Json) => {
    const { name, ...rest } = settings;
    return { name: name as string | undefined, settings: rest, secretSettings: WAREHOUSE_SECRET_SETTINGS[type].filter((k) => rest[k] !== undefined) };
  };

  // Catalog.
  app.get('/catalog/warehouses', async (req, reply) => {
    const p = readPage(req, reply);
    if (!p) return reply;
    const page = pageOf(WAREHOUSE_CATALOG.map((w) => warehouseMetadata(w.type)), p);
    return { data: { warehousesCatalog: page.items, pagination: page.pagination } };
  });
  app.get<{ Params: { warehouseMetadataId: string } }>('/catalog/warehouses/:warehouseMetadataId', async (req, reply) => {
    const e = warehouseTypeFor(req.params.warehouseMetadataId);
    if (!e) return apiError(reply, 404, 'not-found', `no warehouse metadata ${req.params.warehouseMetadataId}; see GET /catalog/warehouses`);
    return { data: { warehouseMetadata: warehouseMetadata(e.type) } };
  });

  app.get('/warehouses', async (req, reply) => {
    const page = readPage(req, reply);
    if (!page) return reply;
    const p = principalOf(req);
    const out = pageOf(allWarehouses(deps).filter((w) => canRead(p, w)), page);
    return { data: { warehouses: out.items.map((w) => warehouseView(w, workspaceId())), pagination: out.pagination } };
  });

  app.post('/warehouses', async (req, reply) => {
    const body = readBody(req, reply, z.object({
      metadataId: z.string().min(1), name: z.string().min(1).max(200).optional(), enabled: z.boolean().optional(),
      settings: z.record(z.string(), z.unknown()),
    }));
    if (!body) return reply;
    if (!isOwner(principalOf(req))) return forbidden(reply, 'creating warehouses (workspace owners only)');
    const entry = warehouseTypeFor(body.metadataId);
    if (!entry) return apiError(reply, 400, 'validation', `unknown warehouse metadataId "${body.metadataId}"; one of ${WAREHOUSE_CATALOG.map((w) => w.id).join(', ')} (GET /catalog/warehouses)`, 'metadataId');
    const checked = checkWarehouseSettings(entry.type, body.settings);
    if (!checked.ok) return settingsErrors(reply, checked.errors);
    const s = split(entry.type, checked.value);
    await currentSnapshot(deps);
    const id = randomToken(22);
    const done = await attempt(reply, () => deps.store.admin.createWarehouse({
      id, name: body.name ?? s.name ?? entry.name, type: entry.type, enabled: body.enabled ?? true, settings: s.settings, secretSettings: s.secretSettings,
    }));
    if (!done) return reply;
    const after = view(id);
    await audit(req, deps, 'Storage Destination Created', { id, type: 'warehouse', name: String(after.settings.name) }, undefined, after);
    await wd.changed();
    return reply.code(201).send({ data: { warehouse: after } });
  });

  app.get<{ Params: { warehouseId: string } }>('/warehouses/:warehouseId', async (req, reply) => {
    const w = find(req, reply);
    return w ? { data: { warehouse: warehouseView(w, workspaceId()) } } : reply;
  });

  app.patch<{ Params: { warehouseId: string } }>('/warehouses/:warehouseId', async (req, reply) => {
    const w = find(req, reply, true);
    if (!w) return reply;
    const body = readBody(req, reply, z.object({
      name: z.string().min(1).max(200).nullable().optional(), enabled: z.boolean().optional(),
      settings: z.record(z.string(), z.unknown()).optional(),
    }));
    if (!body) return reply;
    let stored: ReturnType<typeof split> | undefined;
    if (body.settings) {
      // Absent keys and masked secrets keep what was stored; null removes a key.
      const merged: Json = { ...w.settings };
      for (const [k, v] of Object.entries(body.settings)) {
        if (typeof v === 'string' && v.includes(MASK)) continue;
        if (v === null) delete merged[k];
        else merged[k] = v;
      }
      const checked = checkWarehouseSettings(w.type, merged);
      if (!checked.ok) return settingsErrors(reply, checked.errors);
      stored = split(w.type, checked.value);
    }
    const name = body.name ?? stored?.name;
    const patch = {
      ...(name ? { name } : {}), ...(body.enabled === undefined ? {} : { enabled: body.enabled }),
      ...(stored ? { settings: stored.settings, secretSettings: stored.secretSettings } : {}),
    };
    if (!(await attempt(reply, () => deps.store.admin.updateWarehouse(w.id, patch)))) return reply;
    const after = view(w.id);
    await audit(req, deps, 'Storage Destination Modified', { id: w.id, type: 'warehouse', name: String(after.settings.name) }, warehouseView(w, workspaceId()), after);
    await wd.changed();
    return { data: { warehouse: after } };
  });

  app.delete<{ Params: { warehouseId: string } }>('/warehouses/:warehouseId', async (req, reply) => {
    const w = find(req, reply, true);
    if (!w) return reply;
    if (!(await attempt(reply, () => deps.store.admin.deleteWarehouse(w.id)))) return reply;
    await audit(req, deps, 'Storage Destination Deleted', { id: w.id, type: 'warehouse', name: w.name }, warehouseView(w, workspaceId()), undefined);
    await wd.changed();
    return { data: { status: 'SUCCESS' } };
  });

  // Connected sources.
  type SourceReq = FastifyRequest<{ Params: { warehouseId: string; sourceId: string } }>;
  const connectedSource = (req: SourceReq, reply: FastifyReply) => {
    const s = (snapshotOrNull(deps.store)?.sources ?? []).find((x) => x.id === req.params.sourceId);
    if (!s || !canReadSource(principalOf(req), s.id)) {
      apiError(reply, 404, 'not-found', `no source ${req.params.sourceId}`, 'sourceId');
      return undefined;
    }
    return s;
  };
  app.get<{ Params: { warehouseId: string } }>('/warehouses/:warehouseId/connected-sources', async (req, reply) => {
    const w = find(req, reply);
    if (!w) return reply;
    const page = readPage(req, reply);
    if (!page) return reply;
    const p = principalOf(req);
    const sources = (snapshotOrNull(deps.store)?.sources ?? []).filter((s) => w.sourceIds.includes(s.id) && canReadSource(p, s.id));
    const out = pageOf(sources, page);
    return { data: { sources: out.items.map(sourceView), pagination: out.pagination } };
  });
  app.post<{ Params: { warehouseId: string; sourceId: string } }>('/warehouses/:warehouseId/connected-sources/:sourceId', async (req, reply) => {
    const w = find(req, reply, true);
    if (!w) return reply;
    const s = connectedSource(req, reply);
    if (!s) return reply;
    const added = await attempt(reply, () => deps.store.admin.connectWarehouseSource(w.id, s.id));
    if (!added) return reply;
    await audit(req, deps, 'Storage Destination Modified', { id: w.id, type: 'warehouse', name: w.name }, { sourceIds: w.sourceIds }, { sourceIds: byId(w.id)!.sourceIds });
    // Answer once the loader reads the source: every event accepted from now on is loaded.
    await wd.changed();
    return reply.code(201).send({ data: { status: 'CONNECTED' } });
  });
  app.delete<{ Params: { warehouseId: string; sourceId: string } }>('/warehouses/:warehouseId/connected-sources/:sourceId', async (req, reply) => {
    const w = find(req, reply, true);
    if (!w) return reply;
    if (!(await attempt(reply, () => deps.store.admin.disconnectWarehouseSource(w.id, req.params.sourceId)))) return reply;
    await audit(req, deps, 'Storage Destination Modified', { id: w.id, type: 'warehouse', name: w.name }, { sourceIds: w.sourceIds }, { sourceIds: byId(w.id)!.sourceIds });
    await wd.changed();
    return { data: { status: 'SUCCESS' } };
  });

  // Validation: really connects (DuckDB opens the file, PostgreSQL logs in).
  const validation = async (type: WarehouseType, settings: Json) => {
    const r = await tryConnect(type, loaderThreadSettings({ type, settings, schedule: null }), wd.dataDir);
    return r.ok ? { status: 'CONNECTED' } : { status: 'FAILED', message: r.message };
  };
  app.post('/warehouses/validation', async (req, reply) => {
    const body = readBody(req, reply, z.object({ metadataId: z.string().min(1), settings: z.record(z.string(), z.unknown()) }));
    if (!body) return reply;
    const entry = warehouseTypeFor(body.metadataId);
    if (!entry) return apiError(reply, 400, 'validation', `unknown warehouse metadataId "${body.metadataId}"; see GET /catalog/warehouses`, 'metadataId');
    const checked = checkWarehouseSettings(entry.type, body.settings);
    if (!checked.ok) return settingsErrors(reply, checked.errors);
    return { data: await validation(entry.type, checked.value) };
  });
  // Segment's "Create Validation in Existing Warehouse": the stored settings, overridden by any given.
  app.post<{ Params: { warehouseId: string } }>('/warehouses/:warehouseId/validation', async (req, reply) => {
    const w = find(req, reply);
    if (!w) return reply;
    const raw = Buffer.isBuffer(req.body) && req.body.length > 0 ? readBody(req, reply, z.object({ settings: z.record(z.string(), z.unknown()).optional() })) : {};
    if (!raw) return reply;
    const merged: Json = { ...w.settings };
    for (const [k, v] of Object.entries(raw.settings ?? {})) if (!(typeof v === 'string' && v.includes(MASK))) merged[k] = v;
    if (w.origin === 'file') return { data: await validationOfFile(w, merged) };
    const checked = checkWarehouseSettings(w.type, merged);
    if (!checked.ok) return settingsErrors(reply, checked.errors);
    return { data: await validation(w.type, checked.value) };
  });
  const validationOfFile = async (w: WarehouseEntry, settings: Json) => {
    const r = await tryConnect(w.type, settings as { path?: string; url?: string }, wd.dataDir);
    return r.ok ? { status: 'CONNECTED' } : { status: 'FAILED', message: r.message };
  };
  app.get<{ Params: { warehouseId: string } }>('/warehouses/:warehouseId/connection-state', async (req, reply) => {
    const w = find(req, reply);
    if (!w) return reply;
    const r = await tryConnect(w.type, w.origin === 'file' ? w.settings : loaderThreadSettings(w), wd.dataDir);
    return { data: r.ok ? { connectionState: 'CONNECTED' } : { connectionState: 'FAILED', message: r.message } };
  });

  // Advanced sync schedule (SelectiveSyncApi).
  const scheduleView = (w: WarehouseEntry) => (w.schedule
    ? { enabled: w.schedule.enabled, schedule: { times: w.schedule.times, timezone: w.schedule.timezone } }
    : { enabled: false });
  app.get<{ Params: { warehouseId: string } }>('/warehouses/:warehouseId/advanced-sync-schedule', async (req, reply) => {
    const w = find(req, reply);
    return w ? { data: scheduleView(w) } : reply;
  });
  app.put<{ Params: { warehouseId: string } }>('/warehouses/:warehouseId/advanced-sync-schedule', async (req, reply) => {
    const w = find(req, reply, true);
    if (!w) return reply;
    const body = readBody(req, reply, scheduleInput);
    if (!body) return reply;
    const schedule = body.schedule
      ? { enabled: body.enabled, timezone: body.schedule.timezone, times: [...body.schedule.times].sort((a, b) => a.hourOfDay - b.hourOfDay) }
      : null;
    if (!(await attempt(reply, () => deps.store.admin.setWarehouseSchedule(w.id, schedule)))) return reply;
    const after = byId(w.id)!;
    await audit(req, deps, 'Storage Destination Modified', { id: w.id, type: 'warehouse', name: w.name }, scheduleView(w), scheduleView(after));
    await wd.changed();
    return { data: scheduleView(after) };
  });

  // Selective sync (SelectiveSyncApi): overrides replace those with the same source/collection/property.
  app.patch<{ Params: { warehouseId: string } }>('/warehouses/:warehouseId/selective-sync', async (req, reply) => {
    const w = find(req, reply, true);
    if (!w) return reply;
    const body = readBody(req, reply, z.object({
      syncOverrides: z.array(z.object({
        sourceId: z.string().min(1), collection: z.string().min(1).optional(), property: z.string().min(1).optional(), enabled: z.boolean(),
      })),
    }));
    if (!body) return reply;
    const errors = body.syncOverrides.flatMap((o, i) => [
      ...(w.sourceIds.includes(o.sourceId) ? [] : [{ field: `syncOverrides.${i}.sourceId`, message: `source ${o.sourceId} is not connected to warehouse ${w.id}` }]),
      ...(o.property && !o.collection ? [{ field: `syncOverrides.${i}.collection`, message: 'required with property' }] : []),
    ]);
    if (errors.length) return settingsErrors(reply, errors);
    const key = (o: WarehouseSyncOverride) => JSON.stringify([o.sourceId, o.collection ?? null, o.property ?? null]);
    const next = new Map(w.syncOverrides.map((o) => [key(o), o]));
    for (const o of body.syncOverrides) {
      next.set(key(o), { sourceId: o.sourceId, ...(o.collection ? { collection: o.collection } : {}), ...(o.property ? { property: o.property } : {}), enabled: o.enabled });
    }
    const overrides = [...next.values()];
    if (JSON.stringify(overrides) === JSON.stringify(w.syncOverrides)) return { data: { status: 'UNCHANGED', warnings: [] } };
    if (!(await attempt(reply, () => deps.store.admin.setWarehouseSyncOverrides(w.id, overrides)))) return reply;
    await audit(req, deps, 'Storage Destination Modified', { id: w.id, type: 'warehouse', name: w.name }, { syncOverrides: w.syncOverrides }, { syncOverrides: overrides });
    await wd.changed();
    return { data: { status: 'UPDATED', warnings: [] } };
  });

  // Sync history (SelectiveSyncApi reads). Pages over the latest 1,000 runs.
  const reports = (req: FastifyRequest, reply: FastifyReply, w: WarehouseEntry, sourceId?: string) => {
    const page = readPage(req, reply);
    if (!page) return reply;
    const out = pageOf(wd.history.list(w.id, { sourceId, limit: 1000 }).map(syncV1), page);
    return { data: { reports: out.items, pagination: out.pagination } };
  };
  app.get<{ Params: { warehouseId: string } }>('/warehouses/:warehouseId/syncs', async (req, reply) => {
    const w = find(req, reply);
    return w ? reports(req, reply, w) : reply;
  });
  app.get<{ Params: { warehouseId: string; sourceId: string } }>('/warehouses/:warehouseId/connected-sources/:sourceId/syncs', async (req, reply) => {
    const w = find(req, reply);
    return w ? reports(req, reply, w, req.params.sourceId) : reply;
  });
  app.get<{ Params: { warehouseId: string; sourceId: string } }>('/warehouses/:warehouseId/connected-sources/:sourceId/selective-syncs', async (req, reply) => {
    const w = find(req, reply);
    if (!w) return reply;
    const page = readPage(req, reply);
    if (!page) return reply;
    // The collections with an override, each with its property overrides (all else syncs).
    const items = new Map<string, { sourceId: string; collection: string; warehouseId: string; enabled: boolean; properties: Record<string, boolean> }>();
    for (const o of w.syncOverrides) {
      if (o.sourceId !== req.params.sourceId || !o.collection) continue;
      const item = items.get(o.collection) ?? { sourceId: o.sourceId, collection: o.collection, warehouseId: w.id, enabled: true, properties: {} };
      if (o.property) item.properties[o.property] = o.enabled;
      else item.enabled = o.enabled;
      items.set(o.collection, item);
    }
    const out = pageOf([...items.values()], page);
    return { data: { items: out.items, pagination: out.pagination } };
  });
}

/** Sync history row → the Public API's SyncV1. */
function syncV1(r: SyncRecord) {
  const seconds = Math.max(0, (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000);
  return {
    sourceId: r.sourceId,
    start: r.startedAt,
    end: r.finishedAt,
    status: r.status === 'success' ? 'SUCCESS' : 'FAILED',
    duration: seconds,
    humanDuration: seconds < 60 ? `${seconds.toFixed(1)}s` : `${Math.floor(seconds / 60)}m ${Math.round(seconds % 60)}s`,
    count: Object.values(r.rows).reduce((a, b) => a + b, 0),
    notices: r.error ? [{ level: 'error', message: r.error, createdAt: r.finishedAt }] : [],
  };
}
