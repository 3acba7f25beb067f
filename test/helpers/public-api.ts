import assert from 'node:assert/strict';

/** What the official Public API client rejects with: the status and Segment's error list. */
export type ApiError = { statusCode?: number; body?: { errors: { type: string; message: string; field?: string }[] } };

/** Asserts that a client call fails with `status` and a first error that passes `check`. */
export const rejects = (p: Promise<unknown>, status: number, check: (e: NonNullable<ApiError['body']>['errors'][number]) => boolean) =>
  assert.rejects(p, (err: ApiError) => err.statusCode === status && !!err.body?.errors[0] && check(err.body.errors[0]));

/** An API class of the official client, pointed at a server with a Bearer token. */
export function client<T extends { accessToken: string | (() => string) }>(Api: new (basePath?: string) => T, url: string, token: string): T {
  const api = new Api(url);
  api.accessToken = token;
  return api;
}
