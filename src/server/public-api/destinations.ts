import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { checkDestinationSettings } from '../../config/settings-check.js';
import { validateFilter, type DestinationFilter } from '../../core/filters.js';
import { CONNECTION_MODE_KEY } from '../../core/route.js';
import { functionIdOfType, functionType } from '../../functions/types.js';
import type { DestinationInstance } from '../../store/types.js';
import { canReadSource, canWriteSources, forbidden, principalOf } from './access.js';
import { destinationMetadata, destinationTypeFor } from './catalog.js';
import { attempt, audit, currentSnapshot, randomToken, type PublicApiDeps } from './context.js';
import { apiError, apiErrors, pageOf, readBody, readPage } from './http.js';

type Json = Record<string, unknown>;
const MASK = '••••••••';
/** Secrets are never returned in full: the last 4 characters of long values, nothing of short ones. */
const mask = (v: unknown) => (typeof v === 'string' && v.length >= 12 ? `${MASK}${v.slice(-4)}` : MASK);
const isMasked = (v: unknown) => typeof v === 'string' && v.startsWith(MASK);
const RESERVED = CONNECTION_MODE_KEY;
const isActions = (type: string) => type.startsWith('actions-');

/** The destination's settings as the API shows them (flat, secrets masked). */
function apiSettings(deps: PublicApiDeps, d: DestinationInstance): Json {
  const { [RESERVED]: _mode, ...stored } = d.settings as Json;
  if (isActions(d.type)) {
    const secrets = (stored.secrets ?? {}) as Json;
    return { ...((stored.settings ?? {}) as Json), ...Object.fromEntries(Object.keys(secrets).map((k) => [k, mask(secrets[k])])) };
  }
  const secretKeys = deps.types.get(d.type)?.secretSettings ?? [];
  return Object.fromEntries(Object.entries(stored).map(([k, v]) => [k, secretKeys.includes(k) && v !== undefined ? mask(v) : v]));
}

/** Plaintext flat settings (for merging an update). */
function plainSettings(d: DestinationInstance): Json {
  const { [RESERVED]: _mode, ...stored } = d.settings as Json;
  return isActions(d.type) ? { ...((stored.settings ?? {}) as Json), ...((stored.secrets ?? {}) as Json) } : stored;
}

/** Flat API settings → what the store holds for the type (Actions: `{settings, subscriptions, oauth}`). */
function storedForm(type: string, flat: Json, current?: DestinationInstance): Json {
  const cur = (current?.settings ?? {}) as Json;
  const keep = cur[RESERVED] === undefined ? {} : { [RESERVED]: cur[RESERVED] };
  if (!isActions(type)) return { ...flat, ...keep };
  return {
    settings: flat,
    ...(cur.subscriptions ? { subscriptions: cur.subscriptions } : {}),
    ...(cur.oauth ? { oauth: cur.oauth } : {}),
    ...keep,
  };
}

/** A destination function's metadata names the function (its id is the function's catalogId). */
function metadataOf(deps: PublicApiDeps, type: string) {
  const functionId = functionIdOfType(type);
  const meta = destinationMetadata(type);
  return functionId === undefined ? meta : { ...meta, id: functionId, name: deps.types.get(type)?.name ?? functionId, description: 'A destination function' };
}

export function destinationView(deps: PublicApiDeps, d: DestinationInstance) {
  return {
    id: d.id, name: d.name, enabled: d.enabled, metadata: metadataOf(deps, d.type), sourceId: d.sourceIds[0] ?? '',
    sourceIds: d.sourceIds, settings: apiSettings(deps, d),
  };
}

interface Subscription { id?: string; name?: string; partnerAction: string; subscribe: string; mapping: Json; enabled: boolean }
const subscriptionsOf = (d: DestinationInstance): Subscription[] => ((d.settings as Json).subscriptions ?? []) as Subscription[];
const subscriptionView = (d: DestinationInstance, s: Subscription, i: number) => ({
  id: s.id ?? String(i), name: s.name ?? s.partnerAction, actionId: s.partnerAction, actionSlug: s.partnerAction,
  destinationId: d.id, enabled: s.enabled, settings: s.mapping, trigger: s.subscribe,
});

