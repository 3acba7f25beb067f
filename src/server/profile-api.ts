/**
 * Segment's Profile API over the Unify identity graph (segment-docs "Profile API"):
 *
 *   GET /v1/spaces/:spaceId/collections/users/profiles/:identifier/traits|external_ids|events|metadata|links
 *
 * `:identifier` is `<type>:<value>` (`user_id:u1`, `email:a@b.com`, `anonymous_id:x`) or
 * `segment_id:use_...`. HTTP Basic auth with the space's access token as the username
 * (password blank, ignored). Errors in Segment's body: `{error: {code, message}}`.
 *
 * `/v1/` paths are public in public-api/access.ts (the Tracking API's); this route does
 * its own auth. The tracking fast path (tracking-server.ts) answers POSTs to
 * `/v1/<call>` only, so these GETs reach fastify. The Profile API does not support CORS
 * (Segment: it reads the sum of a customer's data): the Tracking API's CORS headers,
 * which app.ts adds to every `/v1/` answer, are taken off again here.
 *
 * Unify may be switched on or off by editing the workspace file while the server
 * runs, so the routes are always registered (embedded log) and read the current space
 * on each request: with none configured, every space is "not found".
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { UnifySpace } from '../unify/config.js';
import type { EventQuery, ProfileReader } from '../unify/query.js';
import { canReadWorkspace, forbidden, principalOf } from './public-api/access.js';

export interface ProfileApiDeps {
  /** The configured space, or null when Unify is off. */
  space(): UnifySpace | null;
  /** The graph's reader (opened on first use). */
  reader(): ProfileReader;
}

const RESOURCES = ['traits', 'external_ids', 'events', 'metadata', 'links'] as const;
type Resource = (typeof RESOURCES)[number];

/** Segment's defaults and maxima per endpoint (traits: 10 of up to 200; external ids 25 of 100; events 10 of 100; links 20). */
const LIMITS: Record<Exclude<Resource, 'metadata'>, { default: number; max: number }> = {
  traits: { default: 10, max: 200 },
  external_ids: { default: 25, max: 100 },
  events: { default: 10, max: 100 },
  links: { default: 20, max: 20 },
};

class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

const bad = (param: string, why: string) => new ApiError(400, 'validation_error', `The parameter \`${param}\` ${why}`);
const NOT_FOUND = () => new ApiError(404, 'not_found', 'Profile was not found.');

type Query = Record<string, string | string[] | undefined>;

function one(q: Query, name: string): string | undefined {
  const v = q[name];
  if (Array.isArray(v)) throw bad(name, 'is given more than once');
  return v;
}

function limitOf(q: Query, r: Exclude<Resource, 'metadata'>): number {
  const raw = one(q, 'limit');
  const { default: def, max } = LIMITS[r];
  if (raw === undefined) return def;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) throw bad('limit', `must be an integer between 1 and ${max}, got "${raw}"`);
  return Number(raw);
}

function listOf(q: Query, name: string): string[] | undefined {
  const raw = one(q, name);
  if (raw === undefined) return undefined;
  const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw bad(name, 'must be a comma-separated list of keys');
  return items;
}

function boolOf(q: Query, name: string): boolean {
  const raw = one(q, name);
  if (raw === undefined) return false;
  if (raw !== 'true' && raw !== 'false') throw bad(name, `must be true or false, got "${raw}"`);
  return raw === 'true';
}

function timeOf(q: Query, name: string): number | undefined {
  const raw = one(q, name);
  if (raw === undefined) return undefined;
  const t = /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : NaN;
  if (!Number.isFinite(t)) throw bad(name, `must be an ISO 8601 date or time (2006-01-02), got "${raw}"`);
  return t;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The Basic username equals the token (compared in constant time over digests). */
function authorized(header: string | undefined, token: string): boolean {
  if (!header || !/^basic /i.test(header)) return false;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon < 0 ? decoded : decoded.slice(0, colon);
  return timingSafeEqual(digest(user), digest(token));
}

/**
 * The console's Profile explorer: one profile by identifier, for a signed-in reader of
 * the workspace (the access hook guards `/api/v1/*`; no Profile API token needed).
 */
function registerProfileExplorer(app: FastifyInstance, deps: ProfileApiDeps): void {
  app.get('/api/v1/unify', async (req, reply) => {
    if (!canReadWorkspace(principalOf(req))) return forbidden(reply, 'reading profiles');
    const space = deps.space();
    if (!space) return { data: { space: null } };
    return { data: { space: { id: space.id, name: space.name, sourceIds: space.sourceIds, identityRules: space.rules } } };
  });
  app.get('/api/v1/unify/profile', async (req, reply) => {
    if (!canReadWorkspace(principalOf(req))) return forbidden(reply, 'reading profiles');
    const space = deps.space();
    if (!space) return reply.code(404).send({ errors: [{ type: 'not-found', message: 'Unify is not configured (no unify: in the workspace file)', status: 404 }] });
    const identifier = String((req.query as Query).identifier ?? '').trim();
    const colon = identifier.indexOf(':');
    if (colon <= 0 || colon === identifier.length - 1) {
      return reply.code(400).send({ errors: [{ type: 'validation', message: 'identifier must be <type>:<value> (user_id:u1, email:a@b.com, anonymous_id:…, segment_id:use_…)', field: 'identifier', status: 400 }] });
    }
    const reader = deps.reader();
    const profileId = reader.find(identifier.slice(0, colon), identifier.slice(colon + 1));
    if (!profileId) return reply.code(404).send({ errors: [{ type: 'not-found', message: `no profile has ${identifier}`, field: 'identifier', status: 404 }] });
    return {
      data: {
        profileId,
        metadata: reader.metadata(profileId),
        traits: Object.fromEntries(reader.traits(profileId, { limit: 200 })!.items.map(([name, v]) => [name, v.value])),
        externalIds: reader.externalIds(profileId, { limit: 100 })!.items,
        events: reader.events(profileId, { limit: 50, sort: 'desc' })!.items,
        links: reader.links(profileId, 20),
      },
    };
  });
}

export function registerProfileApi(app: FastifyInstance, deps: ProfileApiDeps): void {
  registerProfileExplorer(app, deps);
  app.get('/v1/spaces/:spaceId/collections/:collection/profiles/:identifier/:resource', async (req: FastifyRequest, reply: FastifyReply) => {
    reply.removeHeader('access-control-allow-origin');
    reply.removeHeader('access-control-allow-credentials');
    reply.header('request-id', randomUUID());
    try {
      return await reply.code(200).send(answer(req, deps));
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 401) reply.header('www-authenticate', 'Basic realm="Profile API"');
      return reply.code(err.status).send({ error: { code: err.code, message: err.message } });
    }
  });
}

