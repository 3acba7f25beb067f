import { createHash, randomBytes, randomUUID, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { translate } from './apply.js';
import { ControlPlaneNotFoundError } from './admin.js';
import type { ControlPlaneDb, Tx } from './db.js';

/**
 * Identity and access for the Public API and the console: users (passwords
 * hashed with scrypt), sessions, invites, API tokens, and the audit trail.
 * Secrets (session ids, invite and API tokens) are random 32-byte values shown
 * once; only their SHA-256 is stored, so a copy of the store does not let anyone in.
 */
/**
 * What a permission covers: the workspace (every source) or one source. A WORKSPACE
 * resource of a source role may carry labels: it then covers the sources that carry,
 * for each label key it names, one of the values it names (Segment's label-based access).
 */
export interface PermissionResource { type: 'WORKSPACE' | 'SOURCE'; id: string; labels?: { key: string; value: string }[] }
export interface Permission { roleId: string; resources: PermissionResource[] }

export interface User { id: string; email: string; name: string; permissions: Permission[]; createdAt: number }
export interface ApiToken {
  id: string; description: string; permissions: Permission[]; createdBy: string; createdAt: number;
  lastUsedAt: number | null; revokedAt: number | null;
}
export interface Invite { email: string; permissions: Permission[]; invitedBy: string; createdAt: number; expiresAt: number }
export interface AuditEntry {
  id: string; timestamp: number; type: string; actor: string; actorEmail?: string;
  resourceId: string; resourceType: string; resourceName: string; before?: unknown; after?: unknown;
}
export interface AuditQuery { startTime?: number; endTime?: number; resourceId?: string; resourceType?: string; offset: number; count: number }

export interface IamStore {
  userCount(): Promise<number>;
  /** Tokens not revoked. */
  activeTokenCount(): Promise<number>;
  createUser(u: { email: string; name: string; password: string; permissions: Permission[] }): Promise<User>;
  /** The user when the password matches; undefined otherwise (same time either way). */
  verifyPassword(email: string, password: string): Promise<User | undefined>;
  getUser(id: string): Promise<User | undefined>;
  listUsers(offset: number, count: number): Promise<{ users: User[]; total: number }>;
  deleteUsers(ids: readonly string[]): Promise<number>;
  setPermissions(userId: string, permissions: Permission[]): Promise<void>;
  createSession(userId: string, ttlMs: number): Promise<{ sessionId: string; csrfToken: string }>;
  session(sessionId: string): Promise<{ user: User; csrfToken: string } | undefined>;
  deleteSession(sessionId: string): Promise<void>;
  createInvite(email: string, permissions: Permission[], invitedBy: string, ttlMs: number): Promise<string>;
  listInvites(): Promise<Invite[]>;
  deleteInvites(emails: readonly string[]): Promise<number>;
  acceptInvite(token: string, name: string, password: string): Promise<User | undefined>;
  createToken(description: string, permissions: Permission[], createdBy: string): Promise<{ token: string; record: ApiToken }>;
  tokenByValue(value: string): Promise<ApiToken | undefined>;
  listTokens(): Promise<ApiToken[]>;
  revokeToken(id: string): Promise<void>;
  audit(entry: Omit<AuditEntry, 'id' | 'timestamp'> & { timestamp?: number }): Promise<AuditEntry>;
  listAudit(query: AuditQuery): Promise<{ entries: AuditEntry[]; total: number }>;
}

// OWASP's scrypt floor is N=2^17 with r=8; 2^15 keeps a sign-in near 100 ms on
// this class of machine while staying far from a fast hash. Parameters are stored
// with each hash, so raising them later only affects new passwords.
const SCRYPT = { N: 1 << 15, r: 8, p: 1, keyLen: 32 };

function scrypt(password: string, salt: Buffer, keyLen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keyLen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT.keyLen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 128 * SCRYPT.N * SCRYPT.r * 2 });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function checkPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const N = Number(n), R = Number(r);
  const key = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, { N, r: R, p: Number(p), maxmem: 128 * N * R * 2 });
  return timingSafeEqual(key, expected);
}

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const secret = (prefix: string) => `${prefix}${randomBytes(32).toString('base64url')}`;

interface UserRow { id: string; email: string; name: string; password_hash: string; permissions: string; created_at: number }
interface TokenRow {
  id: string; description: string; permissions: string; created_by: string; created_at: number;
  last_used_at: number | null; revoked_at: number | null;
}
interface AuditRow {
  id: string; ts: number; type: string; actor: string; actor_email: string | null; resource_id: string;
  resource_type: string; resource_name: string; before: string | null; after: string | null;
}