/** Destinations (`DestinationsApi`) and writes to destination filters (`DestinationFiltersApi`). */
export function registerDestinationsApi(app: FastifyInstance, deps: PublicApiDeps): void {
  type Req = FastifyRequest<{ Params: { destinationId: string } }>;
  const find = async (req: Req, reply: FastifyReply, write = false): Promise<DestinationInstance | undefined> => {
    const d = (await currentSnapshot(deps)).destinations.find((x) => x.id === req.params.destinationId);
    const p = principalOf(req);
    if (!d || !d.sourceIds.some((s) => canReadSource(p, s)) && d.sourceIds.length > 0) {
      apiError(reply, 404, 'not-found', `no destination ${req.params.destinationId}`);
      return undefined;
    }
    if (write && !canWriteSources(p, d.sourceIds)) {
      forbidden(reply, `changes to destination ${d.id}`);
      return undefined;
    }
    return d;
  };
  const reread = async (id: string) => (await currentSnapshot(deps)).destinations.find((x) => x.id === id)!;
  /** Validates stored-form settings; sends 400 naming each field and returns undefined when invalid. */
  const validate = (reply: FastifyReply, type: string, stored: Json) => {
    const checked = checkDestinationSettings(deps.types, type, stored, isActions(type) ? [] : ['settings'], 'metadataId');
    if (checked.ok) return checked.value;
    apiErrors(reply, 400, checked.error.map((e) => ({ type: 'validation', message: e.message, field: e.path })));
    return undefined;
  };

  app.get('/destinations', async (req, reply) => {
    const page = readPage(req, reply);
    if (!page) return reply;
    const p = principalOf(req);
    const visible = (await currentSnapshot(deps)).destinations.filter((d) => d.sourceIds.some((s) => canReadSource(p, s)));
    const out = pageOf(visible, page);
    return { data: { destinations: out.items.map((d) => destinationView(deps, d)), pagination: out.pagination } };
  });

  app.post('/destinations', async (req, reply) => {
    const body = readBody(req, reply, z.object({
      sourceId: z.string().min(1), metadataId: z.string().min(1), enabled: z.boolean().optional(),
      name: z.string().min(1).max(200).optional(), settings: z.record(z.string(), z.unknown()),
    }));
    if (!body) return reply;
    const snap = (await currentSnapshot(deps));
    if (!snap.sources.some((s) => s.id === body.sourceId && canReadSource(principalOf(req), s.id))) {
      return apiError(reply, 404, 'not-found', `no source ${body.sourceId}`, 'sourceId');
    }
    if (!canWriteSources(principalOf(req), [body.sourceId])) return forbidden(reply, `adding destinations to source ${body.sourceId}`);
    // A destination function's instance: its catalogId (the function id) as metadataId.
    const fn = snap.functions.find((f) => f.id === body.metadataId && f.kind === 'DESTINATION');
    const entry = fn ? { type: functionType(fn.id), name: fn.displayName } : destinationTypeFor(body.metadataId);
    if (!entry) return apiError(reply, 400, 'validation', `unknown destination metadataId "${body.metadataId}"; see GET /catalog/destinations`, 'metadataId');
    const checked = validate(reply, entry.type, storedForm(entry.type, body.settings));
    if (!checked) return reply;
    const id = randomToken(22);
    const done = await attempt(reply, () => deps.store.admin.createDestination({
      id, name: body.name ?? entry.name, type: entry.type, enabled: body.enabled ?? true, sourceIds: [body.sourceId], ...checked,
    }));
    if (done === undefined) return reply;
    const view = destinationView(deps, (await reread(id)));
    await audit(req, deps, 'Destination Created', { id, type: 'destination', name: view.name }, undefined, view);
    deps.onChange();
    return { data: { destination: view } };
  });

  app.get<{ Params: { destinationId: string } }>('/destinations/:destinationId', async (req, reply) => {
    const d = await find(req, reply);
    return d ? { data: { destination: destinationView(deps, d) } } : reply;
  });

  app.patch<{ Params: { destinationId: string } }>('/destinations/:destinationId', async (req, reply) => {
    const d = await find(req, reply, true);
    if (!d) return reply;
    const body = readBody(req, reply, z.object({
      name: z.string().min(1).max(200).nullable().optional(), enabled: z.boolean().optional(),
      settings: z.record(z.string(), z.unknown()).optional(),
    }));
    if (!body) return reply;
    let settings: { settings: Json; secretSettings: string[] } | undefined;
    if (body.settings) {
      // Absent keys and masked secrets keep their stored values.
      const merged = { ...plainSettings(d) };
      for (const [k, v] of Object.entries(body.settings)) if (!isMasked(v)) merged[k] = v;
      settings = validate(reply, d.type, storedForm(d.type, merged, d));
      if (!settings) return reply;
    }
    const patch = { ...(body.name ? { name: body.name } : {}), ...(body.enabled === undefined ? {} : { enabled: body.enabled }), ...(settings ?? {}) };
    if (await attempt(reply, () => deps.store.admin.updateDestination(d.id, patch)) === undefined) return reply;
    const after = destinationView(deps, (await reread(d.id)));
    await audit(req, deps, 'Destination Modified', { id: d.id, type: 'destination', name: after.name }, destinationView(deps, d), after);
    deps.onChange();
    return { data: { destination: after } };
  });

  app.delete<{ Params: { destinationId: string } }>('/destinations/:destinationId', async (req, reply) => {
    const d = await find(req, reply, true);
    if (!d) return reply;
    if (await attempt(reply, () => deps.store.admin.deleteDestination(d.id)) === undefined) return reply;
    await audit(req, deps, 'Destination Deleted', { id: d.id, type: 'destination', name: d.name }, destinationView(deps, d), undefined);
    deps.onChange();
    return { data: { status: 'SUCCESS' } };
  });

  // Subscriptions of Actions destinations (mapping-kit mappings with an FQL trigger).
  const saveSubscriptions = async (req: Req, reply: FastifyReply, d: DestinationInstance, subs: Subscription[], what: string) => {
    const stored = { ...(d.settings as Json), subscriptions: subs };
    const checked = validate(reply, d.type, stored);
    if (!checked) return false;
    if (await attempt(reply, () => deps.store.admin.updateDestination(d.id, checked)) === undefined) return false;
    await audit(req, deps, what, { id: d.id, type: 'destination', name: d.name }, subscriptionsOf(d), subs);
    deps.onChange();
    return true;
  };
  const notActions = (reply: FastifyReply, d: DestinationInstance) =>
    apiError(reply, 400, 'validation', `destination ${d.id} is not an Actions destination; it has no subscriptions`);

  app.get<{ Params: { destinationId: string } }>('/destinations/:destinationId/subscriptions', async (req, reply) => {
    const d = await find(req, reply);
    if (!d) return reply;
    const subs = subscriptionsOf(d).map((s, i) => subscriptionView(d, s, i));
    return { data: { subscriptions: subs, pagination: { current: 'MA==', next: null, previous: null, totalEntries: subs.length } } };
  });

  const subscriptionInput = z.object({
    name: z.string().min(1), actionId: z.string().min(1), trigger: z.string().min(1), enabled: z.boolean(),
    settings: z.record(z.string(), z.unknown()).optional(),
  });
  app.post<{ Params: { destinationId: string } }>('/destinations/:destinationId/subscriptions', async (req, reply) => {
    const d = await find(req, reply, true);
    if (!d) return reply;
    if (!isActions(d.type)) return notActions(reply, d);
    const body = readBody(req, reply, subscriptionInput);
    if (!body) return reply;
    const sub: Subscription = { id: randomToken(16), name: body.name, partnerAction: body.actionId, subscribe: body.trigger, mapping: body.settings ?? {}, enabled: body.enabled };
    const subs = [...subscriptionsOf(d), sub];
    if (!(await saveSubscriptions(req, reply, d, subs, 'Subscription Created'))) return reply;
    return { data: { subscription: subscriptionView(d, sub, subs.length - 1) } };
  });

  app.patch<{ Params: { destinationId: string; id: string } }>('/destinations/:destinationId/subscriptions/:id', async (req, reply) => {
    const d = await find(req, reply, true);
    if (!d) return reply;
    const subs = subscriptionsOf(d);
    const i = subs.findIndex((s, k) => (s.id ?? String(k)) === req.params.id);
    if (i < 0) return apiError(reply, 404, 'not-found', `no subscription ${req.params.id} on destination ${d.id}`);
    const body = readBody(req, reply, z.object({ input: subscriptionInput.partial() }));
    if (!body) return reply;
    const cur = subs[i]!;
    const next: Subscription = {
      ...cur, id: cur.id ?? randomToken(16), name: body.input.name ?? cur.name, partnerAction: body.input.actionId ?? cur.partnerAction,
      subscribe: body.input.trigger ?? cur.subscribe, mapping: body.input.settings ?? cur.mapping, enabled: body.input.enabled ?? cur.enabled,
    };
    const all = subs.map((s, k) => (k === i ? next : s));
    if (!(await saveSubscriptions(req, reply, d, all, 'Subscription Modified'))) return reply;
    return { data: { subscription: subscriptionView(d, next, i) } };
  });

  app.delete<{ Params: { destinationId: string; id: string } }>('/destinations/:destinationId/subscriptions/:id', async (req, reply) => {
    const d = await find(req, reply, true);
    if (!d) return reply;
    const subs = subscriptionsOf(d);
    const kept = subs.filter((s, k) => (s.id ?? String(k)) !== req.params.id);
    if (kept.length === subs.length) return apiError(reply, 404, 'not-found', `no subscription ${req.params.id} on destination ${d.id}`);
    if (!(await saveSubscriptions(req, reply, d, kept, 'Subscription Deleted'))) return reply;
    return { data: { status: 'SUCCESS' } };
  });

  // Filter writes. Reads and the preview live in ../filters-api.ts.
  const filterInput = z.object({
    sourceId: z.string().optional(), if: z.string(), actions: z.array(z.unknown()), title: z.string(),
    description: z.string().optional(), enabled: z.boolean(),
  });
  const saveFilters = async (req: Req, reply: FastifyReply, d: DestinationInstance, filters: DestinationFilter[], what: string, f: DestinationFilter) => {
    if (await attempt(reply, () => deps.store.admin.setDestinationFilters(d.id, filters)) === undefined) return false;
    await audit(req, deps, what, { id: f.id, type: 'destination-filter', name: f.title }, d.filters.find((x) => x.id === f.id), filters.find((x) => x.id === f.id));
    deps.onChange();
    return true;
  };
  const checkFilter = (reply: FastifyReply, raw: unknown) => {
    const checked = validateFilter(raw, 'filter');
    if (checked.ok) return checked.value;
    apiErrors(reply, 400, checked.error.map((e) => ({ type: 'validation', message: e.message, field: e.field.replace(/^filter\./, '') })));
    return undefined;
  };
  const filterView = (f: DestinationFilter) => ({ ...f, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString() });

  app.post<{ Params: { destinationId: string } }>('/destination/:destinationId/filters', async (req, reply) => {
    const d = await find(req, reply, true);
    if (!d) return reply;
    const body = readBody(req, reply, filterInput);
    if (!body) return reply;
    const f = checkFilter(reply, { ...body, id: randomToken(22), destinationId: d.id, sourceId: body.sourceId ?? d.sourceIds[0] ?? '' });
    if (!f) return reply;
    if (d.filters.length >= 10) return apiError(reply, 400, 'validation', 'at most 10 filters per destination instance', 'filters');
    const filters = [...d.filters.map(({ savedAt: _s, ...x }) => x), f];
    if (!(await saveFilters(req, reply, d, filters, 'Destination Filter Created', f))) return reply;
    return { data: { filter: filterView(f) } };
  });

  app.patch<{ Params: { destinationId: string; filterId: string } }>('/destination/:destinationId/filters/:filterId', async (req, reply) => {
    const d = await find(req, reply, true);
    if (!d) return reply;
    const cur = d.filters.find((x) => x.id === req.params.filterId);
    if (!cur) return apiError(reply, 404, 'not-found', `no filter ${req.params.filterId} on destination ${d.id}`);
    const body = readBody(req, reply, filterInput.partial());
    if (!body) return reply;
    const { savedAt: _s, ...base } = cur;
    const f = checkFilter(reply, { ...base, ...body });
    if (!f) return reply;
    const filters = d.filters.map(({ savedAt: _x, ...x }) => (x.id === f.id ? f : x));
    if (!(await saveFilters(req, reply, d, filters, 'Destination Filter Modified', f))) return reply;
    return { data: { filter: filterView(f) } };
  });

  app.delete<{ Params: { destinationId: string; filterId: string } }>('/destination/:destinationId/filters/:filterId', async (req, reply) => {
    const d = await find(req, reply, true);
    if (!d) return reply;
    const cur = d.filters.find((x) => x.id === req.params.filterId);
    if (!cur) return apiError(reply, 404, 'not-found', `no filter ${req.params.filterId} on destination ${d.id}`);
    const filters = d.filters.filter((x) => x.id !== cur.id).map(({ savedAt: _x, ...x }) => x);
    if (!(await saveFilters(req, reply, d, filters, 'Destination Filter Deleted', cur))) return reply;
    return { data: {} };
  });
}
