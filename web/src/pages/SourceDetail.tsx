import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { useAction, useApi } from '../hooks';
import { Link, navigate } from '../router';
import { canWrite, useSession } from '../session';
import type { Destination, Label, Source } from '../types';
import { CopyButton, Empty, ErrorBox, Field, Loading, Page, Status, Switch, Table, Tabs } from '../ui';
import { Debugger } from './Debugger';
import { SourceHealth } from './SourceHealth';
import { ensureLabel } from './Sources';
import { analyticsJsSnippet, analyticsNextSnippet, analyticsNodeSnippet, curlSnippet } from './snippets';

const TABS = [
  { id: 'overview', label: 'Overview' },
  { id: 'setup', label: 'Setup' },
  { id: 'debugger', label: 'Debugger' },
  { id: 'settings', label: 'Settings' },
];

export default function SourceDetail({ id, tab = 'overview' }: { id: string; tab?: string }) {
  const path = `/sources/${encodeURIComponent(id)}`;
  const res = useApi<{ data: { source: Source } }>(path);
  const source = res.data?.data.source;
  if (!source) {
    return (
      <Page title="Source" back={{ to: '/sources', label: 'Sources' }}>
        {res.loading ? <Loading /> : <ErrorBox error={res.error} onRetry={res.reload} what="Could not load this source" />}
      </Page>
    );
  }
  const update = (_s: Source) => res.reload();
  return (
    <Page title={source.name || source.slug} back={{ to: '/sources', label: 'Sources' }} actions={<Status on={source.enabled} />}>
      <p className="muted">{source.metadata?.name} source · <code>{source.id}</code></p>
      <Tabs base={`/sources/${encodeURIComponent(id)}`} tabs={TABS} active={tab} />
      {tab === 'overview' && <Overview source={source} onChange={update} />}
      {tab === 'setup' && <Setup source={source} />}
      {tab === 'debugger' && <Debugger sourceId={source.id} />}
      {tab === 'settings' && <SourceSettings source={source} onChange={update} />}
    </Page>
  );
}

function Overview({ source, onChange }: { source: Source; onChange: (s: Source) => void }) {
  const { user, open } = useSession();
  const writable = canWrite(user, open);
  const base = `/sources/${encodeURIComponent(source.id)}`;
  const act = useAction();
  const dests = useApi<{ data: { destinations: Destination[] } }>(`${base}/connected-destinations?pagination[count]=200`);
  const setEnabled = (enabled: boolean) => void act.run(async () => onChange((await api.patch<{ data: { source: Source } }>(base, { enabled })).data.source));
  const addKey = () => void act.run(async () => { await api.post(`${base}/writekey`); onChange(source); });
  const removeKey = (key: string) => {
    if (!window.confirm(`Remove write key ${key}? Libraries still sending it will get 401 from now on.`)) return;
    void act.run(async () => { await api.del(`${base}/writekey/${encodeURIComponent(key)}`); onChange(source); });
  };
  return (
    <div className="grid2">
      <section className="panel">
        <h2>Write key</h2>
        <p className="muted small">Libraries send it with every event; it identifies this source. It is not a secret in a browser, but keep server keys private.</p>
        <ul className="keys">
          {source.writeKeys.map((k) => (
            <li key={k}>
              <code className="write-key" data-testid="write-key">{k}</code>
              <CopyButton text={k} label="Copy write key" />
              {writable && source.writeKeys.length > 1 && <button type="button" className="btn small danger" onClick={() => removeKey(k)}>Remove</button>}
            </li>
          ))}
        </ul>
        {writable && <button type="button" className="btn small" onClick={addKey} disabled={act.busy}>Add a write key (for rotation)</button>}
        <h2>Status</h2>
        <Switch checked={source.enabled} disabled={!writable || act.busy} onChange={setEnabled} label={source.enabled ? 'Receiving events' : 'Disabled: events are refused (401)'} />
        <ErrorBox error={act.error} />
        <Labels source={source} onChange={onChange} writable={writable} />
      </section>
      <section className="panel">
        <div className="panel-head">
          <h2>Connected destinations</h2>
          {writable && <Link className="btn small primary" to={`/destinations/catalog?sourceId=${encodeURIComponent(source.id)}`}>Add destination</Link>}
        </div>
        {dests.loading && <Loading />}
        <ErrorBox error={dests.error} onRetry={dests.reload} />
        {dests.data && dests.data.data.destinations.length === 0 && <Empty title="No destinations yet"><p>Events are kept and can be seen in the debugger, but go nowhere until you add a destination.</p></Empty>}
        {dests.data && dests.data.data.destinations.length > 0 && (
          <Table label="Connected destinations">
            <thead><tr><th>Name</th><th>Type</th><th>Status</th></tr></thead>
            <tbody>{dests.data.data.destinations.map((d) => (
              <tr key={d.id}><td><Link to={`/destinations/${encodeURIComponent(d.id)}`}>{d.name || d.metadata?.name}</Link></td><td>{d.metadata?.name}</td><td><Status on={d.enabled} /></td></tr>
            ))}</tbody>
          </Table>
        )}
        <p><Link to={`/sources/${encodeURIComponent(source.id)}?tab=setup`}>How to send events →</Link></p>
        <SourceHealth source={source} writable={writable} />
      </section>
    </div>
  );
}

