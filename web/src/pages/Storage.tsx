import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api';
import { BarChart } from '../charts';
import { asApiError, useAction, useApi } from '../hooks';
import { Link, navigate } from '../router';
import { canWrite, useSession } from '../session';
import type { Source, Warehouse } from '../types';
import { Empty, ErrorBox, Loading, Page, Status, Table, Tabs, fmtNumber, fmtTime } from '../ui';
import { useSourceNames } from './Destinations';
import { AddWarehouse, ConnectedSources, SelectiveSyncEditor, useWarehouseAccess } from './WarehouseEdit';
import type { ApiError } from '../api';

export default function Storage({ kind, id, tab }: { kind?: string; id?: string; tab?: string }) {
  if (kind === 'new') return <AddWarehouse />;
  if (kind === 'warehouses' && id) return <WarehouseDetail id={id} tab={tab ?? 'syncs'} />;
  if (kind === 'lakes' && id) return <LakeDetail id={id} tab={tab ?? 'syncs'} />;
  return <StorageList />;
}

/**
 * Warehouses from the Public API: `GET /warehouses`, or when this server does not list them,
 * each source's `GET /sources/:id/connected-warehouses`.
 */
function useWarehouses(): { items: Warehouse[]; error?: ApiError; loading: boolean } {
  const [state, setState] = useState<{ items: Warehouse[]; error?: ApiError; loading: boolean }>({ items: [], loading: true });
  useEffect(() => {
    let live = true;
    (async () => {
      try {
        const r = await api.get<{ data: { warehouses: Warehouse[] } }>('/warehouses?pagination[count]=200');
        return r.data.warehouses;
      } catch (e) {
        if (asApiError(e).status !== 404) throw e;
        const sources = (await api.get<{ data: { sources: Source[] } }>('/sources?pagination[count]=200')).data.sources;
        const seen = new Map<string, Warehouse>();
        for (const s of sources) {
          const r = await api.get<{ data: { warehouses: Warehouse[] } }>(`/sources/${encodeURIComponent(s.id)}/connected-warehouses?pagination[count]=200`).catch(() => ({ data: { warehouses: [] } }));
          for (const w of r.data.warehouses) seen.set(w.id, w);
        }
        return [...seen.values()];
      }
    })().then((items) => live && setState({ items, loading: false }), (e: unknown) => live && setState({ items: [], loading: false, error: asApiError(e) }));
    return () => { live = false; };
  }, []);
  return state;
}

function StorageList() {
  const wh = useWarehouses();
  const { user, open } = useSession();
  const add = canWrite(user, open) ? <Link className="btn primary" to="/storage/new">Add warehouse</Link> : null;
  const lakes = useApi<{ data: { dataLakes: { id: string; name?: string; enabled?: boolean }[] } }>('/api/v1/data-lakes');
  const [lakeId, setLakeId] = useState('');
  const openLake = (e: FormEvent) => { e.preventDefault(); if (lakeId.trim()) navigate(`/storage/lakes/${encodeURIComponent(lakeId.trim())}`); };
  return (
    <Page title="Storage" actions={add}>
      <p className="muted">Warehouses (DuckDB, PostgreSQL) and data lakes (Parquet) receive every event of their sources in Segment's schema, on a schedule. Add warehouses here, or declare them under <code>warehouses:</code> (and data lakes under <code>dataLakes:</code>) in the workspace file.</p>
      <section className="panel">
        <h2>Warehouses</h2>
        {wh.loading && <Loading label="Loading warehouses…" />}
        <ErrorBox error={wh.error} what="Could not list warehouses" />
        {!wh.loading && !wh.error && wh.items.length === 0 && <Empty title="No warehouses"><p>Add one here, or declare it in the workspace file (<code>warehouses: [{'{'} id: local, type: duckdb, sources: [web-prod] {'}'}]</code>); it appears here once the server applies the file.</p>{add}</Empty>}
        {wh.items.length > 0 && (
          <Table label="Warehouses">
            <thead><tr><th>Warehouse</th><th>Type</th><th>Status</th></tr></thead>
            <tbody>{wh.items.map((w) => (
              <tr key={w.id}><td><Link to={`/storage/warehouses/${encodeURIComponent(w.id)}`}>{w.name ?? w.metadata?.name ?? w.id}</Link><div className="muted small">{w.id}</div></td><td>{w.type ?? w.metadata?.slug ?? w.metadata?.name ?? '–'}</td><td>{w.enabled === undefined ? '–' : <Status on={w.enabled} />}</td></tr>
            ))}</tbody>
          </Table>
        )}
      </section>
      <section className="panel">
        <h2>Data lakes</h2>
        {lakes.loading && <Loading label="Loading data lakes…" />}
        {lakes.data && lakes.data.data.dataLakes.length === 0 && <Empty title="No data lakes"><p>Declare one under <code>dataLakes:</code> in the workspace file.</p></Empty>}
        {lakes.data && lakes.data.data.dataLakes.length > 0 && (
          <Table label="Data lakes">
            <thead><tr><th>Data lake</th><th>Status</th></tr></thead>
            <tbody>{lakes.data.data.dataLakes.map((l) => <tr key={l.id}><td><Link to={`/storage/lakes/${encodeURIComponent(l.id)}`}>{l.name ?? l.id}</Link></td><td>{l.enabled === undefined ? '–' : <Status on={l.enabled} />}</td></tr>)}</tbody>
          </Table>
        )}
        {lakes.error && lakes.error.status !== 404 && <ErrorBox error={lakes.error} what="Could not list data lakes" />}
        {lakes.error?.status === 404 && <p className="muted small">This server does not list data lakes: open one by its id from the workspace file.</p>}
        <form className="inline" onSubmit={openLake}>
          <label>Data lake id <input value={lakeId} onChange={(e) => setLakeId(e.target.value)} placeholder="lake" /></label>
          <button type="submit" className="btn small">Open</button>
        </form>
      </section>
    </Page>
  );
}

