import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, api, paged, type Pagination } from './api';

export interface Loaded<T> { data: T | undefined; error: ApiError | undefined; loading: boolean; reload: () => void }

/** GETs `path` (null: nothing yet), again on `reload()` and every `pollMs` if given. */
export function useApi<T>(path: string | null, opts: { pollMs?: number } = {}): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: path !== null });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  useEffect(() => {
    if (path === null) return;
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    api.get<T>(path).then(
      (data) => live && setState({ data, loading: false }),
      (error: unknown) => live && setState((s) => ({ data: s.data, error: asApiError(error), loading: false })),
    );
    return () => { live = false; };
  }, [path, tick]);
  useEffect(() => {
    if (!opts.pollMs || path === null) return;
    const t = setInterval(reload, opts.pollMs);
    return () => clearInterval(t);
  }, [opts.pollMs, path, reload]);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

export function asApiError(e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError(0, [{ type: 'error', message: e instanceof Error ? e.message : String(e) }]);
}

/** A cursor-paginated list (`data[key]`, `data.pagination`) with "load more". */
export function usePaged<T>(path: string | null, key: string, count = 50, extra: Record<string, string> = {}) {
  const [items, setItems] = useState<T[]>([]);
  const [pagination, setPagination] = useState<Pagination | null>(null);
  const [error, setError] = useState<ApiError>();
  const [loading, setLoading] = useState(path !== null);
  const [tick, setTick] = useState(0);
  const extraKey = JSON.stringify(extra);
  const gen = useRef(0);
  const load = useCallback(async (cursor: string | null, append: boolean) => {
    if (path === null) return;
    const mine = ++gen.current;
    setLoading(true);
    try {
      const res = await api.get<{ data: Record<string, unknown> & { pagination?: Pagination } }>(paged(path, count, cursor, JSON.parse(extraKey) as Record<string, string>));
      if (mine !== gen.current) return;
      const list = (res.data[key] as T[] | undefined) ?? [];
      setItems((prev) => (append ? [...prev, ...list] : list));
      setPagination(res.data.pagination ?? null);
      setError(undefined);
    } catch (e) {
      if (mine === gen.current) setError(asApiError(e));
    } finally {
      if (mine === gen.current) setLoading(false);
    }
  }, [path, key, count, extraKey]);
  useEffect(() => { void load(null, false); }, [load, tick]);
  return {
    items, pagination, error, loading,
    reload: () => setTick((n) => n + 1),
    more: pagination?.next ? () => void load(pagination.next, true) : undefined,
  };
}

/** Runs an async action with busy/error state for buttons and forms. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();
  const run = useCallback(async <R,>(fn: () => Promise<R>): Promise<R | undefined> => {
    setBusy(true);
    setError(undefined);
    try {
      return await fn();
    } catch (e) {
      setError(asApiError(e));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, clear: () => setError(undefined) };
}
