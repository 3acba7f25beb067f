import { useMemo, useState, type FormEvent } from 'react';
import { api } from '../api';
import { useAction, useApi, usePaged } from '../hooks';
import { Link, navigate } from '../router';
import { canWrite, useSession } from '../session';
import { SettingsForm, cleanSettings, defaultsOf, fieldsOf, valuesFrom } from '../settings-form';
import type { CatalogDestination, Destination, Source } from '../types';
import { Empty, ErrorBox, Field, Loading, MoreButton, Page, SourceSelect, Status, Switch, Table } from '../ui';

interface CatalogItem { type: string; name: string; slug: string; kind: 'native' | 'actions'; metadataId?: string }

export default function Destinations({ mode, type, sourceId }: { mode: 'list' | 'catalog' | 'new'; type?: string; sourceId?: string }) {
  if (mode === 'catalog') return <Catalog sourceId={sourceId} />;
  if (mode === 'new' && type) return <NewDestination type={type} sourceId={sourceId} />;
  return <DestinationList />;
}

function DestinationList() {
  const { user, open } = useSession();
  const list = usePaged<Destination>('/destinations', 'destinations', 50);
  const sources = useSourceNames();
  const add = canWrite(user, open) ? <Link className="btn primary" to="/destinations/catalog">Add destination</Link> : null;
  return (
    <Page title="Destinations" actions={add}>
      <p className="muted">Destinations receive the events of the sources they are connected to: webhooks, analytics tools, ad platforms.</p>
      <ErrorBox error={list.error} onRetry={list.reload} what="Could not load destinations" />
      {list.loading && list.items.length === 0 && <Loading label="Loading destinations…" />}
      {!list.loading && !list.error && list.items.length === 0 && (
        <Empty title="No destinations yet"><p>Pick one from the catalog and connect it to a source.</p>{add}</Empty>
      )}
      {list.items.length > 0 && (
        <Table label="Destinations">
          <thead><tr><th>Name</th><th>Type</th><th>Source</th><th>Status</th></tr></thead>
          <tbody>{list.items.map((d) => (
            <tr key={d.id}>
              <td><Link to={`/destinations/${encodeURIComponent(d.id)}`}>{d.name || d.metadata?.name}</Link></td>
              <td>{d.metadata?.name}</td>
              <td><Link to={`/sources/${encodeURIComponent(d.sourceId)}`}>{sources.get(d.sourceId) ?? d.sourceId}</Link></td>
              <td><Status on={d.enabled} /></td>
            </tr>
          ))}</tbody>
        </Table>
      )}
      <MoreButton more={list.more} loading={list.loading} />
    </Page>
  );
}

export function useSourceNames(): Map<string, string> {
  const res = useApi<{ data: { sources: Source[] } }>('/sources?pagination[count]=200');
  return useMemo(() => new Map((res.data?.data.sources ?? []).map((s) => [s.id, s.name || s.slug])), [res.data]);
}

function Catalog({ sourceId }: { sourceId?: string }) {
  const res = useApi<{ data: { destinations: CatalogItem[] } }>('/api/v1/catalog/destinations');
  const [q, setQ] = useState('');
  const [limit, setLimit] = useState(60);
  const all = res.data?.data.destinations ?? [];
  const needle = q.trim().toLowerCase();
  const hits = needle ? all.filter((d) => d.name.toLowerCase().includes(needle) || d.slug.includes(needle) || d.type.includes(needle)) : all;
  return (
    <Page title="Destination catalog" back={{ to: '/destinations', label: 'Destinations' }}>
      <div className="search">
        <label htmlFor="catalog-search">Search {all.length ? `${all.length} destinations` : 'destinations'}</label>
        <input id="catalog-search" type="search" value={q} autoFocus placeholder="Webhook, Amplitude, Slack…" onChange={(e) => { setQ(e.target.value); setLimit(60); }} />
      </div>
      <ErrorBox error={res.error} onRetry={res.reload} what="Could not load the catalog" />
      {res.loading && <Loading label="Loading the catalog…" />}
      {res.data && hits.length === 0 && <Empty title={`Nothing matches “${q}”`}><p>Try a shorter word, or the Webhooks destination to reach any HTTP endpoint.</p></Empty>}
      <p className="sr-only" role="status" aria-live="polite">{res.data ? `${hits.length} destinations` : ''}</p>
      <ul className="cards">
        {hits.slice(0, limit).map((d) => (
          <li key={d.type}>
            <a className="card" href={`#/destinations/new/${encodeURIComponent(d.type)}${sourceId ? `?sourceId=${encodeURIComponent(sourceId)}` : ''}`}>
              <strong>{d.name}</strong>
              <span className="muted small">{d.kind === 'actions' ? 'Actions (mappings)' : 'Native'} · {d.type}</span>
            </a>
          </li>
        ))}
      </ul>
      {hits.length > limit && <button type="button" className="btn" onClick={() => setLimit(limit + 120)}>Show more ({hits.length - limit} left)</button>}
    </Page>
  );
}

