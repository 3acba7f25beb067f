import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, api } from '../api';
import { asApiError, useAction, useApi } from '../hooks';
import { navigate } from '../router';
import type { SelectiveSyncItem, Source, Warehouse, WarehouseValidation } from '../types';
import { Empty, ErrorBox, Field, Loading, Page, Table } from '../ui';

/**
 * Warehouse writes through the Public API (`WarehousesApi`, `SelectiveSyncApi`):
 * adding a DuckDB or PostgreSQL warehouse, connecting sources and selective sync.
 * Only workspace owners change warehouses, and never those the workspace file
 * declares (the API answers 403 and 409): the console offers neither.
 */

const enc = encodeURIComponent;

/** What the console may change on a warehouse, and why not. */
export interface WarehouseAccess {
  /** Known yet (false while the console asks the server). */
  known: boolean;
  canEdit: boolean;
  /** Declared in the workspace file (the API answers 409 to writes). */
  file: boolean;
  /** Why edits are not offered (shown where they would be). */
  reason?: ReactNode;
  /** A write answered 409: the warehouse belongs to the workspace file. */
  conflict: () => void;
}

/**
 * Whether this warehouse may be changed here: the view's `origin` says who owns it
 * (the workspace file's answer 409 to writes); a 409 met later (the file took it
 * over meanwhile) switches the page to read-only too.
 */
export function useWarehouseAccess(w: Warehouse | undefined, writable: boolean): WarehouseAccess {
  const [conflicted, setConflicted] = useState(false);
  const file = w?.origin === 'file' || conflicted;
  const reason = file
    ? <>Declared in the workspace file: change it there (the file is the source of truth for what it declares).</>
    : !writable ? <>Only workspace owners change warehouses.</> : undefined;
  return { known: w !== undefined, canEdit: writable && w !== undefined && !file, file, reason, conflict: () => setConflicted(true) };
}

/** Sends 409s of an action to the access state (a warehouse the workspace file took over meanwhile). */
function useConflict(error: ApiError | undefined, access: WarehouseAccess) {
  const { conflict } = access;
  useEffect(() => { if (error?.status === 409) conflict(); }, [error, conflict]);
}

/** An error without the items shown under fields (null when nothing is left). */
function unshown(error: ApiError | undefined, shown: Set<string>): ApiError | undefined {
  if (!error) return undefined;
  const rest = error.errors.filter((e) => !e.field || !shown.has(e.field));
  return rest.length > 0 ? new ApiError(error.status, rest) : undefined;
}

const TYPES = [
  { id: 'duckdb', name: 'DuckDB', description: 'An embedded DuckDB file in the data directory; released between syncs so any DuckDB client can open it.', interval: 60 },
  { id: 'postgres', name: 'PostgreSQL', description: 'A PostgreSQL database: one schema per source, Segment\'s tables and column types.', interval: 3600 },
] as const;
type WarehouseKind = (typeof TYPES)[number]['id'];

