import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { useAction, useApi } from '../hooks';
import { canWrite, useSession } from '../session';
import type { Destination, Filter, FilterAction } from '../types';
import { Empty, ErrorBox, Field, Loading, Status, Switch } from '../ui';

const SAMPLE_EVENT = {
  type: 'track', event: 'Order Completed', userId: 'user-1',
  properties: { total: 42, email: 'ada@example.com', coupon: 'WELCOME' },
  context: { page: { url: 'https://shop.example/checkout' } },
};

interface Draft { title: string; if: string; action: FilterAction['type']; fields: string; percent: string; path: string; enabled: boolean }
const EMPTY: Draft = { title: '', if: 'type = "track" and event = "Order Completed"', action: 'DROP', fields: 'properties.email', percent: '10', path: 'userId', enabled: true };

/** `properties.email, context.ip` → `{properties: ["email"], context: ["ip"]}` (Segment's fields shape). */
function fieldsOf(text: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const raw of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const dot = raw.indexOf('.');
    const [obj, rest] = dot < 0 ? ['', raw] : [raw.slice(0, dot), raw.slice(dot + 1)];
    (out[obj] ??= []).push(rest);
  }
  return out;
}
const fieldsText = (f: Record<string, unknown> | undefined) =>
  Object.entries(f ?? {}).flatMap(([o, ps]) => (ps as string[]).map((p) => (o ? `${o}.${p}` : p))).join(', ');

function actionOf(d: Draft): FilterAction {
  if (d.action === 'SAMPLE') return { type: 'SAMPLE', percent: Number(d.percent) / 100, ...(d.path.trim() ? { path: d.path.trim() } : {}) };
  if (d.action === 'DROP') return { type: 'DROP' };
  return { type: d.action, fields: fieldsOf(d.fields) };
}

function describe(a: FilterAction): string {
  switch (a.type) {
    case 'DROP': return 'drop the event';
    case 'SAMPLE': return `keep ${Math.round((a.percent ?? 0) * 1000) / 10}%${a.path ? ` (by ${a.path})` : ''}`;
    case 'DROP_PROPERTIES': return `remove ${fieldsText(a.fields)}`;
    case 'ALLOW_PROPERTIES': return `keep only ${fieldsText(a.fields)}`;
  }
}

