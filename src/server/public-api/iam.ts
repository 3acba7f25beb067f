import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { stringify } from 'yaml';
import { z } from 'zod';
import { CONNECTION_MODE_KEY } from '../../core/route.js';
import type { ApiToken, Permission, User } from '../../store/iam.js';
import { actorName, forbidden, isOwner, principalOf, ROLE_IDS, ROLES } from './access.js';
import { attempt, audit, currentSnapshot, type PublicApiDeps } from './context.js';
import { exportWarehouses } from './warehouses.js';
import { apiError, pageFrom, pageOf, readBody, readPage } from './http.js';

const INVITE_TTL_MS = 7 * 24 * 3_600_000;
const LABELLED_ROLES = ['source-admin', 'source-read-only'];
const labelList = z.array(z.object({ key: z.string().min(1), value: z.string().min(1) })).min(1);
/**
 * A permission as the Public API takes it. Labels go on a WORKSPACE resource
 * (PermissionResourceV1, `replacePermissionsForUser`) or on the permission itself
 * (InvitePermissionV1, `createInvites`: they then refine its WORKSPACE resource, which
 * may be left out). Segment: "Labels are exclusive to Workspace-level permissions";
 * here they refine the source roles.
 */
const permissions = z.array(z.object({
  roleId: z.string().refine((r) => ROLE_IDS.includes(r), { message: `must be one of ${ROLE_IDS.join(', ')}` }),
  resources: z.array(z.object({ type: z.enum(['WORKSPACE', 'SOURCE']), id: z.string().min(1), labels: labelList.optional() })).min(1).optional(),
  labels: labelList.optional(),
}).superRefine((p, ctx) => {
  if (!p.resources && !p.labels) ctx.addIssue({ code: 'custom', path: ['resources'], message: 'name the resources the role covers' });
  const labelled = !!p.labels || !!p.resources?.some((r) => r.labels);
  if (labelled && !LABELLED_ROLES.includes(p.roleId)) {
    ctx.addIssue({ code: 'custom', path: [p.labels ? 'labels' : 'resources'], message: `labels refine the source roles only (${LABELLED_ROLES.join(', ')})` });
  }
  p.resources?.forEach((r, i) => {
    if (r.labels && r.type !== 'WORKSPACE') ctx.addIssue({ code: 'custom', path: ['resources', i, 'labels'], message: 'labels refine a WORKSPACE resource only' });
  });
  if (p.labels && p.resources && !p.resources.some((r) => r.type === 'WORKSPACE')) {
    ctx.addIssue({ code: 'custom', path: ['labels'], message: 'labels refine a WORKSPACE resource: add one' });
  }
}).transform((p): Permission => {
  const resources = p.resources ?? [{ type: 'WORKSPACE' as const, id: 'workspace' }];
  const { labels } = p;
  if (!labels) return { roleId: p.roleId, resources };
  return { roleId: p.roleId, resources: resources.map((r) => (r.type === 'WORKSPACE' ? { ...r, labels: [...(r.labels ?? []), ...labels] } : r)) };
})).min(1);

const roleName = (id: string) => ROLES.find((r) => r.id === id)?.name ?? id;
const permissionView = (p: Permission) => ({ roleId: p.roleId, roleName: roleName(p.roleId), resources: p.resources });
const userView = (u: User) => ({ id: u.id, name: u.name, email: u.email, permissions: u.permissions.map(permissionView) });

/**
 * The first label a permission names that the workspace does not have, with its path
 * (`<prefix>.0.resources.0.labels.1`), or undefined when they all exist.
 */
async function unknownLabel(deps: PublicApiDeps, perms: readonly Permission[], prefix: string): Promise<{ field: string; message: string } | undefined> {
  if (!perms.some((p) => p.resources.some((r) => r.labels))) return undefined;
  const known = new Set((await deps.store.admin.listLabels()).map((l) => `${l.key}:${l.value}`));
  for (const [i, p] of perms.entries()) {
    for (const [j, r] of p.resources.entries()) {
      for (const [k, l] of (r.labels ?? []).entries()) {
        if (!known.has(`${l.key}:${l.value}`)) return { field: `${prefix}.${i}.resources.${j}.labels.${k}`, message: `label ${l.key}:${l.value} does not exist; create it first` };
      }
    }
  }
  return undefined;
}

