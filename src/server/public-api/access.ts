import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IamStore, Permission, PermissionResource } from '../../store/iam.js';
import { apiError } from './http.js';

/**
 * Who is calling and what they may do.
 *
 * Roles follow Segment's workspace roles. A permission is a role plus the
 * resources it covers: `WORKSPACE` (every source) or one `SOURCE`; a WORKSPACE
 * resource of a source role with labels covers the sources carrying them, resolved
 * per request (`byLabels`), so a source labelled later is covered at once. Destinations,
 * filters and the Event Tester belong to the sources they are connected to, so a
 * Source Admin scoped to a source manages its destinations; read-only roles can
 * look but not save (the seeds say so for filters and the Event Tester).
 */
export const ROLES = [
  { id: 'workspace-owner', name: 'Workspace Owner', description: 'Reads and edits everything in the workspace, including users, tokens and the audit trail.' },
  { id: 'workspace-read-only', name: 'Workspace Read-only', description: 'Reads everything in the workspace; saves nothing.' },
  { id: 'source-admin', name: 'Source Admin', description: 'Reads and edits the sources it is scoped to, their destinations, filters and Event Tester.' },
  { id: 'source-read-only', name: 'Source Read-only', description: 'Reads the sources it is scoped to and their destinations; saves nothing.' },
  { id: 'functions-admin', name: 'Functions Admin', description: 'Creates, edits and deploys functions.' },
  { id: 'functions-read-only', name: 'Functions Read-only', description: 'Reads functions and their settings.' },
] as const;
export type RoleId = (typeof ROLES)[number]['id'];
export const ROLE_IDS: readonly string[] = ROLES.map((r) => r.id);

export interface Principal {
  /** `open`: no user, token or admin token exists yet (first run): everything is allowed. */
  kind: 'admin-token' | 'token' | 'user' | 'open';
  id: string;
  name: string;
  email?: string;
  permissions: Permission[];
}

const OWNER: Permission[] = [{ roleId: 'workspace-owner', resources: [{ type: 'WORKSPACE', id: 'workspace' }] }];

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** Set by a handler that recorded its own audit entry (with before/after). */
    audited?: boolean;
  }
}

const has = (p: Principal, roles: readonly string[]) => p.permissions.filter((x) => roles.includes(x.roleId));
const covers = (perm: Permission, sourceId: string) =>
  perm.resources.some((r) => r.type === 'WORKSPACE' || (r.type === 'SOURCE' && r.id === sourceId));

export const isOwner = (p: Principal) => has(p, ['workspace-owner']).length > 0;

/** May read this source (and what hangs off it)? */
export function canReadSource(p: Principal, sourceId: string): boolean {
  return isOwner(p) || has(p, ['workspace-read-only']).length > 0 ||
    has(p, ['source-admin', 'source-read-only']).some((perm) => covers(perm, sourceId));
}

/** May change these sources (all of them), or with no id, create a source? */
export function canWriteSources(p: Principal, sourceIds: readonly string[]): boolean {
  if (isOwner(p)) return true;
  const admin = has(p, ['source-admin']);
  if (sourceIds.length === 0) return admin.some((perm) => perm.resources.some((r) => r.type === 'WORKSPACE'));
  return sourceIds.every((id) => admin.some((perm) => covers(perm, id)));
}

/** Workspace-wide reads (audit trail excluded: owners only). */
export const canReadWorkspace = (p: Principal) => isOwner(p) || has(p, ['workspace-read-only']).length > 0;
/** Functions (Segment: Workspace Owner or Functions Admin edit them; the read-only roles read them). */
export const canReadFunctions = (p: Principal) => canReadWorkspace(p) || has(p, ['functions-admin', 'functions-read-only']).length > 0;
export const canWriteFunctions = (p: Principal) => isOwner(p) || has(p, ['functions-admin']).length > 0;
const canWriteAnything = (p: Principal) => isOwner(p) || has(p, ['source-admin', 'functions-admin']).length > 0;

export function forbidden(reply: FastifyReply, what: string): FastifyReply {
  return apiError(reply, 403, 'forbidden', `your role does not allow ${what}`);
}

const PUBLIC_PREFIXES = ['/v1/', '/analytics.js/', '/analytics-next/', '/auth/', '/assets/', '/customer-insights/files'];
// `/fn`: source functions' webhooks, authenticated by their token (like the Tracking API by write key).
const PUBLIC_PATHS = new Set(['/health', '/ready', '/favicon.ico', '/fn']);

export const SESSION_COOKIE = 'sy_session';

export function sessionIdFrom(req: FastifyRequest): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

export interface AccessDeps {
  iam: IamStore;
  /** SWITCHYARD_ADMIN_TOKEN: an owner token from the environment, for automation and recovery. */
  adminToken?: string;
  /** Records generic audit entries for writes a handler did not audit itself. */
  onWrite?: (req: FastifyRequest, status: number) => Promise<void> | void;
  /** Every source's labels: read only for a principal with a label-scoped permission. */
  sourceLabels?: () => Promise<readonly { id: string; labels: readonly { key: string; value: string }[] }[]>;
}