function Labels({ source, onChange, writable }: { source: Source; onChange: (s: Source) => void; writable: boolean }) {
  const [draft, setDraft] = useState<Label>({ key: 'environment', value: '' });
  const act = useAction();
  const put = (labels: Label[]) => act.run(async () => {
    await api.put(`/sources/${encodeURIComponent(source.id)}/labels`, { labels: labels.map(({ key, value }) => ({ key, value })) });
    onChange(source);
  });
  const add = async (e: FormEvent) => {
    e.preventDefault();
    if (!draft.key || !draft.value) return;
    const ok = await act.run(async () => { await ensureLabel(draft.key, draft.value); return true; });
    if (ok) await put([...source.labels.filter((l) => l.key !== draft.key), draft]);
    setDraft({ key: draft.key, value: '' });
  };
  return (
    <>
      <h2>Labels</h2>
      <p className="muted small">Labels such as <code>environment: prod</code> group sources and scope roles.</p>
      <ul className="chips">
        {source.labels.length === 0 && <li className="muted">No labels.</li>}
        {source.labels.map((l) => (
          <li key={`${l.key}:${l.value}`} className="chip">{l.key}: {l.value}
            {writable && <button type="button" className="chip-x" aria-label={`Remove label ${l.key}: ${l.value}`} onClick={() => void put(source.labels.filter((x) => x !== l))}>×</button>}
          </li>
        ))}
      </ul>
      {writable && (
        <form className="inline" onSubmit={(e) => void add(e)}>
          <label>Key <input value={draft.key} onChange={(e) => setDraft({ ...draft, key: e.target.value })} size={12} /></label>
          <label>Value <input value={draft.value} list="label-values" onChange={(e) => setDraft({ ...draft, value: e.target.value })} size={10} placeholder="prod" /></label>
          <datalist id="label-values"><option value="dev" /><option value="staging" /><option value="prod" /></datalist>
          <button type="submit" className="btn small" disabled={act.busy}>Add label</button>
        </form>
      )}
      <ErrorBox error={act.error} what="Could not change labels" />
    </>
  );
}

function Setup({ source }: { source: Source }) {
  const host = window.location.origin;
  const key = source.writeKeys[0] ?? '<no write key: add one on the Overview tab>';
  const [lib, setLib] = useState<'snippet' | 'npm' | 'node' | 'curl'>(source.metadata?.id === 'node-js' ? 'node' : source.metadata?.id === 'http-api' ? 'curl' : 'snippet');
  const code = { snippet: analyticsJsSnippet(host, key), npm: analyticsNextSnippet(host, key), node: analyticsNodeSnippet(host, key), curl: curlSnippet(host, key) }[lib];
  const names = { snippet: 'analytics.js snippet', npm: 'analytics-next (npm)', node: 'analytics-node', curl: 'HTTP (curl)' };
  return (
    <section className="panel">
      <h2>Send events to this source</h2>
      <p>Segment's own libraries work unchanged: only the host points at this server ({host}).</p>
      <div className="toolbar" role="group" aria-label="Library">
        {(Object.keys(names) as (keyof typeof names)[]).map((k) => (
          <button key={k} type="button" className="btn small" aria-pressed={lib === k} onClick={() => setLib(k)}>{names[k]}</button>
        ))}
      </div>
      {lib === 'snippet' && <p className="muted small">Paste into the <code>&lt;head&gt;</code> of every page. <code>analytics._cdn</code> tells analytics.js to load its code and settings from this server.</p>}
      <div className="code-wrap">
        <pre className="code" tabIndex={0} data-testid="snippet"><code>{code}</code></pre>
        <CopyButton text={code} label="Copy code" className="btn small copy-code" />
      </div>
      <p><Link to={`/sources/${encodeURIComponent(source.id)}?tab=debugger`}>Open the debugger to watch events arrive →</Link></p>
    </section>
  );
}

function SourceSettings({ source, onChange }: { source: Source; onChange: (s: Source) => void }) {
  const { user, open } = useSession();
  const writable = canWrite(user, open);
  const [form, setForm] = useState({ name: source.name ?? '', slug: source.slug });
  const save = useAction();
  const del = useAction();
  const f = save.error?.fields ?? {};
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = await save.run(() => api.patch<{ data: { source: Source } }>(`/sources/${encodeURIComponent(source.id)}`, form));
    if (r) onChange(r.data.source);
  };
  const remove = async () => {
    if (!window.confirm(`Delete source ${source.name || source.slug}? Its write keys stop working at once. This cannot be undone.`)) return;
    const r = await del.run(async () => { await api.del(`/sources/${encodeURIComponent(source.id)}`); return true; });
    if (r) navigate('/sources');
  };
  return (
    <>
      <form className="panel" onSubmit={(e) => void submit(e)} noValidate>
        <h2>General</h2>
        <Field label="Name" error={f.name}>{(p) => <input {...p} value={form.name} disabled={!writable} onChange={(e) => setForm({ ...form, name: e.target.value })} />}</Field>
        <Field label="Slug" error={f.slug} hint="Changing it renames the warehouse schema for new data.">{(p) => <input {...p} value={form.slug} disabled={!writable} onChange={(e) => setForm({ ...form, slug: e.target.value })} />}</Field>
        <ErrorBox error={save.error && !f.name && !f.slug ? save.error : undefined} what="Could not save" />
        {writable && <button type="submit" className="btn primary" disabled={save.busy}>{save.busy ? 'Saving…' : 'Save'}</button>}
      </form>
      {writable && (
        <section className="panel danger-zone">
          <h2>Delete this source</h2>
          <p>Its write keys stop working and its destinations lose it.</p>
          <ErrorBox error={del.error} what="Could not delete" />
          <button type="button" className="btn danger" onClick={() => void remove()} disabled={del.busy}>Delete source</button>
        </section>
      )}
    </>
  );
}