const toUser = (r: UserRow): User => ({ id: r.id, email: r.email, name: r.name, permissions: JSON.parse(r.permissions) as Permission[], createdAt: r.created_at });
const toToken = (r: TokenRow): ApiToken => ({
  id: r.id, description: r.description, permissions: JSON.parse(r.permissions) as Permission[], createdBy: r.created_by,
  createdAt: r.created_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at,
});

const count = (n: { n: unknown } | undefined) => Number(n?.n ?? 0);

/** IAM tables of the control-plane store (same connection, either dialect). */
export function openIamStore(cp: ControlPlaneDb): IamStore {
  const db = cp.db;
  const insertUser = async (tx: Tx, email: string, name: string, hash: string, permissions: Permission[]): Promise<User> => {
    const row: UserRow = { id: randomUUID(), email, name, password_hash: hash, permissions: JSON.stringify(permissions), created_at: Date.now() };
    await translate(cp, tx, () => tx.insertInto('cp_users').values(row).execute(), `a user with email ${email} already exists`);
    return toUser(row);
  };
  // Emails compare case-insensitively (SQLite: COLLATE NOCASE; PostgreSQL: a unique index on lower(email)).
  const userByEmail = (email: string) => db.selectFrom('cp_users').selectAll()
    .where((eb) => eb(eb.fn('lower', ['email']), '=', email.toLowerCase())).executeTakeFirst();
  // Compared against when the email is unknown, so a miss costs the same time as a hit.
  let dummyHash: Promise<string> | undefined;

  return {
    userCount: async () => count(await db.selectFrom('cp_users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirst()),
    activeTokenCount: async () => count(await db.selectFrom('cp_tokens').select((eb) => eb.fn.countAll().as('n'))
      .where('revoked_at', 'is', null).executeTakeFirst()),
    async createUser(u) {
      const hash = await hashPassword(u.password);
      return cp.transaction((tx) => insertUser(tx, u.email, u.name, hash, u.permissions));
    },
    async verifyPassword(email, password) {
      const row = await userByEmail(email);
      dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
      const ok = await checkPassword(password, row?.password_hash ?? (await dummyHash));
      return row && ok ? toUser(row) : undefined;
    },
    async getUser(id) {
      const row = await db.selectFrom('cp_users').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toUser(row) : undefined;
    },
    async listUsers(offset, n) {
      const rows = await db.selectFrom('cp_users').selectAll().orderBy('created_at').orderBy('id').limit(n).offset(offset).execute();
      return { users: rows.map(toUser), total: count(await db.selectFrom('cp_users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirst()) };
    },
    deleteUsers: (ids) => cp.transaction(async (tx) => {
      let n = 0;
      for (const id of ids) {
        await tx.deleteFrom('cp_sessions').where('user_id', '=', id).execute();
        n += Number((await tx.deleteFrom('cp_users').where('id', '=', id).executeTakeFirst()).numDeletedRows);
      }
      return n;
    }),
    async setPermissions(userId, permissions) {
      const res = await db.updateTable('cp_users').set({ permissions: JSON.stringify(permissions) }).where('id', '=', userId).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) throw new ControlPlaneNotFoundError(`no user ${userId}`);
    },
    async createSession(userId, ttlMs) {
      const sessionId = secret('sys_');
      const csrfToken = randomBytes(24).toString('base64url');
      const now = Date.now();
      await db.deleteFrom('cp_sessions').where('expires_at', '<', now).execute();
      await db.insertInto('cp_sessions').values({ id_hash: sha256(sessionId), user_id: userId, csrf_token: csrfToken, created_at: now, expires_at: now + ttlMs }).execute();
      return { sessionId, csrfToken };
    },
    async session(sessionId) {
      const row = await db.selectFrom('cp_sessions as s').innerJoin('cp_users as u', 'u.id', 's.user_id')
        .select(['s.csrf_token', 's.expires_at', 'u.id', 'u.email', 'u.name', 'u.password_hash', 'u.permissions', 'u.created_at'])
        .where('s.id_hash', '=', sha256(sessionId)).executeTakeFirst();
      if (!row || row.expires_at < Date.now()) return undefined;
      return { user: toUser(row), csrfToken: row.csrf_token };
    },
    deleteSession: async (sessionId) => void (await db.deleteFrom('cp_sessions').where('id_hash', '=', sha256(sessionId)).execute()),
    async createInvite(email, permissions, invitedBy, ttlMs) {
      const token = secret('syi_');
      const now = Date.now();
      await db.insertInto('cp_invites').values({
        token_hash: sha256(token), email, permissions: JSON.stringify(permissions), invited_by: invitedBy, created_at: now, expires_at: now + ttlMs,
        accepted_at: null,
      }).execute();
      return token;
    },
    listInvites: async () => (await db.selectFrom('cp_invites').selectAll().where('accepted_at', 'is', null).where('expires_at', '>', Date.now())
      .orderBy('created_at').execute())
      .map((r) => ({ email: r.email, permissions: JSON.parse(r.permissions) as Permission[], invitedBy: r.invited_by, createdAt: r.created_at, expiresAt: r.expires_at })),
    async deleteInvites(emails) {
      let n = 0;
      for (const e of emails) {
        n += Number((await db.deleteFrom('cp_invites').where((eb) => eb(eb.fn('lower', ['email']), '=', e.toLowerCase()))
          .where('accepted_at', 'is', null).executeTakeFirst()).numDeletedRows);
      }
      return n;
    },
    async acceptInvite(token, name, password) {
      const hash = await hashPassword(password);
      return cp.transaction(async (tx) => {
        const inv = await tx.selectFrom('cp_invites').select(['email', 'permissions']).where('token_hash', '=', sha256(token))
          .where('accepted_at', 'is', null).where('expires_at', '>', Date.now()).executeTakeFirst();
        if (!inv) return undefined;
        await tx.updateTable('cp_invites').set({ accepted_at: Date.now() }).where('token_hash', '=', sha256(token)).execute();
        return insertUser(tx, inv.email, name, hash, JSON.parse(inv.permissions) as Permission[]);
      });
    },
    async createToken(description, permissions, createdBy) {
      const token = secret('sya_');
      const record: ApiToken = { id: randomUUID(), description, permissions, createdBy, createdAt: Date.now(), lastUsedAt: null, revokedAt: null };
      await db.insertInto('cp_tokens').values({
        id: record.id, description, token_hash: sha256(token), permissions: JSON.stringify(permissions), created_by: createdBy,
        created_at: record.createdAt, last_used_at: null, revoked_at: null,
      }).execute();
      return { token, record };
    },
    async tokenByValue(value) {
      const row = await db.selectFrom('cp_tokens').selectAll().where('token_hash', '=', sha256(value)).where('revoked_at', 'is', null).executeTakeFirst();
      if (!row) return undefined;
      const now = Date.now();
      // One write a minute at most per token: a busy automation must not turn reads into writes.
      if (row.last_used_at === null || now - row.last_used_at > 60_000) {
        await db.updateTable('cp_tokens').set({ last_used_at: now }).where('id', '=', row.id).execute();
      }
      return toToken(row);
    },
    listTokens: async () => (await db.selectFrom('cp_tokens').selectAll().orderBy('created_at').orderBy('id').execute()).map(toToken),
    async revokeToken(id) {
      const res = await db.updateTable('cp_tokens').set({ revoked_at: Date.now() }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) throw new ControlPlaneNotFoundError(`no active token ${id}`);
    },
    async audit(e) {
      const entry: AuditEntry = { ...e, id: randomUUID(), timestamp: e.timestamp ?? Date.now() };
      await db.insertInto('cp_audit').values({
        id: entry.id, ts: entry.timestamp, type: entry.type, actor: entry.actor, actor_email: entry.actorEmail ?? null,
        resource_id: entry.resourceId, resource_type: entry.resourceType, resource_name: entry.resourceName,
        before: entry.before === undefined ? null : JSON.stringify(entry.before),
        after: entry.after === undefined ? null : JSON.stringify(entry.after),
      }).execute();
      return entry;
    },
    async listAudit(query) {
      let q = db.selectFrom('cp_audit');
      if (query.startTime !== undefined) q = q.where('ts', '>=', query.startTime);
      if (query.endTime !== undefined) q = q.where('ts', '<=', query.endTime);
      if (query.resourceId !== undefined) q = q.where('resource_id', '=', query.resourceId);
      if (query.resourceType !== undefined) q = q.where('resource_type', '=', query.resourceType);
      const total = count(await q.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst());
      const rows: AuditRow[] = await q.select(['id', 'ts', 'type', 'actor', 'actor_email', 'resource_id', 'resource_type', 'resource_name', 'before', 'after'])
        .orderBy('seq', 'desc').limit(query.count).offset(query.offset).execute();
      return {
        total,
        entries: rows.map((r) => ({
          id: r.id, timestamp: r.ts, type: r.type, actor: r.actor, ...(r.actor_email ? { actorEmail: r.actor_email } : {}),
          resourceId: r.resource_id, resourceType: r.resource_type, resourceName: r.resource_name,
          ...(r.before ? { before: JSON.parse(r.before) as unknown } : {}), ...(r.after ? { after: JSON.parse(r.after) as unknown } : {}),
        })),
      };
    },
  };
}