function answer(req: FastifyRequest, deps: ProfileApiDeps): object {
  const p = req.params as { spaceId: string; collection: string; identifier: string; resource: string };
  const space = deps.space();
  // Without a space there is no token to check against: nothing here exists.
  if (!space) throw new ApiError(404, 'not_found', 'Space was not found.');
  if (!authorized(req.headers.authorization, space.accessToken)) {
    throw new ApiError(401, 'authentication_error', 'Failure to properly authenticate yourself in the request: send the access token as the HTTP Basic username.');
  }
  if (p.spaceId !== space.id) throw new ApiError(404, 'not_found', 'Space was not found.');
  // Account profiles (collections/accounts) are not built: group calls only link users to group ids.
  if (p.collection !== 'users') throw new ApiError(404, 'not_found', `Collection \`${p.collection}\` was not found; this space has the \`users\` collection.`);
  if (!(RESOURCES as readonly string[]).includes(p.resource)) throw new ApiError(404, 'not_found', `Unknown resource \`${p.resource}\`; use one of ${RESOURCES.join(', ')}.`);
  const resource = p.resource as Resource;
  const colon = p.identifier.indexOf(':');
  if (colon <= 0 || colon === p.identifier.length - 1) throw bad('identifier', `must be <type>:<value> (user_id:u1, email:a@b.com, segment_id:use_...), got "${p.identifier}"`);
  const q = req.query as Query;
  // Parameters are checked before the lookup, so a bad one is a 400 whether or not the profile exists.
  const read = prepare(resource, q);
  const reader = deps.reader();
  const profileId = reader.find(p.identifier.slice(0, colon), p.identifier.slice(colon + 1));
  if (!profileId) throw NOT_FOUND();
  const url = `/v1/spaces/${space.id}/collections/users/profiles/${profileId}/${resource}`;
  return read(reader, profileId, url);
}

type Read = (reader: ProfileReader, profileId: string, url: string) => object;

function prepare(resource: Resource, q: Query): Read {
  switch (resource) {
    case 'traits': {
      const limit = limitOf(q, 'traits');
      const include = listOf(q, 'include');
      const verbose = boolOf(q, 'verbose');
      const cls = one(q, 'class');
      if (cls !== undefined && cls !== 'audience' && cls !== 'computed_trait') throw bad('class', `must be audience or computed_trait, got "${cls}"`);
      const next = one(q, 'next');
      return (reader, id, url) => {
        // Audiences and computed traits are Engage's; none exist here, so a class asks for an empty set.
        const page = cls ? { items: [], next: '' } : reader.traits(id, { limit, include, next });
        if (!page) throw bad('next', 'is not a cursor this API returned');
        const traits = Object.fromEntries(page.items.map(([name, v]) => [name, verbose ? v : v.value]));
        return { traits, cursor: { url, has_more: page.next !== '', next: page.next, limit } };
      };
    }
    case 'external_ids': {
      const limit = limitOf(q, 'external_ids');
      const include = listOf(q, 'include');
      boolOf(q, 'verbose');
      const next = one(q, 'next');
      return (reader, id, url) => {
        const page = reader.externalIds(id, { limit, include, next });
        if (!page) throw bad('next', 'is not a cursor this API returned');
        return { data: page.items, cursor: { url, has_more: page.next !== '', next: page.next, limit } };
      };
    }
    case 'events': {
      const sort = one(q, 'sort') ?? 'desc';
      if (sort !== 'asc' && sort !== 'desc') throw bad('sort', `must be asc or desc, got "${sort}"`);
      const query: EventQuery = {
        limit: limitOf(q, 'events'), sort, start: timeOf(q, 'start'), end: timeOf(q, 'end'),
        include: listOf(q, 'include'), exclude: listOf(q, 'exclude'), next: one(q, 'next'),
      };
      return (reader, id, url) => {
        const page = reader.events(id, query);
        if (!page) throw bad('next', 'is not a cursor this API returned');
        return { data: page.items, cursor: { url, has_more: page.next !== '', next: page.next, limit: query.limit } };
      };
    }
    case 'metadata':
      boolOf(q, 'verbose');
      return (reader, id) => ({ metadata: reader.metadata(id) });
    case 'links': {
      const limit = limitOf(q, 'links');
      return (reader, id) => ({ data: reader.links(id, limit) });
    }
  }
}