/**
 * Permissions with their label-scoped WORKSPACE resources replaced by the sources they
 * cover: a source carrying, for every label key the resource names, one of the values
 * it names (keys AND, values of one key OR: `environment:prod` and `team:growth` cover
 * the growth team's production sources). Without labels, permissions are returned as they are.
 */
export async function byLabels(permissions: Permission[], sourceLabels: AccessDeps['sourceLabels']): Promise<Permission[]> {
  if (!permissions.some((p) => p.resources.some((r) => r.labels && r.labels.length > 0))) return permissions;
  const sources = sourceLabels ? await sourceLabels() : [];
  return permissions.map((p) => ({
    roleId: p.roleId,
    resources: p.resources.flatMap((r): PermissionResource[] => {
      if (!r.labels || r.labels.length === 0) return [r];
      const wanted = new Map<string, Set<string>>();
      for (const l of r.labels) wanted.set(l.key, (wanted.get(l.key) ?? new Set()).add(l.value));
      return sources
        .filter((s) => [...wanted].every(([key, values]) => s.labels.some((l) => l.key === key && values.has(l.value))))
        .map((s) => ({ type: 'SOURCE', id: s.id }));
    }),
  }));
}

/**
 * Resolves the caller of every non-public request: `Authorization: Bearer` (the
 * admin token or an API token) or the console's session cookie, whose writes must
 * carry the session's `x-csrf-token`. Until a user or token exists (first run) and
 * with no admin token configured, the API is open, as a fresh install must be
 * reachable to create its owner; the README says so. Writes need a role that can
 * write; each handler then checks the resources it touches.
 */
export function registerAccess(app: FastifyInstance, deps: AccessDeps): void {
  // Callback hooks, not async ones: every Tracking API request passes here, and the
  // public paths answer without a promise or a microtask.
  app.addHook('onRequest', (req, reply, done) => {
    const url = req.url;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (PUBLIC_PATHS.has(path) || PUBLIC_PREFIXES.some((p) => path.startsWith(p))) return done();
    // The console's page itself (GET / asking for HTML) is public; the workspace JSON at GET / is not.
    if (path === '/' && req.method === 'GET' && (req.headers.accept ?? '').includes('text/html')) return done();
    resolve(req).then((principal) => {
      // An answer sent here ends the request: done() is not called then.
      if (principal === 'bad-token') return void apiError(reply, 401, 'unauthorized', 'the Bearer token is not valid (unknown or revoked)');
      if (principal === 'csrf') return void apiError(reply, 403, 'forbidden', 'missing or wrong x-csrf-token header for a cookie-authenticated write');
      if (!principal) return void apiError(reply, 401, 'unauthorized', 'sign in or send a valid Bearer token (Authorization: Bearer <token>)');
      req.principal = principal;
      if (req.method !== 'GET' && req.method !== 'HEAD' && !canWriteAnything(principal)) return void forbidden(reply, 'changes (read-only role)');
      done();
    }, done);
  });

  if (deps.onWrite) {
    const onWrite = deps.onWrite;
    app.addHook('onResponse', (req, reply, done) => {
      if (!req.principal || req.audited || req.method === 'GET' || req.method === 'HEAD') return done();
      if (reply.statusCode < 200 || reply.statusCode >= 300) return done();
      Promise.resolve(onWrite(req, reply.statusCode)).then(() => done(), done);
    });
  }

  async function resolve(req: FastifyRequest): Promise<Principal | 'bad-token' | 'csrf' | undefined> {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) {
      const value = auth.slice(7).trim();
      if (deps.adminToken && value === deps.adminToken) return { kind: 'admin-token', id: 'admin-token', name: 'admin token', permissions: OWNER };
      const token = await deps.iam.tokenByValue(value);
      if (token) return { kind: 'token', id: token.id, name: `token ${token.description}`, permissions: await byLabels(token.permissions, deps.sourceLabels) };
      if (await isOpen()) return openPrincipal();
      return 'bad-token';
    }
    const sessionId = sessionIdFrom(req);
    if (sessionId) {
      const s = await deps.iam.session(sessionId);
      if (s) {
        if (req.method !== 'GET' && req.method !== 'HEAD' && req.headers['x-csrf-token'] !== s.csrfToken) return 'csrf';
        return { kind: 'user', id: s.user.id, name: s.user.name, email: s.user.email, permissions: await byLabels(s.user.permissions, deps.sourceLabels) };
      }
    }
    return (await isOpen()) ? openPrincipal() : undefined;
  }

  async function isOpen(): Promise<boolean> {
    return !deps.adminToken && (await deps.iam.userCount()) === 0 && (await deps.iam.activeTokenCount()) === 0;
  }
  function openPrincipal(): Principal {
    return { kind: 'open', id: 'open', name: 'unauthenticated (first run: no user or token exists yet)', permissions: OWNER };
  }
}

/** The principal set by the access hook (every non-public route has one). */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new Error('no principal on a guarded route');
  return req.principal;
}

export const actorName = (p: Principal) => p.email ?? p.name;
