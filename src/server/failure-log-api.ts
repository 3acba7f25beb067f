import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import type Database from 'better-sqlite3';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bucketFile, hourBucket } from '../observability/failure-log.js';
import type { ControlPlaneStore, FailureLogCollection } from '../store/types.js';
import { findDestination } from './lookup.js';

export interface FailureLogApiDeps {
  /** Holds the collection settings, so the routers of every process follow them. */
  store: ControlPlaneStore;
  /** The download rate limit's bucket (per process). */
  statsDb: Database.Database;
  dir: string;
  /** Signs download URLs, so they stay valid across restarts for their two hours. */
  signingKey: Buffer;
}

const URL_TTL_MS = 2 * 3_600_000;
const DAILY_REQUESTS = 120;
/** 120 a day, refilled a little every hour (Segment: "some tokens replenish every hour"). */
const REFILL_PER_HOUR = DAILY_REQUESTS / 24;

/**
 * Failure log collection over HTTP: the per-destination toggle and collection id
 * (`/api/v1/destinations/:id/log-collection`), and Segment's download endpoint
 * `POST /customer-insights/download?collectionId=&hour=` returning a URL valid for
 * two hours, rate limited to 120 requests a day per workspace with rate-limit headers.
 */
export function registerFailureLogApi(app: FastifyInstance, deps: FailureLogApiDeps): void {
  deps.statsDb.exec(`CREATE TABLE IF NOT EXISTS api_rate_limits (key TEXT PRIMARY KEY, tokens REAL NOT NULL, updated_at INTEGER NOT NULL)`);
  const q = {
    bucket: deps.statsDb.prepare(`SELECT tokens, updated_at FROM api_rate_limits WHERE key = ?`),
    setBucket: deps.statsDb.prepare(
      `INSERT INTO api_rate_limits (key, tokens, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at`,
    ),
  };
  const destination = (id: string) => findDestination(deps.store, id);
  const notFound = (reply: FastifyReply, what: string) => reply.code(404).send({ errors: [{ type: 'not-found', message: what }] });
  const view = (id: string, c: FailureLogCollection | undefined) => ({ destinationId: id, enabled: c?.enabled === true, collectionId: c?.collectionId ?? null });

  app.get<{ Params: { id: string } }>('/api/v1/destinations/:id/log-collection', async (req, reply) => {
    if (!destination(req.params.id)) return notFound(reply, `no destination ${req.params.id}`);
    return { data: view(req.params.id, await deps.store.getFailureLogCollection(req.params.id)) };
  });

  app.put<{ Params: { id: string } }>('/api/v1/destinations/:id/log-collection', async (req, reply) => {
    if (!destination(req.params.id)) return notFound(reply, `no destination ${req.params.id}`);
    const body = parseJson(req);
    if (typeof (body as { enabled?: unknown } | null)?.enabled !== 'boolean') {
      return reply.code(400).send({ errors: [{ type: 'validation', message: '"enabled" must be true or false', field: 'enabled' }] });
    }
    // A destination that has a collection keeps its id (the store ignores this one then).
    const stored = await deps.store.putFailureLogCollection({
      destinationId: req.params.id, collectionId: `col_${randomBytes(12).toString('base64url')}`,
      enabled: (body as { enabled: boolean }).enabled, updatedAt: Date.now(),
    });
    return { data: view(req.params.id, stored) };
  });

  app.post<{ Querystring: { collectionId?: string; hour?: string } }>('/customer-insights/download', async (req, reply) => {
    const limit = takeToken(q, workspaceKey(deps.store), Date.now());
    reply.header('x-ratelimit-limit', String(DAILY_REQUESTS));
    reply.header('x-ratelimit-remaining', String(limit.remaining));
    reply.header('x-ratelimit-reset', String(Math.ceil(limit.resetAt / 1000)));
    if (!limit.ok) {
      reply.header('retry-after', String(Math.ceil((limit.resetAt - Date.now()) / 1000)));
      return reply.code(429).send({ errors: [{ type: 'too-many-requests', message: `at most ${DAILY_REQUESTS} failure-log downloads a day` }] });
    }
    const { collectionId, hour } = req.query;
    if (!collectionId) return reply.code(400).send({ errors: [{ type: 'validation', message: '"collectionId" is required', field: 'collectionId' }] });
    const at = hour ? Date.parse(hour) : Number.NaN;
    if (Number.isNaN(at)) return reply.code(400).send({ errors: [{ type: 'validation', message: '"hour" must be an ISO 8601 date-time, e.g. 2025-03-23T20:00:00Z', field: 'hour' }] });
    if (!(await deps.store.failureLogCollectionById(collectionId))) return notFound(reply, `no collection ${collectionId}`);
    const expiresAt = Date.now() + URL_TTL_MS;
    const token = sign(deps.signingKey, { c: collectionId, h: hourBucket(at), e: expiresAt });
    const base = `${req.protocol}://${req.headers.host ?? 'localhost'}`;
    return { data: { url: `${base}/customer-insights/files?token=${token}`, expiresAt: new Date(expiresAt).toISOString() } };
  });

  app.get<{ Querystring: { token?: string } }>('/customer-insights/files', async (req, reply) => {
    const claim = verify(deps.signingKey, req.query.token ?? '');
    if (!claim) return reply.code(403).send({ errors: [{ type: 'forbidden', message: 'invalid download URL' }] });
    if (claim.e < Date.now()) return reply.code(403).send({ errors: [{ type: 'forbidden', message: 'this download URL has expired; request a new one' }] });
    const file = bucketFile(deps.dir, claim.c, claim.h);
    if (!fs.existsSync(file)) return notFound(reply, `no failures were logged in ${claim.h}:00Z for this collection`);
    return reply.type('application/x-ndjson').send(fs.readFileSync(file));
  });
}

function parseJson(req: FastifyRequest): unknown {
  try {
    return JSON.parse(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '');
  } catch {
    return null;
  }
}

function workspaceKey(store: ControlPlaneStore): string {
  try {
    return `failure-logs:${store.snapshot().workspace.id}`;
  } catch {
    return 'failure-logs:';
  }
}

type BucketQueries = {
  bucket: Database.Statement;
  setBucket: Database.Statement;
};

function takeToken(q: BucketQueries, key: string, now: number): { ok: boolean; remaining: number; resetAt: number } {
  const row = q.bucket.get(key) as { tokens: number; updated_at: number } | undefined;
  let tokens = row ? Math.min(DAILY_REQUESTS, row.tokens + ((now - row.updated_at) / 3_600_000) * REFILL_PER_HOUR) : DAILY_REQUESTS;
  const ok = tokens >= 1;
  if (ok) tokens -= 1;
  q.setBucket.run(key, tokens, now);
  // When the next whole token is back.
  const resetAt = now + (tokens >= 1 ? 0 : Math.ceil(((1 - tokens) / REFILL_PER_HOUR) * 3_600_000));
  return { ok, remaining: Math.floor(tokens), resetAt };
}

interface Claim {
  c: string;
  h: string;
  e: number;
}

function sign(key: Buffer, claim: Claim): string {
  const body = Buffer.from(JSON.stringify(claim)).toString('base64url');
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
}

function verify(key: Buffer, token: string): Claim | null {
  const [body, mac] = token.split('.');
  if (!body || !mac) return null;
  const expected = createHmac('sha256', key).update(body).digest();
  const given = Buffer.from(mac, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Claim;
  } catch {
    return null;
  }
}