/**
 * Workspace, users, invites, roles, labels, API tokens and the audit trail.
 * Users, invites, tokens and the audit trail are for Workspace Owners only.
 */
export function registerIamApi(app: FastifyInstance, deps: PublicApiDeps): void {
  const ownerOnly = (req: FastifyRequest, reply: FastifyReply, what: string) => {
    if (isOwner(principalOf(req))) return true;
    forbidden(reply, what);
    return false;
  };

  app.get('/roles', async (req, reply) => {
    const page = readPage(req, reply);
    if (!page) return reply;
    const out = pageOf([...ROLES], page);
    return { data: { roles: out.items, pagination: out.pagination } };
  });

  app.get('/users', async (req, reply) => {
    if (!ownerOnly(req, reply, 'listing users')) return reply;
    const page = readPage(req, reply);
    if (!page) return reply;
    const { users, total } = await deps.iam.listUsers(page.offset, page.count);
    const out = pageFrom(users.map(userView), total, page);
    return { data: { users: out.items, pagination: out.pagination } };
  });
  app.get<{ Params: { userId: string } }>('/users/:userId', async (req, reply) => {
    if (!ownerOnly(req, reply, 'reading users')) return reply;
    const u = await deps.iam.getUser(req.params.userId);
    return u ? { data: { user: userView(u) } } : apiError(reply, 404, 'not-found', `no user ${req.params.userId}`);
  });
  app.put<{ Params: { userId: string } }>('/users/:userId/permissions', async (req, reply) => {
    if (!ownerOnly(req, reply, 'changing permissions')) return reply;
    const body = readBody(req, reply, z.object({ permissions }));
    if (!body) return reply;
    const missing = await unknownLabel(deps, body.permissions, 'permissions');
    if (missing) return apiError(reply, 404, 'not-found', missing.message, missing.field);
    const before = await deps.iam.getUser(req.params.userId);
    if (await attempt(reply, () => deps.iam.setPermissions(req.params.userId, body.permissions)) === undefined) return reply;
    await audit(req, deps, 'User Permissions Modified', { id: req.params.userId, type: 'user', name: before?.email ?? '' }, before?.permissions, body.permissions);
    return { data: { permissions: body.permissions.map(permissionView) } };
  });
  app.delete<{ Querystring: { userIds?: string | string[] } }>('/users', async (req, reply) => {
    if (!ownerOnly(req, reply, 'removing users')) return reply;
    const ids = ([] as string[]).concat(req.query.userIds ?? []).flatMap((s) => s.split(',')).filter(Boolean);
    if (ids.length === 0) return apiError(reply, 400, 'validation', 'name the users to remove in userIds', 'userIds');
    if (ids.includes(principalOf(req).id)) return apiError(reply, 400, 'validation', 'you cannot remove yourself', 'userIds');
    await deps.iam.deleteUsers(ids);
    for (const id of ids) await audit(req, deps, 'User Removed', { id, type: 'user', name: id });
    return { data: { status: 'SUCCESS' } };
  });

  app.get('/invites', async (req, reply) => {
    if (!ownerOnly(req, reply, 'listing invites')) return reply;
    const page = readPage(req, reply);
    if (!page) return reply;
    const out = pageOf((await deps.iam.listInvites()).map((i) => i.email), page);
    return { data: { invites: out.items, pagination: out.pagination } };
  });
  app.post('/invites', async (req, reply) => {
    if (!ownerOnly(req, reply, 'inviting users')) return reply;
    const body = readBody(req, reply, z.object({ invites: z.array(z.object({ email: z.email(), permissions })).min(1).max(50) }));
    if (!body) return reply;
    for (const [i, inv] of body.invites.entries()) {
      const missing = await unknownLabel(deps, inv.permissions, `invites.${i}.permissions`);
      if (missing) return apiError(reply, 404, 'not-found', missing.message, missing.field);
    }
    const origin = `${req.protocol}://${req.headers.host ?? 'localhost'}`;
    const inviteUrls: string[] = [];
    for (const inv of body.invites) {
      const token = await deps.iam.createInvite(inv.email, inv.permissions, actorName(principalOf(req)), INVITE_TTL_MS);
      await audit(req, deps, 'User Invited', { id: inv.email, type: 'invite', name: inv.email }, undefined, { permissions: inv.permissions });
      inviteUrls.push(`${origin}/#/accept-invite?token=${encodeURIComponent(token)}`);
    }
    // Switchyard sends no email: the links are returned once, for the inviter to pass on.
    return { data: { emails: body.invites.map((i) => i.email), inviteUrls } };
  });
  app.delete<{ Querystring: { emails?: string | string[] } }>('/invites', async (req, reply) => {
    if (!ownerOnly(req, reply, 'revoking invites')) return reply;
    const emails = ([] as string[]).concat(req.query.emails ?? []).flatMap((s) => s.split(',')).filter(Boolean);
    if (emails.length === 0) return apiError(reply, 400, 'validation', 'name the invites to revoke in emails', 'emails');
    await deps.iam.deleteInvites(emails);
    for (const e of emails) await audit(req, deps, 'Invite Revoked', { id: e, type: 'invite', name: e });
    return { data: { status: 'SUCCESS' } };
  });

  // API tokens (a Switchyard extension: Segment makes them in its web app). The value is shown once.
  const tokenView = (t: ApiToken) => ({
    id: t.id, description: t.description, permissions: t.permissions.map(permissionView), createdBy: t.createdBy,
    createdAt: new Date(t.createdAt).toISOString(), lastUsedAt: t.lastUsedAt ? new Date(t.lastUsedAt).toISOString() : null,
    revokedAt: t.revokedAt ? new Date(t.revokedAt).toISOString() : null,
  });
  app.get('/tokens', async (req, reply) => {
    if (!ownerOnly(req, reply, 'listing tokens')) return reply;
    const page = readPage(req, reply);
    if (!page) return reply;
    const out = pageOf((await deps.iam.listTokens()).filter((t) => !t.revokedAt), page);
    return { data: { tokens: out.items.map(tokenView), pagination: out.pagination } };
  });
  app.post('/tokens', async (req, reply) => {
    if (!ownerOnly(req, reply, 'creating tokens')) return reply;
    const body = readBody(req, reply, z.object({ description: z.string().min(1).max(200), permissions }));
    if (!body) return reply;
    const missing = await unknownLabel(deps, body.permissions, 'permissions');
    if (missing) return apiError(reply, 404, 'not-found', missing.message, missing.field);
    const { token, record } = await deps.iam.createToken(body.description, body.permissions, actorName(principalOf(req)));
    await audit(req, deps, 'Access Token Created', { id: record.id, type: 'token', name: record.description }, undefined, tokenView(record));
    return reply.code(201).send({ data: { token, record: tokenView(record) } });
  });
  app.delete<{ Params: { tokenId: string } }>('/tokens/:tokenId', async (req, reply) => {
    if (!ownerOnly(req, reply, 'revoking tokens')) return reply;
    if (await attempt(reply, () => deps.iam.revokeToken(req.params.tokenId)) === undefined) return reply;
    await audit(req, deps, 'Access Token Revoked', { id: req.params.tokenId, type: 'token', name: req.params.tokenId });
    return { data: { status: 'SUCCESS' } };
  });

  app.get('/labels', async () => ({ data: { labels: await deps.store.admin.listLabels() } }));
  app.post('/labels', async (req, reply) => {
    if (!ownerOnly(req, reply, 'creating labels')) return reply;
    const body = readBody(req, reply, z.object({ label: z.object({ key: z.string().min(1).max(100), value: z.string().min(1).max(100), description: z.string().max(500).optional() }) }));
    if (!body) return reply;
    if (await attempt(reply, () => deps.store.admin.createLabel(body.label)) === undefined) return reply;
    await audit(req, deps, 'Label Created', { id: `${body.label.key}:${body.label.value}`, type: 'label', name: `${body.label.key}:${body.label.value}` });
    return { data: { label: body.label } };
  });
  app.delete<{ Params: { key: string; value: string } }>('/labels/:key/:value', async (req, reply) => {
    if (!ownerOnly(req, reply, 'deleting labels')) return reply;
    if (await attempt(reply, () => deps.store.admin.deleteLabel(req.params.key, req.params.value)) === undefined) return reply;
    await audit(req, deps, 'Label Deleted', { id: `${req.params.key}:${req.params.value}`, type: 'label', name: `${req.params.key}:${req.params.value}` });
    deps.onChange();
    return { data: { status: 'SUCCESS' } };
  });

  app.get<{ Querystring: { startTime?: string; endTime?: string; resourceId?: string; resourceType?: string } }>('/audit-events', async (req, reply) => {
    if (!ownerOnly(req, reply, 'reading the audit trail')) return reply;
    const page = readPage(req, reply);
    if (!page) return reply;
    const time = (v: string | undefined, field: string) => {
      if (v === undefined) return undefined;
      const t = Date.parse(v);
      return Number.isNaN(t) ? field : t;
    };
    const start = time(req.query.startTime, 'startTime');
    const end = time(req.query.endTime, 'endTime');
    if (typeof start === 'string' || typeof end === 'string') {
      return apiError(reply, 400, 'validation', 'startTime and endTime must be ISO 8601 dates', typeof start === 'string' ? start : 'endTime');
    }
    const { entries, total } = await deps.iam.listAudit({ startTime: start, endTime: end, resourceId: req.query.resourceId, resourceType: req.query.resourceType, ...page });
    const out = pageFrom(entries.map((e) => ({ ...e, timestamp: new Date(e.timestamp).toISOString() })), total, page);
    return { data: { events: out.items, pagination: out.pagination } };
  });
}