export function AddWarehouse() {
  const [kind, setKind] = useState<WarehouseKind | null>(null);
  const [name, setName] = useState('');
  const [path, setPath] = useState('');
  const [pgMode, setPgMode] = useState<'fields' | 'url'>('fields');
  const [pg, setPg] = useState({ hostname: '', port: '5432', database: '', username: '', password: '', ssl: false, url: '' });
  const [every, setEvery] = useState('');
  const test = useAction();
  const save = useAction();
  const [result, setResult] = useState<WarehouseValidation | null>(null);
  const type = TYPES.find((t) => t.id === kind);

  const settings = (): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    const put = (k: string, v: string) => { if (v.trim()) out[k] = v.trim(); };
    if (kind === 'duckdb') put('path', path);
    else if (pgMode === 'url') put('url', pg.url);
    else {
      put('hostname', pg.hostname);
      if (pg.port.trim()) out.port = Number(pg.port);
      put('database', pg.database);
      put('username', pg.username);
      if (pg.password) out.password = pg.password;
      if (pg.ssl) out.ssl = true;
    }
    if (every.trim()) out.syncIntervalSeconds = Number(every);
    return out;
  };
  const pick = (k: WarehouseKind) => { setKind(k); setResult(null); test.clear(); save.clear(); };
  const testConnection = async () => {
    save.clear();
    setResult(null);
    const r = await test.run(() => api.post<{ data: WarehouseValidation }>('/warehouses/validation', { metadataId: kind, settings: settings() }));
    if (r) setResult(r.data);
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    test.clear();
    const created = await save.run(() => api.post<{ data: { warehouse: Warehouse } }>('/warehouses', {
      metadataId: kind, enabled: true, settings: settings(), ...(name.trim() ? { name: name.trim() } : {}),
    }));
    if (created) navigate(`/storage/warehouses/${enc(created.data.warehouse.id)}?tab=sources`);
  };

  const error = save.error ?? test.error;
  const f = error?.fields ?? {};
  const keys = kind === 'duckdb' ? ['path'] : pgMode === 'url' ? ['url'] : ['hostname', 'port', 'database', 'username', 'password', 'ssl'];
  const shown = new Set(['name', ...[...keys, 'syncIntervalSeconds'].map((k) => `settings.${k}`)]);
  const general = unshown(error, shown);
  const pgField = (key: 'hostname' | 'database' | 'username', label: string, hint?: string) => (
    <Field label={label} error={f[`settings.${key}`]} hint={hint} required={key !== 'username'}>
      {(p) => <input {...p} name={key} autoComplete="off" value={pg[key]} onChange={(e) => setPg({ ...pg, [key]: e.target.value })} />}
    </Field>
  );

  return (
    <Page title="Add a warehouse" back={{ to: '/storage', label: 'Storage' }}>
      <fieldset className="catalog-pick">
        <legend>1. Where should the events go?</legend>
        <div className="cards small">
          {TYPES.map((t) => (
            <button type="button" key={t.id} className={`card pick${kind === t.id ? ' selected' : ''}`} aria-pressed={kind === t.id} onClick={() => pick(t.id)}>
              <strong>{t.name}</strong>
              <span className="muted small">{t.description}</span>
            </button>
          ))}
        </div>
      </fieldset>
      {type && (
        <form className="panel" onSubmit={(e) => void submit(e)} noValidate>
          <h2>2. Connect your {type.name} warehouse</h2>
          <Field label="Name" error={f.name} hint={`Shown in the console. Default: ${type.name}.`}>
            {(p) => <input {...p} name="name" value={name} onChange={(e) => setName(e.target.value)} />}
          </Field>
          {kind === 'duckdb' && (
            <Field label="Path" error={f['settings.path']} hint="The DuckDB file, absolute or relative to the server's data directory, e.g. warehouse.duckdb." required>
              {(p) => <input {...p} name="path" autoComplete="off" value={path} placeholder="warehouse.duckdb" onChange={(e) => setPath(e.target.value)} />}
            </Field>
          )}
          {kind === 'postgres' && (
            <>
              <div className="segmented" role="group" aria-label="Connect with">
                <button type="button" className="btn small" aria-pressed={pgMode === 'fields'} onClick={() => setPgMode('fields')}>Host and database</button>
                <button type="button" className="btn small" aria-pressed={pgMode === 'url'} onClick={() => setPgMode('url')}>Connection URL</button>
              </div>
              {pgMode === 'url' ? (
                <Field label="URL" error={f['settings.url']} hint="postgres://user:password@host:5432/database (encrypted at rest; the password is never shown again)." required>
                  {(p) => <input {...p} name="url" type="password" autoComplete="new-password" value={pg.url} onChange={(e) => setPg({ ...pg, url: e.target.value })} />}
                </Field>
              ) : (
                <>
                  <div className="row">
                    {pgField('hostname', 'Hostname')}
                    <Field label="Port" error={f['settings.port']}>
                      {(p) => <input {...p} name="port" type="number" inputMode="numeric" min={1} max={65535} value={pg.port} onChange={(e) => setPg({ ...pg, port: e.target.value })} />}
                    </Field>
                  </div>
                  {pgField('database', 'Database')}
                  <div className="row">
                    {pgField('username', 'Username')}
                    <Field label="Password" error={f['settings.password']} hint="Encrypted at rest, never shown again.">
                      {(p) => <input {...p} name="password" type="password" autoComplete="new-password" value={pg.password} onChange={(e) => setPg({ ...pg, password: e.target.value })} />}
                    </Field>
                  </div>
                  <div className={`field check start${f['settings.ssl'] ? ' invalid' : ''}`}>
                    <label><input type="checkbox" name="ssl" checked={pg.ssl} onChange={(e) => setPg({ ...pg, ssl: e.target.checked })} /> Require TLS (sslmode=require)</label>
                    {f['settings.ssl'] && <small className="field-error">{f['settings.ssl']}</small>}
                  </div>
                </>
              )}
            </>
          )}
          <Field label="Sync interval (seconds)" error={f['settings.syncIntervalSeconds']} hint={`How often new events are loaded. Default: ${type.interval}.`}>
            {(p) => <input {...p} name="syncIntervalSeconds" type="number" inputMode="numeric" min={1} placeholder={String(type.interval)} value={every} onChange={(e) => setEvery(e.target.value)} />}
          </Field>
          {result && (result.status === 'CONNECTED'
            ? <p className="notice ok" role="status">Connection test passed: Switchyard can reach this warehouse.</p>
            : <div className="error-box" role="alert"><strong>Connection test failed</strong><p>{result.message ?? result.status}</p></div>)}
          <ErrorBox error={general} what={save.error ? 'Could not add the warehouse' : 'Could not test the connection'} />
          {error && !general && <p className="field-error" role="alert">Check the highlighted fields.</p>}
          <div className="form-actions">
            <button type="button" className="btn" onClick={() => void testConnection()} disabled={test.busy || save.busy}>{test.busy ? 'Testing…' : 'Test connection'}</button>
            <button type="submit" className="btn primary" disabled={save.busy || test.busy}>{save.busy ? 'Saving…' : 'Save warehouse'}</button>
          </div>
        </form>
      )}
    </Page>
  );
}

