import { createHash, randomBytes, randomUUID, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import { translate as unique } from './sqlite-apply.js';
import { ControlPlaneNotFoundError } from './sqlite-admin.js';

/**
 * Identity and access for the Public API and the console: users (passwords
 * hashed with scrypt), sessions, invites, API tokens, and the audit trail.
 * Secrets (session ids, invite and API tokens) are random 32-byte values shown
 * once; only their SHA-256 is stored, so a copy of control.db does not let anyone in.
 */
export interface PermissionResource { type: 'WORKSPACE' | 'SOURCE'; id: string }
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
  userCount(): number;
  /** Tokens not revoked. */
  activeTokenCount(): number;
  createUser(u: { email: string; name: string; password: string; permissions: Permission[] }): Promise<User>;
  /** The user when the password matches; undefined otherwise (same time either way). */
  verifyPassword(email: string, password: string): Promise<User | undefined>;
  getUser(id: string): User | undefined;
  listUsers(offset: number, count: number): { users: User[]; total: number };
  deleteUsers(ids: readonly string[]): number;
  setPermissions(userId: string, permissions: Permission[]): void;
  createSession(userId: string, ttlMs: number): { sessionId: string; csrfToken: string };
  session(sessionId: string): { user: User; csrfToken: string } | undefined;
  deleteSession(sessionId: string): void;
  createInvite(email: string, permissions: Permission[], invitedBy: string, ttlMs: number): string;
  listInvites(): Invite[];
  deleteInvites(emails: readonly string[]): number;
  acceptInvite(token: string, name: string, password: string): Promise<User | undefined>;
  createToken(description: string, permissions: Permission[], createdBy: string): { token: string; record: ApiToken };
  tokenByValue(value: string): ApiToken | undefined;
  listTokens(): ApiToken[];
  revokeToken(id: string): void;
  audit(entry: Omit<AuditEntry, 'id' | 'timestamp'> & { timestamp?: number }): AuditEntry;
  listAudit(query: AuditQuery): { entries: AuditEntry[]; total: number };
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

export function openIamStore(db: BetterSqlite3.Database): IamStore {
  const q = {
    userCount: db.prepare('SELECT count(*) FROM cp_users').pluck(),
    tokenCount: db.prepare('SELECT count(*) FROM cp_tokens WHERE revoked_at IS NULL').pluck(),
    insertUser: db.prepare('INSERT INTO cp_users (id, email, name, password_hash, permissions, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
    userByEmail: db.prepare('SELECT * FROM cp_users WHERE email = ?'),
    user: db.prepare('SELECT * FROM cp_users WHERE id = ?'),
    users: db.prepare('SELECT * FROM cp_users ORDER BY created_at, id LIMIT ? OFFSET ?'),
    deleteUser: db.prepare('DELETE FROM cp_users WHERE id = ?'),
    deleteSessionsOf: db.prepare('DELETE FROM cp_sessions WHERE user_id = ?'),
    setPermissions: db.prepare('UPDATE cp_users SET permissions = ? WHERE id = ?'),
    insertSession: db.prepare('INSERT INTO cp_sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)'),
    session: db.prepare(`SELECT s.csrf_token, s.expires_at, u.* FROM cp_sessions s JOIN cp_users u ON u.id = s.user_id
      WHERE s.id_hash = ?`),
    deleteSession: db.prepare('DELETE FROM cp_sessions WHERE id_hash = ?'),
    expireSessions: db.prepare('DELETE FROM cp_sessions WHERE expires_at < ?'),
    insertInvite: db.prepare(`INSERT INTO cp_invites (token_hash, email, permissions, invited_by, created_at, expires_at)
      VALUES (?, ?, ?, ?, ?, ?)`),
    invites: db.prepare('SELECT * FROM cp_invites WHERE accepted_at IS NULL AND expires_at > ? ORDER BY created_at'),
    invite: db.prepare('SELECT * FROM cp_invites WHERE token_hash = ? AND accepted_at IS NULL AND expires_at > ?'),
    acceptInvite: db.prepare('UPDATE cp_invites SET accepted_at = ? WHERE token_hash = ?'),
    deleteInvites: db.prepare('DELETE FROM cp_invites WHERE email = ? AND accepted_at IS NULL'),
    insertToken: db.prepare(`INSERT INTO cp_tokens (id, description, token_hash, permissions, created_by, created_at)
      VALUES (?, ?, ?, ?, ?, ?)`),
    tokenByHash: db.prepare('SELECT * FROM cp_tokens WHERE token_hash = ? AND revoked_at IS NULL'),
    touchToken: db.prepare('UPDATE cp_tokens SET last_used_at = ? WHERE id = ?'),
    tokens: db.prepare('SELECT * FROM cp_tokens ORDER BY created_at, id'),
    revokeToken: db.prepare('UPDATE cp_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    insertAudit: db.prepare(`INSERT INTO cp_audit (id, ts, type, actor, actor_email, resource_id, resource_type, resource_name, before, after)
      VALUES (@id, @ts, @type, @actor, @actorEmail, @resourceId, @resourceType, @resourceName, @before, @after)`),
  };

  const insertUser = (email: string, name: string, hash: string, permissions: Permission[]): User => {
    const row: UserRow = { id: randomUUID(), email, name, password_hash: hash, permissions: JSON.stringify(permissions), created_at: Date.now() };
    unique(() => q.insertUser.run(row.id, row.email, row.name, row.password_hash, row.permissions, row.created_at),
      `a user with email ${email} already exists`);
    return toUser(row);
  };
  // Compared against when the email is unknown, so a miss costs the same time as a hit.
  let dummyHash: Promise<string> | undefined;

  return {
    userCount: () => Number(q.userCount.get()),
    activeTokenCount: () => Number(q.tokenCount.get()),
    async createUser(u) {
      return insertUser(u.email, u.name, await hashPassword(u.password), u.permissions);
    },
    async verifyPassword(email, password) {
      const row = q.userByEmail.get(email) as UserRow | undefined;
      dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
      const ok = await checkPassword(password, row?.password_hash ?? (await dummyHash));
      return row && ok ? toUser(row) : undefined;
    },
    getUser: (id) => {
      const row = q.user.get(id) as UserRow | undefined;
      return row ? toUser(row) : undefined;
    },
    listUsers: (offset, count) => ({ users: (q.users.all(count, offset) as UserRow[]).map(toUser), total: Number(q.userCount.get()) }),
    deleteUsers: db.transaction((ids: readonly string[]) => {
      let n = 0;
      for (const id of ids) {
        q.deleteSessionsOf.run(id);
        n += q.deleteUser.run(id).changes;
      }
      return n;
    }),
    setPermissions(userId, permissions) {
      if (q.setPermissions.run(JSON.stringify(permissions), userId).changes === 0) throw new ControlPlaneNotFoundError(`no user ${userId}`);
    },
    createSession(userId, ttlMs) {
      const sessionId = secret('sys_');
      const csrfToken = randomBytes(24).toString('base64url');
      const now = Date.now();
      q.expireSessions.run(now);
      q.insertSession.run(sha256(sessionId), userId, csrfToken, now, now + ttlMs);
      return { sessionId, csrfToken };
    },
    session(sessionId) {
      const row = q.session.get(sha256(sessionId)) as (UserRow & { csrf_token: string; expires_at: number }) | undefined;
      if (!row || row.expires_at < Date.now()) return undefined;
      return { user: toUser(row), csrfToken: row.csrf_token };
    },
    deleteSession: (sessionId) => void q.deleteSession.run(sha256(sessionId)),
    createInvite(email, permissions, invitedBy, ttlMs) {
      const token = secret('syi_');
      const now = Date.now();
      q.insertInvite.run(sha256(token), email, JSON.stringify(permissions), invitedBy, now, now + ttlMs);
      return token;
    },
    listInvites: () => (q.invites.all(Date.now()) as { email: string; permissions: string; invited_by: string; created_at: number; expires_at: number }[])
      .map((r) => ({ email: r.email, permissions: JSON.parse(r.permissions) as Permission[], invitedBy: r.invited_by, createdAt: r.created_at, expiresAt: r.expires_at })),
    deleteInvites: (emails) => emails.reduce((n, e) => n + q.deleteInvites.run(e).changes, 0),
    async acceptInvite(token, name, password) {
      const hash = await hashPassword(password);
      return db.transaction(() => {
        const inv = q.invite.get(sha256(token), Date.now()) as { email: string; permissions: string } | undefined;
        if (!inv) return undefined;
        q.acceptInvite.run(Date.now(), sha256(token));
        return insertUser(inv.email, name, hash, JSON.parse(inv.permissions) as Permission[]);
      }).immediate();
    },
    createToken(description, permissions, createdBy) {
      const token = secret('sya_');
      const record: ApiToken = { id: randomUUID(), description, permissions, createdBy, createdAt: Date.now(), lastUsedAt: null, revokedAt: null };
      q.insertToken.run(record.id, description, sha256(token), JSON.stringify(permissions), createdBy, record.createdAt);
      return { token, record };
    },
    tokenByValue(value) {
      const row = q.tokenByHash.get(sha256(value)) as TokenRow | undefined;
      if (!row) return undefined;
      const now = Date.now();
      // One write a minute at most per token: a busy automation must not turn reads into writes.
      if (row.last_used_at === null || now - row.last_used_at > 60_000) q.touchToken.run(now, row.id);
      return toToken(row);
    },
    listTokens: () => (q.tokens.all() as TokenRow[]).map(toToken),
    revokeToken(id) {
      if (q.revokeToken.run(Date.now(), id).changes === 0) throw new ControlPlaneNotFoundError(`no active token ${id}`);
    },
    audit(e) {
      const entry: AuditEntry = { ...e, id: randomUUID(), timestamp: e.timestamp ?? Date.now() };
      q.insertAudit.run({
        id: entry.id, ts: entry.timestamp, type: entry.type, actor: entry.actor, actorEmail: entry.actorEmail ?? null,
        resourceId: entry.resourceId, resourceType: entry.resourceType, resourceName: entry.resourceName,
        before: entry.before === undefined ? null : JSON.stringify(entry.before),
        after: entry.after === undefined ? null : JSON.stringify(entry.after),
      });
      return entry;
    },
    listAudit(query) {
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (query.startTime !== undefined) { where.push('ts >= ?'); args.push(query.startTime); }
      if (query.endTime !== undefined) { where.push('ts <= ?'); args.push(query.endTime); }
      if (query.resourceId !== undefined) { where.push('resource_id = ?'); args.push(query.resourceId); }
      if (query.resourceType !== undefined) { where.push('resource_type = ?'); args.push(query.resourceType); }
      const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
      const total = Number(db.prepare(`SELECT count(*) FROM cp_audit ${clause}`).pluck().get(...args));
      const rows = db.prepare(`SELECT * FROM cp_audit ${clause} ORDER BY seq DESC LIMIT ? OFFSET ?`).all(...args, query.count, query.offset) as AuditRow[];
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

