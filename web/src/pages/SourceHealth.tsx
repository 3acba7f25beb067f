import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { useAction, useApi } from '../hooks';
import type { Source } from '../types';
import { ErrorBox, Field, fmtNumber } from '../ui';

interface Ingest { received: number; duplicates: number; propertiesDropped: number; failedOnIngest: { reason: string; count: number }[]; unattributedFailures: { reason: string; count: number }[] }
interface VolumeAlert { id: string; kind: string; sourceId?: string; percentChange?: number; direction?: string; enabled: boolean; state: string }

/** What the source received over 24 h, and its volume alerts. */
export function SourceHealth({ source, writable }: { source: Source; writable: boolean }) {
  const ingest = useApi<{ data: Ingest }>(`/api/v1/sources/${encodeURIComponent(source.id)}/ingest?range=24h`, { pollMs: 10000 });
  const alerts = useApi<{ data: { alerts: VolumeAlert[] } }>('/api/v1/alerts');
  const mine = (alerts.data?.data.alerts ?? []).filter((a) => a.kind === 'source_volume' && a.sourceId === source.id);
  const [form, setForm] = useState({ percentChange: '50', direction: 'any' });
  const save = useAction();
  const f = save.error?.fields ?? {};
  const x = ingest.data?.data;
  const failed = (x?.failedOnIngest ?? []).reduce((s, r) => s + r.count, 0);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const ok = await save.run(async () => {
      await api.post('/api/v1/alerts', { kind: 'source_volume', sourceId: source.id, percentChange: Number(form.percentChange), direction: form.direction, channels: [{ type: 'in_app' }] });
      return true;
    });
    if (ok) alerts.reload();
  };
  return (
    <>
      <h2>Last 24 hours</h2>
      <ErrorBox error={ingest.error} onRetry={ingest.reload} what="Could not load ingest figures" />
      {x && (
        <div className="stats">
          <div className="stat"><span className="stat-label">received</span><span className="stat-value" data-testid="received-24h">{fmtNumber(x.received)}</span></div>
          <div className="stat muted"><span className="stat-label">duplicates</span><span className="stat-value">{fmtNumber(x.duplicates)}</span></div>
          <div className={`stat ${failed > 0 ? 'bad' : ''}`}><span className="stat-label">failed on ingest</span><span className="stat-value">{fmtNumber(failed)}</span>
            {x.failedOnIngest.slice(0, 3).map((r) => <span key={r.reason} className="muted small">{r.reason}: {fmtNumber(r.count)}</span>)}</div>
        </div>
      )}
      <h2>Volume alerts</h2>
      {mine.length === 0 ? <p className="muted small">None.</p> : (
        <ul className="notes">{mine.map((a) => <li key={a.id}><span className={`badge ${a.state === 'firing' ? 'bad' : a.enabled ? 'ok' : 'off'}`}>{a.enabled ? a.state : 'disabled'}</span> volume changes by more than {a.percentChange}% ({a.direction})</li>)}</ul>
      )}
      {writable && (
        <form className="inline" onSubmit={(e) => void submit(e)}>
          <Field label="Change over (%)" error={f.percentChange}>{(p) => <input {...p} type="number" min={1} value={form.percentChange} onChange={(e) => setForm({ ...form, percentChange: e.target.value })} />}</Field>
          <Field label="Direction">{(p) => <select {...p} value={form.direction} onChange={(e) => setForm({ ...form, direction: e.target.value })}><option value="any">either way</option><option value="increase">increase</option><option value="decrease">decrease</option></select>}</Field>
          <button type="submit" className="btn small" disabled={save.busy}>Add volume alert</button>
        </form>
      )}
      <ErrorBox error={save.error && Object.keys(f).length === 0 ? save.error : undefined} what="Could not create the alert" />
    </>
  );
}
