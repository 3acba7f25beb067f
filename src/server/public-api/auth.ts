import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { IamStore, User } from '../../store/iam.js';
import { SESSION_COOKIE, sessionIdFrom } from './access.js';
import { apiError, readBody } from './http.js';

const SESSION_TTL_MS = 14 * 24 * 3_600_000;
const password = z.string().min(8, 'must be at least 8 characters').max(200);

/**
 * The console's sign-in: the first owner (first run only), password sign-in,
 * invite acceptance and sign-out. The session id travels in an HttpOnly,
 * SameSite=Strict cookie; writes made with it also need the session's CSRF token
 * in `x-csrf-token` (checked by the access hook).
 */
export function registerAuth(app: FastifyInstance, deps: { iam: IamStore; workspaceId: () => Promise<string>; secureCookies: boolean }): void {
  const view = (u: User) => ({ id: u.id, name: u.name, email: u.email, role: u.permissions[0]?.roleId ?? null, permissions: u.permissions });
  const signIn = async (reply: FastifyReply, user: User, status = 200) => {
    const { sessionId, csrfToken } = await deps.iam.createSession(user.id, SESSION_TTL_MS);
    const attrs = [`${SESSION_COOKIE}=${encodeURIComponent(sessionId)}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${SESSION_TTL_MS / 1000}`];
    if (deps.secureCookies) attrs.push('Secure');
    return reply.code(status).header('set-cookie', attrs.join('; ')).send({ data: { user: view(user), csrfToken } });
  };

  app.get('/auth/session', async (req) => {
    const sessionId = sessionIdFrom(req);
    const s = sessionId ? await deps.iam.session(sessionId) : undefined;
    return { data: { needsSetup: await deps.iam.userCount() === 0, user: s ? view(s.user) : null, csrfToken: s?.csrfToken ?? null } };
  });

  app.post('/auth/setup', async (req, reply) => {
    const body = readBody(req, reply, z.object({ name: z.string().min(1).max(200), email: z.email(), password }));
    if (!body) return reply;
    if (await deps.iam.userCount() > 0) return apiError(reply, 409, 'conflict', 'Switchyard already has an owner; sign in instead');
    const user = await deps.iam.createUser({
      ...body, permissions: [{ roleId: 'workspace-owner', resources: [{ type: 'WORKSPACE', id: await deps.workspaceId() }] }],
    });
    return signIn(reply, user, 201);
  });

  app.post('/auth/login', async (req, reply) => {
    const body = readBody(req, reply, z.object({ email: z.string().min(1), password: z.string().min(1) }));
    if (!body) return reply;
    const user = await deps.iam.verifyPassword(body.email, body.password);
    if (!user) return apiError(reply, 401, 'unauthorized', 'wrong email or password');
    return signIn(reply, user);
  });

  app.post('/auth/accept-invite', async (req, reply) => {
    const body = readBody(req, reply, z.object({ token: z.string().min(1), name: z.string().min(1).max(200), password }));
    if (!body) return reply;
    try {
      const user = await deps.iam.acceptInvite(body.token, body.name, body.password);
      if (!user) return apiError(reply, 404, 'not-found', 'this invite is unknown, expired or already used; ask for a new one', 'token');
      return await signIn(reply, user);
    } catch (err) {
      return apiError(reply, 409, 'conflict', (err as Error).message);
    }
  });

  app.post('/auth/logout', async (req, reply) => {
    const sessionId = sessionIdFrom(req);
    if (sessionId) await deps.iam.deleteSession(sessionId);
    return reply.code(204).header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`).send();
  });
}