function NewDestination({ type, sourceId }: { type: string; sourceId?: string }) {
  const def = useApi<{ data: { destination: CatalogDestination } }>(`/api/v1/catalog/destinations/${encodeURIComponent(type)}`);
  const sources = useApi<{ data: { sources: Source[] } }>('/sources?pagination[count]=200');
  const existing = useApi<{ data: { destinations: Destination[] } }>('/destinations?pagination[count]=200');
  const d = def.data?.data.destination;
  const fields = useMemo(() => (d ? fieldsOf(d) : []), [d]);
  const [values, setValues] = useState<Record<string, unknown> | null>(null);
  const [form, setForm] = useState({ name: '', sourceId: sourceId ?? '', enabled: true });
  const [copyFrom, setCopyFrom] = useState('');
  const { busy, error, run } = useAction();
  const f = error?.fields ?? {};
  const vals = values ?? defaultsOf(fields);
  const siblings = (existing.data?.data.destinations ?? []).filter((x) => x.metadata?.type === type || x.metadata?.id === d?.metadataId || x.metadata?.id === type);
  const srcList = sources.data?.data.sources ?? [];

  const copy = (id: string) => {
    setCopyFrom(id);
    const other = siblings.find((x) => x.id === id);
    if (other) setValues({ ...defaultsOf(fields), ...valuesFrom(fields, other.settings) });
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const created = await run(() => api.post<{ data: { destination: Destination } }>('/destinations', {
      sourceId: form.sourceId, metadataId: d?.metadataId ?? type, name: form.name.trim() || d?.name, enabled: form.enabled, settings: cleanSettings(fields, vals),
    }));
    if (created) navigate(`/destinations/${encodeURIComponent(created.data.destination.id)}${d?.kind === 'actions' ? '?tab=mappings' : ''}`);
  };
  if (!d) return <Page title="Add destination" back={{ to: '/destinations/catalog', label: 'Catalog' }}>{def.loading ? <Loading /> : <ErrorBox error={def.error} onRetry={def.reload} />}</Page>;
  const general = error && Object.keys(f).every((k) => !k.startsWith('settings') && k !== 'name' && k !== 'sourceId') ? error : undefined;
  return (
    <Page title={`Add ${d.name}`} back={{ to: '/destinations/catalog', label: 'Catalog' }}>
      {d.description && <p className="muted">{d.description}</p>}
      <form className="panel" onSubmit={(e) => void submit(e)} noValidate>
        <SourceSelect sources={srcList} loaded={!!sources.data} value={form.sourceId} onChange={(sourceId) => setForm({ ...form, sourceId })}
          error={f.sourceId} hint="The events of this source go to the destination." />
        <Field label="Name" error={f.name} hint="Unique per source, e.g. “Orders webhook”.">
          {(p) => <input {...p} name="name" value={form.name} placeholder={d.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />}
        </Field>
        {siblings.length > 0 && (
          <Field label="Copy settings from another instance" hint="Secrets are not copied: enter them again.">
            {(p) => (
              <select {...p} value={copyFrom} onChange={(e) => copy(e.target.value)}>
                <option value="">Start empty</option>
                {siblings.map((x) => <option key={x.id} value={x.id}>{x.name || x.id}</option>)}
              </select>
            )}
          </Field>
        )}
        <h2>Settings</h2>
        <SettingsForm fields={fields} values={vals} onChange={setValues} errors={f} />
        <Switch checked={form.enabled} onChange={(enabled) => setForm({ ...form, enabled })} label={form.enabled ? 'Enabled: deliver events once saved' : 'Disabled'} />
        <ErrorBox error={general} what="Could not add the destination" />
        {error && !general && <p className="field-error" role="alert">Check the highlighted fields.</p>}
        <div className="form-actions"><button type="submit" className="btn primary" disabled={busy}>{busy ? 'Saving…' : 'Save destination'}</button></div>
      </form>
    </Page>
  );
}