/** `GET /warehouses/:id/connected-sources`, with connect and disconnect for owners. */
export function ConnectedSources({ id, access, onChange }: { id: string; access: WarehouseAccess; onChange?: () => void }) {
  const base = `/warehouses/${enc(id)}/connected-sources`;
  const connected = useApi<{ data: { sources: Source[] } }>(`${base}?pagination[count]=200`);
  const all = useApi<{ data: { sources: Source[] } }>(access.canEdit ? '/sources?pagination[count]=200' : null);
  const [pick, setPick] = useState('');
  const add = useAction();
  const remove = useAction();
  const [removing, setRemoving] = useState<string>();
  useConflict(add.error, access);
  useConflict(remove.error, access);
  const list = connected.data?.data.sources ?? [];
  const ids = new Set(list.map((s) => s.id));
  const others = (all.data?.data.sources ?? []).filter((s) => !ids.has(s.id));
  const label = (s: Source) => s.name || s.slug;

  const connect = async (e: FormEvent) => {
    e.preventDefault();
    if (!pick) return;
    if (await add.run(async () => { await api.post(`${base}/${enc(pick)}`); return true; })) { setPick(''); connected.reload(); onChange?.(); }
  };
  const disconnect = async (s: Source) => {
    if (!window.confirm(`Disconnect ${label(s)}? Its events stop loading into this warehouse; the tables already loaded stay.`)) return;
    setRemoving(s.id);
    if (await remove.run(async () => { await api.del(`${base}/${enc(s.id)}`); return true; })) { connected.reload(); onChange?.(); }
    setRemoving(undefined);
  };
  const fa = add.error?.fields ?? {};
  return (
    <section className="panel">
      <h2>Connected sources</h2>
      <p className="muted small">Every event of a connected source is loaded into this warehouse, in a schema named after the source's slug.</p>
      {access.reason && <p className="notice" data-testid="warehouse-readonly">{access.reason}</p>}
      <ErrorBox error={connected.error} onRetry={connected.reload} what="Could not load the connected sources" />
      {!connected.data && connected.loading && <Loading />}
      {connected.data && list.length === 0 && <Empty title="No sources connected"><p>{access.canEdit ? 'Connect a source below to start loading its events.' : 'Nothing is loaded into this warehouse yet.'}</p></Empty>}
      {list.length > 0 && (
        <Table label="Connected sources">
          <thead><tr><th>Source</th><th>Slug</th>{access.canEdit && <th><span className="sr-only">Actions</span></th>}</tr></thead>
          <tbody>{list.map((s) => (
            <tr key={s.id}>
              <td>{label(s)}</td><td><code>{s.slug}</code></td>
              {access.canEdit && <td className="num"><button type="button" className="btn small danger" aria-label={`Disconnect ${label(s)}`} disabled={remove.busy && removing === s.id} onClick={() => void disconnect(s)}>Disconnect</button></td>}
            </tr>
          ))}</tbody>
        </Table>
      )}
      <ErrorBox error={remove.error} what="Could not disconnect the source" />
      {access.canEdit && (
        <form className="inline connect-source" onSubmit={(e) => void connect(e)}>
          <Field label="Source to connect" error={fa.sourceId}>
            {(p) => (
              <select {...p} name="sourceId" value={pick} onChange={(e) => setPick(e.target.value)} disabled={all.loading && !all.data}>
                <option value="">{others.length === 0 && all.data ? 'Every source is connected' : 'Choose a source…'}</option>
                {others.map((s) => <option key={s.id} value={s.id}>{label(s)}</option>)}
              </select>
            )}
          </Field>
          <button type="submit" className="btn primary" disabled={!pick || add.busy}>{add.busy ? 'Connecting…' : 'Connect source'}</button>
        </form>
      )}
      <ErrorBox error={all.error} what="Could not list sources" />
      <ErrorBox error={unshown(add.error, new Set(['sourceId']))} what="Could not connect the source" />
    </section>
  );
}

