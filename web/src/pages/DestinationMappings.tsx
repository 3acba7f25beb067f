import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { useAction, useApi } from '../hooks';
import { canWrite, useSession } from '../session';
import type { CatalogDestination, Destination, Subscription } from '../types';
import { Empty, ErrorBox, Field, Loading, Status, Table } from '../ui';

type Action = NonNullable<CatalogDestination['actions']>[number];

/** The mapping an action starts with: each field's default (`{"@path": "$.event"}` etc.). */
function defaultMapping(a: Action): Record<string, unknown> {
  return Object.fromEntries(Object.entries(a.fields).filter(([, f]) => f.default !== undefined).map(([k, f]) => [k, f.default]));
}

/** Mappings (subscriptions) of an Actions destination: which events trigger which action, with which fields. */
export default function DestinationMappings({ destination: d, catalog }: { destination: Destination; catalog?: CatalogDestination }) {
  const { user, open } = useSession();
  const writable = canWrite(user, open);
  const base = `/destinations/${encodeURIComponent(d.id)}/subscriptions`;
  const subs = useApi<{ data: { subscriptions: Subscription[] } }>(base);
  const actions = catalog?.actions ?? [];
  const [editing, setEditing] = useState<Subscription | null>(null);
  const [draft, setDraft] = useState<{ actionId: string; name: string; trigger: string; mapping: string; enabled: boolean } | null>(null);
  const save = useAction();
  const row = useAction();
  const f = save.error?.fields ?? {};
  const list = subs.data?.data.subscriptions ?? [];

  const start = (a: Action) => {
    const preset = catalog?.presets?.find((p) => p.partnerAction === a.key);
    setEditing(null);
    setDraft({ actionId: a.key, name: preset?.name ?? a.title, trigger: a.defaultSubscription ?? preset?.subscribe ?? 'type = "track"', mapping: JSON.stringify(defaultMapping(a), null, 2), enabled: true });
  };
  const edit = (s: Subscription) => {
    setEditing(s);
    setDraft({ actionId: s.actionId, name: s.name, trigger: s.trigger, mapping: JSON.stringify(s.settings ?? {}, null, 2), enabled: s.enabled });
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!draft) return;
    let settings: unknown;
    try { settings = JSON.parse(draft.mapping); } catch (err) { await save.run(() => Promise.reject(new Error(`The mapping is not valid JSON (${(err as Error).message}).`))); return; }
    const ok = await save.run(async () => {
      const body = { name: draft.name, actionId: draft.actionId, trigger: draft.trigger, enabled: draft.enabled, settings };
      if (editing) await api.patch(`${base}/${encodeURIComponent(editing.id)}`, { input: { name: body.name, trigger: body.trigger, enabled: body.enabled, settings } });
      else await api.post(base, body);
      return true;
    });
    if (ok) { setDraft(null); setEditing(null); subs.reload(); }
  };
  const toggle = (s: Subscription) => void row.run(async () => { await api.patch(`${base}/${encodeURIComponent(s.id)}`, { input: { enabled: !s.enabled } }); subs.reload(); });
  const remove = (s: Subscription) => { if (window.confirm(`Delete mapping “${s.name}”?`)) void row.run(async () => { await api.del(`${base}/${encodeURIComponent(s.id)}`); subs.reload(); }); };
  const action = draft ? actions.find((a) => a.key === draft.actionId) : undefined;

  return (
    <div className="grid2">
      <section className="panel">
        <h2>Mappings</h2>
        {subs.loading && !subs.data && <Loading />}
        <ErrorBox error={subs.error} onRetry={subs.reload} what="Could not load mappings" />
        {subs.data && list.length === 0 && (
          <Empty title="No mappings yet">
            <p>Until you add one, the destination's default mappings apply{catalog?.presets?.length ? `: ${catalog.presets.map((p) => p.name ?? p.partnerAction).join(', ')}` : ''}.</p>
          </Empty>
        )}
        {list.length > 0 && (
          <Table label="Mappings">
            <thead><tr><th>Name</th><th>Trigger</th><th>Status</th><th></th></tr></thead>
            <tbody>{list.map((s) => (
              <tr key={s.id}>
                <td>{s.name}<div className="muted small">{s.actionSlug || s.actionId}</div></td>
                <td><code className="fql">{s.trigger}</code></td>
                <td><Status on={s.enabled} /></td>
                <td>{writable && <div className="toolbar"><button type="button" className="btn small" onClick={() => edit(s)}>Edit</button><button type="button" className="btn small" onClick={() => toggle(s)}>{s.enabled ? 'Disable' : 'Enable'}</button><button type="button" className="btn small danger" onClick={() => remove(s)}>Delete</button></div>}</td>
              </tr>
            ))}</tbody>
          </Table>
        )}
        <ErrorBox error={row.error} />
        {writable && actions.length > 0 && (
          <>
            <h2>Add a mapping</h2>
            <ul className="cards small">{actions.map((a) => (
              <li key={a.key}><button type="button" className="card pick" onClick={() => start(a)}><strong>{a.title}</strong>{a.description && <span className="muted small">{a.description.slice(0, 120)}</span>}</button></li>
            ))}</ul>
          </>
        )}
      </section>
      {draft && (
        <form className="panel" onSubmit={(e) => void submit(e)} noValidate>
          <h2>{editing ? 'Edit mapping' : `New mapping: ${action?.title ?? draft.actionId}`}</h2>
          <Field label="Name" error={f.name}>{(p) => <input {...p} value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} />}</Field>
          <Field label="Trigger (FQL)" error={f.trigger} hint={<>Which events run this action, e.g. <code>type = "track" and event = "Order Completed"</code>.</>}>
            {(p) => <textarea {...p} rows={2} className="mono" value={draft.trigger} onChange={(e) => setDraft({ ...draft, trigger: e.target.value })} />}
          </Field>
          <Field label="Field mapping (JSON)" error={f.settings ?? Object.entries(f).find(([k]) => k.startsWith('settings.'))?.[1]} hint={<>Values are literals or paths such as <code>{'{"@path": "$.properties.total"}'}</code>.</>}>
            {(p) => <textarea {...p} rows={12} className="mono" value={draft.mapping} onChange={(e) => setDraft({ ...draft, mapping: e.target.value })} />}
          </Field>
          <label className="check"><input type="checkbox" checked={draft.enabled} onChange={(e) => setDraft({ ...draft, enabled: e.target.checked })} /> Enabled</label>
          <ErrorBox error={save.error && Object.keys(f).length === 0 ? save.error : undefined} what="Could not save the mapping" />
          <div className="form-actions"><button type="submit" className="btn primary" disabled={save.busy}>Save mapping</button><button type="button" className="btn" onClick={() => setDraft(null)}>Cancel</button></div>
          {action && (
            <details>
              <summary>Fields of {action.title}</summary>
              <Table label="Action fields">
                <thead><tr><th>Field</th><th>Type</th><th>Description</th></tr></thead>
                <tbody>{Object.entries(action.fields).map(([k, fi]) => <tr key={k}><td><code>{k}</code>{fi.required && ' *'}</td><td>{fi.type}{fi.multiple ? '[]' : ''}</td><td className="small">{fi.label}{fi.description ? `: ${fi.description.slice(0, 160)}` : ''}</td></tr>)}</tbody>
              </Table>
            </details>
          )}
        </form>
      )}
    </div>
  );
}