export default function DestinationFilters({ destination: d }: { destination: Destination }) {
  const { user, open } = useSession();
  const writable = canWrite(user, open);
  const base = `/destination/${encodeURIComponent(d.id)}/filters`;
  const list = useApi<{ data: { filters: Filter[] } }>(`${base}?pagination[count]=200`);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [editing, setEditing] = useState<string | null>(null);
  const [payload, setPayload] = useState(JSON.stringify(SAMPLE_EVENT, null, 2));
  const [preview, setPreview] = useState<{ result: unknown } | null>(null);
  const save = useAction();
  const pv = useAction();
  const row = useAction();
  const f = save.error?.fields ?? pv.error?.fields ?? {};
  const filters = list.data?.data.filters ?? [];

  const runPreview = async () => {
    let event: unknown;
    try { event = JSON.parse(payload); } catch { setPreview(null); pv.clear(); return void (await pv.run(() => Promise.reject(new Error('The sample event is not valid JSON: fix it and try again.')))); }
    const r = await pv.run(() => api.post<{ data: { result: unknown } }>('/destination/filters/preview', { filter: { if: draft.if, actions: [actionOf(draft)] }, payload: event }));
    setPreview(r ? { result: r.data.result } : null);
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const body = { if: draft.if, actions: [actionOf(draft)], title: draft.title || 'Untitled filter', enabled: draft.enabled };
    const ok = await save.run(async () => {
      if (editing) await api.patch(`${base}/${encodeURIComponent(editing)}`, body);
      else await api.post(base, { sourceId: d.sourceId, ...body });
      return true;
    });
    if (ok) { setDraft(EMPTY); setEditing(null); setPreview(null); list.reload(); }
  };
  const edit = (x: Filter) => {
    const a = x.actions[0] ?? { type: 'DROP' };
    setEditing(x.id);
    setDraft({ title: x.title, if: x.if, action: a.type, fields: fieldsText(a.fields) || EMPTY.fields, percent: String(Math.round((a.percent ?? 0.1) * 1000) / 10), path: a.path ?? '', enabled: x.enabled });
  };
  const toggle = (x: Filter) => void row.run(async () => { await api.patch(`${base}/${encodeURIComponent(x.id)}`, { enabled: !x.enabled }); list.reload(); });
  const remove = (x: Filter) => { if (window.confirm(`Delete filter “${x.title}”?`)) void row.run(async () => { await api.del(`${base}/${encodeURIComponent(x.id)}`); list.reload(); }); };

  return (
    <div className="grid2">
      <section className="panel">
        <h2>Filters</h2>
        <p className="muted small">Applied in order to events received after a filter is saved; at most 10 per destination. Filtered events show under “Filtered at destination”.</p>
        {list.loading && !list.data && <Loading />}
        <ErrorBox error={list.error} onRetry={list.reload} what="Could not load filters" />
        {list.data && filters.length === 0 && <Empty title="No filters"><p>Every event of the source goes to this destination.</p></Empty>}
        <ul className="filter-list">
          {filters.map((x) => (
            <li key={x.id} className="filter-item">
              <div><strong>{x.title}</strong> <Status on={x.enabled} /></div>
              <code className="fql">{x.if}</code>
              <div className="muted small">{x.actions.map(describe).join(', then ')}</div>
              {writable && <div className="toolbar">
                <button type="button" className="btn small" onClick={() => edit(x)}>Edit</button>
                <button type="button" className="btn small" onClick={() => toggle(x)}>{x.enabled ? 'Disable' : 'Enable'}</button>
                <button type="button" className="btn small danger" onClick={() => remove(x)}>Delete</button>
              </div>}
            </li>
          ))}
        </ul>
        <ErrorBox error={row.error} />
      </section>
      <form className="panel" onSubmit={(e) => void submit(e)} noValidate>
        <h2>{editing ? 'Edit filter' : 'New filter'}</h2>
        <Field label="Title" error={f.title}>{(p) => <input {...p} name="title" value={draft.title} placeholder="Drop test orders" onChange={(e) => setDraft({ ...draft, title: e.target.value })} />}</Field>
        <Field label="If (FQL)" error={f.if ?? f['filter.if']} hint={<>E.g. <code>event = "Order Completed" and properties.total &lt; 1</code>, <code>type = "identify"</code>, <code>contains(context.page.url, "staging")</code>.</>}>
          {(p) => <textarea {...p} name="if" rows={2} className="mono" value={draft.if} onChange={(e) => setDraft({ ...draft, if: e.target.value })} />}
        </Field>
        <Field label="Then" error={f.actions ?? f['actions.0.type'] ?? f['filter.actions']}>
          {(p) => (
            <select {...p} name="action" value={draft.action} onChange={(e) => setDraft({ ...draft, action: e.target.value as Draft['action'] })}>
              <option value="DROP">Drop the event</option>
              <option value="DROP_PROPERTIES">Remove these properties</option>
              <option value="ALLOW_PROPERTIES">Keep only these properties</option>
              <option value="SAMPLE">Keep a sample</option>
            </select>
          )}
        </Field>
        {(draft.action === 'DROP_PROPERTIES' || draft.action === 'ALLOW_PROPERTIES') && (
          <Field label="Properties" error={f['actions.0.fields']} hint="Comma-separated paths, e.g. properties.email, context.ip.">{(p) => <input {...p} name="fields" value={draft.fields} onChange={(e) => setDraft({ ...draft, fields: e.target.value })} />}</Field>
        )}
        {draft.action === 'SAMPLE' && (
          <div className="row">
            <Field label="Percent kept" error={f['actions.0.percent']}>{(p) => <input {...p} name="percent" type="number" min={0} max={100} step="0.1" value={draft.percent} onChange={(e) => setDraft({ ...draft, percent: e.target.value })} />}</Field>
            <Field label="Sample by" hint="Same value, same decision (e.g. userId).">{(p) => <input {...p} name="path" value={draft.path} onChange={(e) => setDraft({ ...draft, path: e.target.value })} />}</Field>
          </div>
        )}
        <Switch checked={draft.enabled} onChange={(enabled) => setDraft({ ...draft, enabled })} label={draft.enabled ? 'Enabled' : 'Disabled'} />
        <details className="preview" open>
          <summary>Preview on a sample event</summary>
          <Field label="Sample event (JSON)" error={f.payload}>{(p) => <textarea {...p} rows={8} className="mono" value={payload} onChange={(e) => setPayload(e.target.value)} />}</Field>
          <button type="button" className="btn small" onClick={() => void runPreview()} disabled={pv.busy}>{pv.busy ? 'Previewing…' : 'Preview'}</button>
          {preview && (preview.result === null
            ? <p className="badge bad" role="status">Dropped: this event would not reach the destination.</p>
            : <><p className="badge ok" role="status">Kept. The destination would receive:</p><pre className="code" tabIndex={0}>{JSON.stringify(preview.result, null, 2)}</pre></>)}
          <ErrorBox error={pv.error && !pv.error.errors.some((e) => e.field) ? pv.error : undefined} what="Could not preview" />
        </details>
        <ErrorBox error={save.error && Object.keys(save.error.fields).length === 0 ? save.error : undefined} what="Could not save the filter" />
        {writable && <div className="form-actions">
          <button type="submit" className="btn primary" disabled={save.busy}>{save.busy ? 'Saving…' : editing ? 'Save filter' : 'Add filter'}</button>
          {editing && <button type="button" className="btn" onClick={() => { setEditing(null); setDraft(EMPTY); }}>Cancel</button>}
        </div>}
      </form>
    </div>
  );
}