interface Collection { collection: string; enabled: boolean; columnsOff: string[] }

/**
 * Selective sync per connected source: every table seen in its syncs or with an
 * override, each with a switch (`PATCH /warehouses/:id/selective-sync`), and a form
 * to turn off a table that has not been loaded yet.
 */
export function SelectiveSyncEditor({ id, access }: { id: string; access: WarehouseAccess }) {
  const connected = useApi<{ data: { sources: Source[] } }>(`/warehouses/${enc(id)}/connected-sources?pagination[count]=200`);
  const [tick, setTick] = useState(0);
  const [items, setItems] = useState<{ source: Source; collections: Collection[] }[] | null>(null);
  const [error, setError] = useState<ApiError>();
  const toggle = useAction();
  const add = useAction();
  const [busyKey, setBusyKey] = useState<string>();
  const [form, setForm] = useState({ sourceId: '', collection: '' });
  useConflict(toggle.error, access);
  useConflict(add.error, access);

  useEffect(() => {
    const sources = connected.data?.data.sources;
    if (!sources) return;
    let live = true;
    Promise.all(sources.map(async (source) => {
      const [overrides, syncs] = await Promise.all([
        api.get<{ data: { items: SelectiveSyncItem[] } }>(`/warehouses/${enc(id)}/connected-sources/${enc(source.id)}/selective-syncs?pagination[count]=200`),
        // The loader's history names the tables a sync loaded (absent for a disabled warehouse).
        api.get<{ data: { syncs: { rows: Record<string, number> }[] } }>(`/api/v1/warehouses/${enc(id)}/syncs?sourceId=${enc(source.id)}&limit=200`).catch(() => ({ data: { syncs: [] } })),
      ]);
      const by = new Map<string, Collection>();
      for (const s of syncs.data.syncs) for (const t of Object.keys(s.rows)) by.set(t, { collection: t, enabled: true, columnsOff: [] });
      for (const o of overrides.data.items) {
        by.set(o.collection, { collection: o.collection, enabled: o.enabled, columnsOff: Object.entries(o.properties).filter(([, on]) => !on).map(([p]) => p) });
      }
      return { source, collections: [...by.values()].sort((a, b) => a.collection.localeCompare(b.collection)) };
    })).then((x) => { if (live) { setItems(x); setError(undefined); } }, (e: unknown) => live && setError(asApiError(e)));
    return () => { live = false; };
  }, [connected.data, id, tick]);

  const patch = (sourceId: string, collection: string, enabled: boolean) =>
    api.patch(`/warehouses/${enc(id)}/selective-sync`, { syncOverrides: [{ sourceId, collection, enabled }] });
  const set = async (sourceId: string, collection: string, enabled: boolean) => {
    setBusyKey(`${sourceId}\0${collection}`);
    const ok = await toggle.run(async () => { await patch(sourceId, collection, enabled); return true; });
    setBusyKey(undefined);
    if (ok) setItems((prev) => prev && prev.map((x) => x.source.id !== sourceId ? x : { ...x, collections: x.collections.map((c) => (c.collection === collection ? { ...c, enabled } : c)) }));
  };
  const turnOff = async (e: FormEvent) => {
    e.preventDefault();
    const sourceId = form.sourceId || (connected.data?.data.sources[0]?.id ?? '');
    if (await add.run(async () => { await patch(sourceId, form.collection.trim(), false); return true; })) {
      setForm({ ...form, collection: '' });
      setTick((n) => n + 1);
    }
  };

  if (connected.error) return <ErrorBox error={connected.error} onRetry={connected.reload} what="Could not load the connected sources" />;
  if (error) return <ErrorBox error={error} onRetry={() => setTick((n) => n + 1)} what="Could not load selective sync" />;
  if (!items) return <Loading />;
  const rows = items.flatMap(({ source, collections }) => collections.map((c) => ({ source, ...c })));
  const fa = add.error?.fields ?? {};
  return (
    <section className="panel">
      <h2>Selective sync</h2>
      <p className="muted small">Everything syncs except what is turned off here. A table turned off stops loading from the next sync; turned back on, it loads the events that arrive from then on.</p>
      {access.reason && <p className="notice" data-testid="warehouse-readonly">{access.reason}{access.file ? <> Selective sync is its <code>syncOverrides</code>.</> : null}</p>}
      {items.length === 0 ? <Empty title="No sources connected"><p>Connect a source first: its tables appear here after its first sync.</p></Empty>
        : rows.length === 0 ? <Empty title="No tables yet"><p>The tables of the connected sources appear here after their first sync. Everything syncs.</p></Empty> : (
          <Table label="Selective sync">
            <thead><tr><th>Source</th><th>Table</th><th>Syncs</th><th>Columns off</th></tr></thead>
            <tbody>{rows.map((r) => {
              const name = r.source.name || r.source.slug;
              return (
                <tr key={`${r.source.id}-${r.collection}`}>
                  <td>{name}</td><td><code>{r.collection}</code></td>
                  <td>
                    <button type="button" role="switch" aria-checked={r.enabled} aria-label={`Sync ${r.collection} from ${name}`} title={access.canEdit ? undefined : 'Read-only here'}
                      className={`switch${r.enabled ? ' on' : ''}`} disabled={!access.canEdit || busyKey === `${r.source.id}\0${r.collection}`} onClick={() => void set(r.source.id, r.collection, !r.enabled)}>
                      <span className="knob" aria-hidden="true" /><span aria-hidden="true">{r.enabled ? 'On' : 'Off'}</span>
                    </button>
                  </td>
                  <td>{r.columnsOff.length === 0 ? <span className="muted">–</span> : r.columnsOff.map((p) => <code key={p} className="chip">{p}</code>)}</td>
                </tr>
              );
            })}</tbody>
          </Table>
        )}
      <ErrorBox error={toggle.error} what="Could not change selective sync" />
      {access.canEdit && items.length > 0 && (
        <form className="inline turn-off" onSubmit={(e) => void turnOff(e)}>
          {items.length > 1 && (
            <Field label="Source" error={fa['syncOverrides.0.sourceId']}>
              {(p) => <select {...p} value={form.sourceId || items[0]!.source.id} onChange={(e) => setForm({ ...form, sourceId: e.target.value })}>{items.map(({ source }) => <option key={source.id} value={source.id}>{source.name || source.slug}</option>)}</select>}
            </Field>
          )}
          <Field label="Table to turn off" error={fa['syncOverrides.0.collection']} hint="Before it is first loaded, e.g. pages or order_completed.">
            {(p) => <input {...p} name="collection" value={form.collection} onChange={(e) => setForm({ ...form, collection: e.target.value })} />}
          </Field>
          <button type="submit" className="btn" disabled={add.busy || !form.collection.trim()}>Turn off</button>
        </form>
      )}
      <ErrorBox error={unshown(add.error, new Set(['syncOverrides.0.sourceId', 'syncOverrides.0.collection']))} what="Could not turn the table off" />
    </section>
  );
}
