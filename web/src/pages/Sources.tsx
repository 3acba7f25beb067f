import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { useAction, useApi, usePaged } from '../hooks';
import { Link, navigate } from '../router';
import { canAddSource, useSession } from '../session';
import type { Source, SourceMetadata } from '../types';
import { Empty, ErrorBox, Field, Loading, MoreButton, Page, Status, Table } from '../ui';

export default function Sources({ mode }: { mode: 'list' | 'new' }) {
  return mode === 'new' ? <NewSource /> : <SourceList />;
}

function SourceList() {
  const { user, open } = useSession();
  const list = usePaged<Source>('/sources', 'sources', 50);
  const add = canAddSource(user, open) ? <Link className="btn primary" to="/sources/new">Add source</Link> : null;
  return (
    <Page title="Sources" actions={add}>
      <p className="muted">A source is where events come from: a website, a server, an app. Each has a write key that its library sends with every event.</p>
      <ErrorBox error={list.error} onRetry={list.reload} what="Could not load sources" />
      {list.loading && list.items.length === 0 ? <Loading label="Loading sources…" /> : null}
      {!list.loading && !list.error && list.items.length === 0 && (
        <Empty title="No sources yet">
          <p>Add a source to get a write key and a snippet for your website or server.</p>
          {add}
        </Empty>
      )}
      {list.items.length > 0 && (
        <Table label="Sources">
          <thead><tr><th>Name</th><th>Type</th><th>Status</th><th>Labels</th><th className="num">Write keys</th></tr></thead>
          <tbody>
            {list.items.map((s) => (
              <tr key={s.id}>
                <td><Link to={`/sources/${encodeURIComponent(s.id)}`}>{s.name || s.slug}</Link><div className="muted small">{s.slug}</div></td>
                <td>{s.metadata?.name ?? '–'}</td>
                <td><Status on={s.enabled} /></td>
                <td>{s.labels.length === 0 ? <span className="muted">–</span> : s.labels.map((l) => <span key={`${l.key}:${l.value}`} className="chip">{l.key}: {l.value}</span>)}</td>
                <td className="num">{s.writeKeys.length}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
      {list.pagination && <p className="muted small">{list.items.length} of {list.pagination.totalEntries}</p>}
      <MoreButton more={list.more} loading={list.loading} />
    </Page>
  );
}

export const slugify = (s: string) => s.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 100);

function NewSource() {
  const catalog = useApi<{ data: { sourcesCatalog: SourceMetadata[] } }>('/catalog/sources?pagination[count]=200');
  const [picked, setPicked] = useState<SourceMetadata | null>(null);
  const [name, setName] = useState('');
  const [slug, setSlug] = useState('');
  const [slugTouched, setSlugTouched] = useState(false);
  const [env, setEnv] = useState('');
  const { busy, error, run } = useAction();
  const f = error?.fields ?? {};

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!picked) return;
    const created = await run(async () => {
      const res = await api.post<{ data: { source: Source } }>('/sources', { slug: slug || slugify(name), enabled: true, metadataId: picked.id });
      let source = res.data.source;
      // CreateSourceV1Input has no name: set it with an update, as Segment's own app does.
      if (name.trim() && name.trim() !== source.name) {
        source = (await api.patch<{ data: { source: Source } }>(`/sources/${encodeURIComponent(source.id)}`, { name: name.trim() })).data.source;
      }
      if (env) {
        await ensureLabel('environment', env);
        await api.put(`/sources/${encodeURIComponent(source.id)}/labels`, { labels: [{ key: 'environment', value: env }] });
      }
      return source;
    });
    if (created) navigate(`/sources/${encodeURIComponent(created.id)}?tab=setup`);
  };

  return (
    <Page title="Add a source" back={{ to: '/sources', label: 'Sources' }}>
      <ErrorBox error={catalog.error} onRetry={catalog.reload} what="Could not load the source catalog" />
      {catalog.loading && <Loading label="Loading the catalog…" />}
      {catalog.data && (
        <fieldset className="catalog-pick">
          <legend>1. What sends the events?</legend>
          <div className="cards">
            {catalog.data.data.sourcesCatalog.map((m) => (
              <button type="button" key={m.id} className={`card pick${picked?.id === m.id ? ' selected' : ''}`} aria-pressed={picked?.id === m.id} onClick={() => setPicked(m)}>
                <strong>{m.name}</strong>
                <span className="muted small">{m.description}</span>
                <span className="chip">{m.categories.join(', ')}</span>
              </button>
            ))}
          </div>
        </fieldset>
      )}
      {picked && (
        <form className="panel" onSubmit={(e) => void submit(e)} noValidate>
          <h2>2. Name your {picked.name} source</h2>
          <Field label="Name" error={f.name} hint="Shown in the console, e.g. “Website (production)”." required>
            {(p) => <input {...p} name="name" autoFocus value={name} onChange={(e) => { setName(e.target.value); if (!slugTouched) setSlug(slugify(e.target.value)); }} />}
          </Field>
          <Field label="Slug" error={f.slug} hint="Lowercase letters, digits and dashes; it names the warehouse schema." required>
            {(p) => <input {...p} name="slug" value={slug} onChange={(e) => { setSlug(e.target.value); setSlugTouched(true); }} />}
          </Field>
          <Field label="Environment label" hint="Optional: keeps dev, staging and production sources apart.">
            {(p) => (
              <select {...p} name="environment" value={env} onChange={(e) => setEnv(e.target.value)}>
                <option value="">None</option><option value="dev">dev</option><option value="staging">staging</option><option value="prod">prod</option>
              </select>
            )}
          </Field>
          <ErrorBox error={error && !f.name && !f.slug ? error : undefined} what="Could not create the source" />
          <button type="submit" className="btn primary" disabled={busy || !(slug || name)}>{busy ? 'Creating…' : 'Create source'}</button>
        </form>
      )}
    </Page>
  );
}

/** Segment requires a label to exist in the workspace before a source carries it. */
export async function ensureLabel(key: string, value: string): Promise<void> {
  const res = await api.get<{ data: { labels: { key: string; value: string }[] } }>('/labels?pagination[count]=200');
  if (res.data.labels.some((l) => l.key === key && l.value === value)) return;
  await api.post('/labels', { label: { key, value } });
}
