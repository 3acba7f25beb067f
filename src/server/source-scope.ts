import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ControlPlaneStore } from '../store/types.js';
import { findDestination, findSource } from './lookup.js';
import { canReadSource, canReadWorkspace, canWriteSources, forbidden, isOwner, type Principal } from './public-api/access.js';
import { apiError } from './public-api/http.js';

/**
 * The operational routes (the console's figures, the source debugger, Event Delivery,
 * Delivery Overview, failure logs, the Event Tester, alerts, warehouse and lake syncs)
 * belong to the sources they show, as the Public API's resources do (access.ts): a
 * role scoped to some sources (by id or by label) reads only what belongs to them
 * (anything else is 404, as if it did not exist) and changes only what belongs to the
 * sources it administers (403). Workspace owners and Workspace Read-only (for reads)
 * see everything. One `preHandler` hook finds the sources of each route's resource;
 * the lists (destinations, alerts, notifications) filter with `mayRead`.
 */
export interface SourceScopeDeps {
  store: ControlPlaneStore;
  /** The warehouses and data lakes the loader runs, with their sources. */
  warehouses?: () => readonly { id: string; sources: readonly { id: string }[] }[];
  lakes?: () => readonly { id: string; sources: readonly { id: string }[] }[];
}

/** Whose sources a resource is: undefined when it does not exist (the route's handler answers 404). */
type Owners = readonly string[] | undefined;

interface Rule {
  /** What the route shows, for the 404's message. */
  what: string;
  sources(req: FastifyRequest, deps: SourceScopeDeps): Owners | Promise<Owners>;
  /** A write needs the Source Admin role on the sources (default) or a workspace owner. */
  owner?: boolean;
  /** A POST that only reads (a failure-log download link). */
  reads?: boolean;
}

const params = (req: FastifyRequest) => req.params as Record<string, string | undefined>;
const query = (req: FastifyRequest) => req.query as Record<string, unknown>;

/** The same lookups as the routes' handlers (by id), so a resource they find is always checked. */
function sourceOf(deps: { store: ControlPlaneStore }, id: string | undefined): Owners {
  const s = id === undefined ? undefined : findSource(deps.store, id);
  return s ? [s.id] : undefined;
}
function destinationOf(deps: { store: ControlPlaneStore }, id: string | undefined): Owners {
  return id === undefined ? undefined : findDestination(deps.store, id)?.sourceIds;
}
/** The sources an alert rule watches: its source, or its destination's (undefined: neither exists). */
export function alertTarget(deps: { store: ControlPlaneStore }, rule: Record<string, unknown>): Owners {
  if (typeof rule.sourceId === 'string') return sourceOf(deps, rule.sourceId);
  if (typeof rule.destinationId === 'string') return destinationOf(deps, rule.destinationId);
  return undefined;
}

const bySource: Rule = { what: 'source', sources: (req, deps) => sourceOf(deps, params(req).id) };
const byDestination: Rule = { what: 'destination', sources: (req, deps) => destinationOf(deps, params(req).id ?? params(req).destinationId) };
const byWarehouse: Rule = { what: 'warehouse', owner: true, sources: (req, deps) => deps.warehouses?.().find((w) => w.id === params(req).id)?.sources.map((s) => s.id) };
const byLake: Rule = { what: 'data lake', owner: true, sources: (req, deps) => deps.lakes?.().find((w) => w.id === params(req).id)?.sources.map((s) => s.id) };
const byAlert: Rule = {
  what: 'alert',
  async sources(req, deps) {
    const stored = await deps.store.getAlertRule(params(req).id ?? '');
    return stored ? alertTarget(deps, stored.rule) : undefined;
  },
};

const RULES: ReadonlyMap<string, Rule> = new Map([
  ['/api/v1/sources/:id/debugger', bySource],
  ['/api/v1/sources/:id/debugger/recent', bySource],
  ['/api/v1/sources/:id/ingest', bySource],
  ['/api/v1/destinations/:id/delivery', byDestination],
  ['/api/v1/destinations/:id/overview', byDestination],
  ['/api/v1/destinations/:id/log-collection', byDestination],
  ['/api/v1/destinations/:id/test', byDestination],
  ['/destinations/:id/delivery-metrics', byDestination],
  ['/destination/:destinationId/filters', byDestination],
  ['/destination/:destinationId/filters/:filterId', byDestination],
  ['/delivery-overview/:step', { what: 'source', sources: (req, deps) => sourceOf(deps, query(req).sourceId as string | undefined) }],
  ['/customer-insights/download', {
    what: 'failure log collection',
    reads: true,
    async sources(req, deps) {
      const c = await deps.store.failureLogCollectionById(String(query(req).collectionId ?? ''));
      return c ? destinationOf(deps, c.destinationId) : undefined;
    },
  }],
  ['/api/v1/warehouses/:id/syncs', byWarehouse],
  ['/api/v1/warehouses/:id/health', byWarehouse],
  ['/api/v1/warehouses/:id/sync', byWarehouse],
  ['/api/v1/data-lakes/:id/syncs', byLake],
  ['/api/v1/data-lakes/:id/health', byLake],
  ['/api/v1/data-lakes/:id/sync', byLake],
  ['/api/v1/alerts/:id', byAlert],
  ['/api/v1/alerts', {
    // Creating one: the rule in the body names what it watches.
    what: 'source or destination',
    sources(req, deps) {
      if (req.method !== 'POST') return undefined;
      try {
        const body = JSON.parse(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '') as unknown;
        return body && typeof body === 'object' ? alertTarget(deps, body as Record<string, unknown>) : undefined;
      } catch {
        return undefined; // the handler refuses the body
      }
    },
  }],
]);

/** Does `p` read the whole workspace (owners, Workspace Read-only; no principal: a route without access control)? */
export function readsWorkspace(p: Principal | undefined): boolean {
  return !p || isOwner(p) || canReadWorkspace(p);
}

/** May `p` read what belongs to these sources? (None: everyone who may read, as the Public API treats a destination with no source.) */
export function mayRead(p: Principal | undefined, sources: readonly string[]): boolean {
  if (!p || readsWorkspace(p)) return true;
  return sources.length === 0 || sources.some((s) => canReadSource(p, s));
}

/** May `p` change what belongs to these sources? */
export function mayWrite(p: Principal | undefined, sources: readonly string[]): boolean {
  return !p || isOwner(p) || canWriteSources(p, sources);
}

export function registerSourceScope(app: FastifyInstance, deps: SourceScopeDeps): void {
  // A callback hook, as access.ts's: requests with no rule (most, the analytics.js
  // settings included) pass without a promise or a microtask.
  app.addHook('preHandler', (req, reply, done) => {
    const p = req.principal;
    const rule = p && !isOwner(p) ? RULES.get(req.routeOptions.url ?? '') : undefined;
    if (!p || !rule) return done();
    Promise.resolve(rule.sources(req, deps)).then((sources) => {
      // An answer sent here ends the request: done() is not called then.
      if (sources === undefined) return done(); // no such resource: the handler says so
      if (!mayRead(p, sources)) return void apiError(reply, 404, 'not-found', `no such ${rule.what} among the sources your role covers`);
      const reads = rule.reads || req.method === 'GET' || req.method === 'HEAD';
      if (!reads && (rule.owner || !canWriteSources(p, sources))) {
        return void forbidden(reply, `changes to this ${rule.what}${rule.owner ? ' (workspace owners only)' : ''}`);
      }
      done();
    }, done);
  });
}