interface SyncRecord { runId: string; sourceId: string; startedAt: string; finishedAt: string; status: 'success' | 'failed'; rows: Record<string, number>; error: string | null }

function WarehouseDetail({ id, tab }: { id: string; tab: string }) {
  const base = `/api/v1/warehouses/${encodeURIComponent(id)}`;
  const res = useApi<{ data: { warehouse: Warehouse } }>(`/warehouses/${encodeURIComponent(id)}`);
  const w = res.data?.data.warehouse;
  const { user, open } = useSession();
  const access = useWarehouseAccess(w, canWrite(user, open));
  const sync = useAction();
  const [tick, setTick] = useState(0);
  const syncNow = async () => { if (await sync.run(() => api.post(`${base}/sync`))) setTick(tick + 1); };
  const tabs = [{ id: 'syncs', label: 'Sync history' }, { id: 'sources', label: 'Sources' }, { id: 'health', label: 'Health' }, { id: 'selective', label: 'Selective sync' }];
  return (
    <Page title={w?.name ?? `Warehouse ${id}`} back={{ to: '/storage', label: 'Storage' }} actions={<button type="button" className="btn primary" onClick={() => void syncNow()} disabled={sync.busy}>{sync.busy ? 'Syncing…' : 'Sync now'}</button>}>
      {w && (
        <p className="muted">{w.metadata?.name ?? w.type ?? 'Warehouse'} · <code>{w.id}</code>{w.enabled !== undefined && <> · <Status on={w.enabled} /></>}
          {access.file && <> · <span className="badge" title="Change it in the workspace file">Declared in the workspace file</span></>}</p>
      )}
      {/* An older server without GET /warehouses/:id still has the loader's endpoints below. */}
      {res.error && res.error.status !== 404 && <ErrorBox error={res.error} onRetry={res.reload} what="Could not load this warehouse" />}
      <ErrorBox error={sync.error} what="The sync could not run" />
      <Tabs base={`/storage/warehouses/${encodeURIComponent(id)}`} active={tab} tabs={tabs} />
      {tab === 'syncs' && <WarehouseSyncs key={tick} base={base} />}
      {tab === 'sources' && <ConnectedSources id={id} access={access} />}
      {tab === 'health' && <WarehouseHealth key={tick} base={base} />}
      {tab === 'selective' && (w || res.error ? <SelectiveSyncEditor key={tick} id={id} access={access} /> : <Loading />)}
    </Page>
  );
}

function WarehouseSyncs({ base }: { base: string }) {
  const res = useApi<{ data: { syncs: SyncRecord[] } }>(`${base}/syncs?limit=100`, { pollMs: 10000 });
  const names = useSourceNames();
  if (!res.data) return res.loading ? <Loading /> : <ErrorBox error={res.error} onRetry={res.reload} what="Could not load the sync history" />;
  const syncs = res.data.data.syncs;
  if (syncs.length === 0) return <Empty title="No syncs yet"><p>The first sync runs on the warehouse's schedule, or now with “Sync now”.</p></Empty>;
  return (
    <Table label="Sync history">
      <thead><tr><th>Started</th><th>Source</th><th>Status</th><th className="num">Duration</th><th className="num">Rows</th><th>Tables / error</th></tr></thead>
      <tbody>{syncs.map((s) => (
        <tr key={`${s.runId}-${s.sourceId}`}>
          <td>{fmtTime(s.startedAt)}</td><td>{names.get(s.sourceId) ?? s.sourceId}</td>
          <td><span className={`badge ${s.status === 'success' ? 'ok' : 'bad'}`}>{s.status}</span></td>
          <td className="num">{((Date.parse(s.finishedAt) - Date.parse(s.startedAt)) / 1000).toFixed(1)} s</td>
          <td className="num">{fmtNumber(Object.values(s.rows).reduce((a, b) => a + b, 0))}</td>
          <td className="small">{s.error ? <span className="field-error">{s.error}</span> : Object.entries(s.rows).map(([t, n]) => `${t} ${n}`).join(', ') || '–'}</td>
        </tr>
      ))}</tbody>
    </Table>
  );
}

