/**
 * The console's only way to the server: the Public API and the operations
 * endpoints, same origin, session cookie. Writes carry the session's CSRF token.
 * Every failure becomes an ApiError holding Segment's `{errors: [...]}` items, so
 * pages show `message` and forms highlight `field`.
 */
export interface ApiErrorItem { type: string; message: string; field?: string; status?: number }

export class ApiError extends Error {
  constructor(readonly status: number, readonly errors: ApiErrorItem[]) {
    super(errors.map((e) => e.message).join('; ') || `HTTP ${status}`);
  }
  /** Messages by field (`settings.urls`, `name`, ...); errors without a field are left out. */
  get fields(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.errors) if (e.field && !(e.field in out)) out[e.field] = e.message;
    return out;
  }
}

let csrfToken: string | null = null;
export const setCsrfToken = (t: string | null) => { csrfToken = t; };

/** Called when the server says the session is gone (401 on an API call): the app shows the sign-in page. */
let onUnauthorized: () => void = () => {};
export const setOnUnauthorized = (fn: () => void) => { onUnauthorized = fn; };

/** Turns any error body (Segment's shape, or the older `{error}` / `{success:false,error}` ones) into items. */
function errorItems(status: number, body: unknown): ApiErrorItem[] {
  const b = body as { errors?: ApiErrorItem[]; error?: string; message?: string } | null;
  if (b && Array.isArray(b.errors) && b.errors.length > 0) return b.errors;
  if (b && typeof b.error === 'string') return [{ type: 'error', message: b.error, status }];
  if (b && typeof b.message === 'string') return [{ type: 'error', message: b.message, status }];
  const hint: Record<number, string> = {
    401: 'Your session ended: sign in again.',
    403: 'Your role does not allow this. Ask a Workspace Owner.',
    404: 'Not found: it may have been deleted, or this server does not have this endpoint yet.',
    503: 'The server is not ready (disk full or still starting). Try again shortly.',
  };
  return [{ type: 'error', message: hint[status] ?? `The server answered HTTP ${status}. Check its log.`, status }];
}

export async function request<T>(method: string, path: string, body?: unknown, opts: { quiet401?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  } catch {
    throw new ApiError(0, [{ type: 'network', message: 'Cannot reach the Switchyard server. Check that it is running and reload.' }]);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text ? { message: text.slice(0, 300) } : null;
  }
  if (!res.ok) {
    if (res.status === 401 && !opts.quiet401) onUnauthorized();
    throw new ApiError(res.status, errorItems(res.status, json));
  }
  return json as T;
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {}),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, body),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, body),
  del: <T>(path: string) => request<T>('DELETE', path),
};

/** `path?pagination[count]=N[&pagination[cursor]=C]` plus other query parameters. */
export function paged(path: string, count: number, cursor?: string | null, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams(extra);
  q.set('pagination[count]', String(count));
  if (cursor) q.set('pagination[cursor]', cursor);
  return `${path}?${q.toString()}`;
}

export interface Pagination { current: string; next: string | null; previous: string | null; totalEntries: number }
