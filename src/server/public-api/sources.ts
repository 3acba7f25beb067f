import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Source } from '../../store/types.js';
import { canReadSource, canWriteSources, forbidden, principalOf } from './access.js';
import { SOURCE_CATALOG, sourceMetadata } from './catalog.js';
import { attempt, audit, currentSnapshot, randomToken, type PublicApiDeps } from './context.js';
import { destinationView } from './destinations.js';
import { apiError, apiErrors, pageOf, readBody, readPage } from './http.js';
import { zodErrors } from '../../config/settings-check.js';
import { functionSettingsSchema } from '../../destinations/function/index.js';

const slug = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,99}$/, 'must be 1-100 lowercase letters, digits, "-" or "_", starting with a letter or digit');
const label = z.object({ key: z.string().min(1), value: z.string().min(1) });

export const sourceView = (s: Source) => ({
  id: s.id, slug: s.slug, name: s.name, workspaceId: s.workspaceId, enabled: s.enabled, writeKeys: s.writeKeys,
  metadata: sourceMetadata(s.metadataId), settings: s.settings, labels: s.labels,
});

/** Sources in the Public API's shapes (`SourcesApi`). */
export function registerSourcesApi(app: FastifyInstance, deps: PublicApiDeps): void {
  type Req = FastifyRequest<{ Params: { sourceId: string; writeKey?: string } }>;
  /** The source, when the caller may read it (and write it, if asked); otherwise sends 404/403. */
  const find = async (req: Req, reply: FastifyReply, write = false): Promise<Source | undefined> => {
    const s = (await currentSnapshot(deps)).sources.find((x) => x.id === req.params.sourceId);
    const p = principalOf(req);
    if (!s || !canReadSource(p, s.id)) {
      apiError(reply, 404, 'not-found', `no source ${req.params.sourceId}`);
      return undefined;
    }
    if (write && !canWriteSources(p, [s.id])) {
      forbidden(reply, `changes to source ${s.id}`);
      return undefined;
    }
    return s;
  };
  const reread = async (id: string) => (await currentSnapshot(deps)).sources.find((x) => x.id === id)!;
  const changed = () => deps.onChange();

  app.get('/sources', async (req, reply) => {
    const page = readPage(req, reply);
    if (!page) return reply;
    const p = principalOf(req);
    const visible = (await currentSnapshot(deps)).sources.filter((s) => canReadSource(p, s.id));
    const out = pageOf(visible, page);
    return { data: { sources: out.items.map(sourceView), pagination: out.pagination } };
  });

  app.post('/sources', async (req, reply) => {
    const body = readBody(req, reply, z.object({
      slug, enabled: z.boolean(), metadataId: z.string().min(1),
      settings: z.record(z.string(), z.unknown()).optional(), name: z.string().min(1).max(200).optional(),
      labels: z.array(label).optional(),
    }));
    if (!body) return reply;
    if (!canWriteSources(principalOf(req), [])) return forbidden(reply, 'creating sources');
    // A source function's instance: the function's catalogId as metadataId, its settings checked against the function's.
    const fn = (await currentSnapshot(deps)).functions.find((f) => f.id === body.metadataId && f.kind === 'SOURCE');
    if (!fn && !SOURCE_CATALOG.some((s) => s.id === body.metadataId)) {
      return apiError(reply, 400, 'validation', `unknown source metadataId "${body.metadataId}"; see GET /catalog/sources, or a source function's catalogId`, 'metadataId');
    }
    if (fn) {
      const checked = functionSettingsSchema((fn.deployed ?? fn.latest).settings).safeParse(body.settings ?? {});
      if (!checked.success) {
        return apiErrors(reply, 400, zodErrors(checked.error.issues, ['settings']).map((e) => ({ type: 'validation', message: e.message, field: e.path })));
      }
    }
    const id = randomToken(22);
    const done = await attempt(reply, () => deps.store.admin.createSource({
      id, slug: body.slug, name: body.name ?? body.slug, enabled: body.enabled, metadataId: body.metadataId,
      settings: body.settings ?? {}, writeKey: randomToken(32), labels: body.labels ?? [],
    }));
    if (done === undefined) return reply;
    const source = (await reread(id));
    await audit(req, deps, 'Source Created', { id, type: 'source', name: source.name }, undefined, sourceView(source));
    changed();
    return { data: { source: sourceView(source) } };
  });

  app.get<{ Params: { sourceId: string } }>('/sources/:sourceId', async (req, reply) => {
    const s = await find(req, reply);
    return s ? { data: { source: sourceView(s) } } : reply;
  });

  app.patch<{ Params: { sourceId: string } }>('/sources/:sourceId', async (req, reply) => {
    const s = await find(req, reply, true);
    if (!s) return reply;
    const body = readBody(req, reply, z.object({
      name: z.string().min(1).max(200).optional(), enabled: z.boolean().optional(), slug: slug.optional(),
      settings: z.record(z.string(), z.unknown()).optional(),
    }));
    if (!body) return reply;
    if (await attempt(reply, () => deps.store.admin.updateSource(s.id, body)) === undefined) return reply;
    const after = (await reread(s.id));
    await audit(req, deps, 'Source Modified', { id: s.id, type: 'source', name: after.name }, sourceView(s), sourceView(after));
    changed();
    return { data: { source: sourceView(after) } };
  });

  app.delete<{ Params: { sourceId: string } }>('/sources/:sourceId', async (req, reply) => {
    const s = await find(req, reply, true);
    if (!s) return reply;
    if (await attempt(reply, () => deps.store.admin.deleteSource(s.id)) === undefined) return reply;
    await audit(req, deps, 'Source Deleted', { id: s.id, type: 'source', name: s.name }, sourceView(s), undefined);
    changed();
    return { data: { status: 'SUCCESS' } };
  });

  app.post<{ Params: { sourceId: string } }>('/sources/:sourceId/writekey', async (req, reply) => {
    const s = await find(req, reply, true);
    if (!s) return reply;
    if (await attempt(reply, () => deps.store.admin.addWriteKey(s.id, randomToken(32))) === undefined) return reply;
    const after = (await reread(s.id));
    await audit(req, deps, 'Write Key Created', { id: s.id, type: 'source', name: s.name });
    changed();
    return { data: { source: sourceView(after) } };
  });

  app.delete<{ Params: { sourceId: string; writeKey: string } }>('/sources/:sourceId/writekey/:writeKey', async (req, reply) => {
    const s = await find(req, reply, true);
    if (!s) return reply;
    if (await attempt(reply, () => deps.store.admin.removeWriteKey(s.id, req.params.writeKey)) === undefined) return reply;
    await audit(req, deps, 'Write Key Removed', { id: s.id, type: 'source', name: s.name });
    changed();
    return { data: { source: sourceView((await reread(s.id))) } };
  });

  const setLabels = (mode: 'add' | 'replace') => async (req: Req, reply: FastifyReply) => {
    const s = await find(req, reply, true);
    if (!s) return reply;
    const body = readBody(req, reply, z.object({ labels: z.array(label) }));
    if (!body) return reply;
    const merged = mode === 'replace' ? body.labels
      : [...s.labels, ...body.labels.filter((l) => !s.labels.some((x) => x.key === l.key && x.value === l.value))];
    if (await attempt(reply, () => deps.store.admin.updateSource(s.id, { labels: merged })) === undefined) return reply;
    await audit(req, deps, 'Source Labels Modified', { id: s.id, type: 'source', name: s.name }, s.labels, merged);
    return { data: { labels: (await reread(s.id)).labels } };
  };
  app.post('/sources/:sourceId/labels', setLabels('add'));
  app.put('/sources/:sourceId/labels', setLabels('replace'));

  app.get<{ Params: { sourceId: string } }>('/sources/:sourceId/connected-destinations', async (req, reply) => {
    const s = await find(req, reply);
    if (!s) return reply;
    const page = readPage(req, reply);
    if (!page) return reply;
    const out = pageOf((await currentSnapshot(deps)).destinations.filter((d) => d.sourceIds.includes(s.id)), page);
    return { data: { destinations: out.items.map((d) => destinationView(deps, d)), pagination: out.pagination } };
  });

  app.get<{ Params: { sourceId: string } }>('/sources/:sourceId/connected-warehouses', async (req, reply) => {
    const s = await find(req, reply);
    if (!s) return reply;
    const page = readPage(req, reply);
    if (!page) return reply;
    const out = pageOf(deps.warehousesOfSource?.(s.id) ?? [], page);
    return {
      data: {
        warehouses: out.items.map((w) => ({ id: w.id, workspaceId: s.workspaceId, enabled: w.enabled, metadata: { id: w.type, slug: w.type, name: w.type }, settings: {} })),
        pagination: out.pagination,
      },
    };
  });
}
