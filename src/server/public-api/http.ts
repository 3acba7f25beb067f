import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';

/** Segment's Public API error body: `{errors: [{type, message, field?, status}]}`. */
export interface ApiErrorItem { type: string; message: string; field?: string; status?: number }

export function apiError(reply: FastifyReply, status: number, type: string, message: string, field?: string): FastifyReply {
  return apiErrors(reply, status, [{ type, message, ...(field ? { field } : {}) }]);
}

export function apiErrors(reply: FastifyReply, status: number, errors: ApiErrorItem[]): FastifyReply {
  return reply.code(status).send({ errors: errors.map((e) => ({ ...e, status })) });
}

/** The body as JSON (the app keeps every body as raw bytes), or a 400 already sent. */
export function readJson(req: FastifyRequest, reply: FastifyReply): unknown {
  const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
  if (raw.trim() === '') {
    apiError(reply, 400, 'validation', 'the request needs a JSON body', 'body');
    return undefined;
  }
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    apiError(reply, 400, 'validation', `malformed JSON: ${(err as Error).message}`, 'body');
    return undefined;
  }
}

/** Parses the body with a zod schema; on failure sends 400 naming each bad field and returns undefined. */
export function readBody<T>(req: FastifyRequest, reply: FastifyReply, schema: z.ZodType<T>): T | undefined {
  const json = readJson(req, reply);
  if (json === undefined) return undefined;
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  apiErrors(reply, 400, parsed.error.issues.map((i) => ({
    type: 'validation',
    message: i.code === 'invalid_type' && (i as { input?: unknown }).input === undefined ? 'required' : i.message,
    field: i.path.map(String).join('.') || 'body',
  })));
  return undefined;
}

export interface Page<T> { items: T[]; pagination: { current: string; next: string | null; previous: string | null; totalEntries: number } }

const MAX_COUNT = 200;
const encode = (offset: number) => Buffer.from(String(offset)).toString('base64');

/**
 * Segment's cursor pagination: `pagination[count]` (1-200, default 10) and
 * `pagination[cursor]` (opaque; here the base64 of an offset). Returns the page
 * or an error message naming the bad parameter.
 */
export function pageParams(query: unknown): { offset: number; count: number } | { error: string; field: string } {
  const q = (query ?? {}) as Record<string, string | undefined>;
  const rawCount = q['pagination[count]'] ?? q['pagination.count'];
  const count = rawCount === undefined ? 10 : Number(rawCount);
  if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT) {
    return { error: `pagination[count] must be an integer from 1 to ${MAX_COUNT}`, field: 'pagination.count' };
  }
  const cursor = q['pagination[cursor]'] ?? q['pagination.cursor'];
  if (cursor === undefined || cursor === '') return { offset: 0, count };
  const offset = Number(Buffer.from(cursor, 'base64').toString('utf8'));
  if (!Number.isInteger(offset) || offset < 0) return { error: 'pagination[cursor] is not a cursor this API returned', field: 'pagination.cursor' };
  return { offset, count };
}

export function pageOf<T>(all: readonly T[], p: { offset: number; count: number }): Page<T> {
  return pageFrom(all.slice(p.offset, p.offset + p.count), all.length, p);
}

/** A page whose items were already cut (by SQL LIMIT/OFFSET). */
export function pageFrom<T>(items: T[], total: number, p: { offset: number; count: number }): Page<T> {
  const next = p.offset + p.count < total ? encode(p.offset + p.count) : null;
  const previous = p.offset > 0 ? encode(Math.max(0, p.offset - p.count)) : null;
  return { items, pagination: { current: encode(p.offset), next, previous, totalEntries: total } };
}

/**
 * Reads the page parameters; on a bad one sends 400 and returns undefined.
 */
export function readPage(req: FastifyRequest, reply: FastifyReply): { offset: number; count: number } | undefined {
  const p = pageParams(req.query);
  if ('error' in p) {
    apiError(reply, 400, 'validation', p.error, p.field);
    return undefined;
  }
  return p;
}