function WarehouseHealth({ base }: { base: string }) {
  const res = useApi<{ data: { days: { day: string; sourceId: string; rows: number }[] } }>(`${base}/health`);
  if (!res.data) return res.loading ? <Loading /> : <ErrorBox error={res.error} onRetry={res.reload} what="Could not load health" />;
  const byDay = new Map<string, number>();
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  for (let i = 29; i >= 0; i--) byDay.set(new Date(today - i * 86_400_000).toISOString().slice(0, 10), 0);
  for (const d of res.data.data.days) byDay.set(d.day, (byDay.get(d.day) ?? 0) + d.rows);
  return (
    <section className="panel">
      <h2>Rows synced per day (30 days)</h2>
      <BarChart unit="rows" label="Rows synced per day" points={[...byDay].map(([day, value]) => ({ label: day.slice(5), value }))} />
    </section>
  );
}

interface LakeSync { runId: string; sourceId: string; status: 'finished' | 'failed'; startedAt: string; finishedAt: string; durationSeconds: number; rows: number; collections: Record<string, number>; error: string | null; errorCode: string | null }
interface LakeHealth { today: { day: string; rows: number; collections: number }; days: { day: string; rows: number; collections: { collection: string; rows: number; percent: number }[] }[] }

function LakeDetail({ id, tab }: { id: string; tab: string }) {
  const base = `/api/v1/data-lakes/${encodeURIComponent(id)}`;
  const syncs = useApi<{ data: { syncs: LakeSync[] } }>(`${base}/syncs`, { pollMs: 10000 });
  const health = useApi<{ data: LakeHealth }>(`${base}/health`);
  const names = useSourceNames();
  const sync = useAction();
  const syncNow = async () => { if (await sync.run(() => api.post(`${base}/sync`))) { syncs.reload(); health.reload(); } };
  return (
    <Page title={`Data lake ${id}`} back={{ to: '/storage', label: 'Storage' }} actions={<button type="button" className="btn primary" onClick={() => void syncNow()} disabled={sync.busy}>{sync.busy ? 'Syncing…' : 'Sync now'}</button>}>
      <ErrorBox error={sync.error} what="The sync could not run" />
      <Tabs base={`/storage/lakes/${encodeURIComponent(id)}`} active={tab} tabs={[{ id: 'syncs', label: 'Sync history' }, { id: 'health', label: 'Health' }]} />
      {tab === 'syncs' && (!syncs.data ? (syncs.loading ? <Loading /> : <ErrorBox error={syncs.error} onRetry={syncs.reload} what="Could not load the sync history" />) : syncs.data.data.syncs.length === 0 ? <Empty title="No syncs yet" /> : (
        <Table label="Sync reports">
          <thead><tr><th>Started</th><th>Source</th><th>Status</th><th className="num">Duration</th><th className="num">Rows</th><th>Collections / error</th></tr></thead>
          <tbody>{syncs.data.data.syncs.map((s) => (
            <tr key={`${s.runId}-${s.sourceId}`}><td>{fmtTime(s.startedAt)}</td><td>{names.get(s.sourceId) ?? s.sourceId}</td>
              <td><span className={`badge ${s.status === 'finished' ? 'ok' : 'bad'}`}>{s.status}</span></td><td className="num">{s.durationSeconds.toFixed(1)} s</td><td className="num">{fmtNumber(s.rows)}</td>
              <td className="small">{s.error ? <span className="field-error">{s.errorCode}: {s.error}</span> : Object.entries(s.collections).map(([c, n]) => `${c} ${n}`).join(', ')}</td></tr>
          ))}</tbody>
        </Table>
      ))}
      {tab === 'health' && (!health.data ? (health.loading ? <Loading /> : <ErrorBox error={health.error} onRetry={health.reload} />) : (
        <section className="panel">
          <p>Today: <strong>{fmtNumber(health.data.data.today.rows)}</strong> rows in {health.data.data.today.collections} collections.</p>
          <BarChart unit="rows" label="Rows synced per day (30 days)" points={health.data.data.days.map((d) => ({ label: d.day.slice(5), value: d.rows, detail: d.collections.slice(0, 3).map((c) => `${c.collection} ${c.percent}%`).join(', ') }))} />
        </section>
      ))}
    </Page>
  );
}