/** `GET /` for API clients: the workspace the token belongs to (WorkspacesApi.getWorkspace). */
export function workspaceJson(deps: PublicApiDeps) {
  return async (_req: FastifyRequest, _reply: FastifyReply) => {
    const w = (await currentSnapshot(deps)).workspace;
    return { data: { workspace: { id: w.id, slug: w.slug, name: w.name } } };
  };
}

/**
 * The current configuration as a workspace file (config as code): what the file
 * format can hold (workspace, sources, destinations with settings and filters).
 * Secrets are left out unless `includeSecrets=true`; the header lists what was left
 * out. Applying the exported file adopts the API's entities (they become `file`).
 */
export function registerExport(app: FastifyInstance, deps: PublicApiDeps): void {
  app.get<{ Querystring: { includeSecrets?: string } }>('/api/v1/workspace/export', async (req, reply) => {
    if (!isOwner(principalOf(req))) return forbidden(reply, 'exporting the configuration');
    const withSecrets = req.query.includeSecrets === 'true';
    const snap = (await currentSnapshot(deps));
    const omitted: string[] = [];
    const slugOf = new Map(snap.sources.map((s) => [s.id, s.slug]));
    const file = {
      workspace: { id: snap.workspace.id, slug: snap.workspace.slug, name: snap.workspace.name, ...(snap.workspace.rateLimitPerSecond ? { rateLimit: snap.workspace.rateLimitPerSecond } : {}) },
      sources: snap.sources.map((s) => ({
        id: s.id, slug: s.slug, name: s.name, enabled: s.enabled, writeKeys: [...s.writeKeys],
        ...(s.labels.length > 0 ? { labels: s.labels.map((l) => ({ key: l.key, value: l.value })) } : {}),
      })),
      destinations: snap.destinations.map((d, i) => {
        const { [CONNECTION_MODE_KEY]: mode, ...settings } = d.settings as Record<string, unknown>;
        for (const key of deps.types.get(d.type)?.secretSettings ?? []) {
          if (settings[key] !== undefined && !withSecrets) {
            delete settings[key];
            omitted.push(`destinations[${i}].settings.${key}`);
          }
        }
        return {
          id: d.id, name: d.name, type: d.type, enabled: d.enabled, sources: d.sourceIds.map((id) => slugOf.get(id) ?? id),
          ...(mode === 'device' ? { connectionMode: 'device' } : {}), settings,
          ...(d.filters.length ? { filters: d.filters.map(({ savedAt: _s, ...f }) => f) } : {}),
        };
      }),
    };
    const warehouses = exportWarehouses(deps, (id) => slugOf.get(id) ?? id, withSecrets, omitted);
    if (warehouses.length) Object.assign(file, { warehouses });
    const header = [`# Switchyard workspace file exported ${new Date().toISOString()}`,
      ...(omitted.length ? ['# Secrets left out (export with ?includeSecrets=true, or fill them in):', ...omitted.map((p) => `#   ${p}`)] : [])];
    await audit(req, deps, 'Configuration Exported', { id: snap.workspace.id, type: 'workspace', name: snap.workspace.name }, undefined, { includeSecrets: withSecrets });
    return reply.header('content-type', 'application/yaml; charset=utf-8').send(`${header.join('\n')}\n${stringify(file)}`);
  });
}
