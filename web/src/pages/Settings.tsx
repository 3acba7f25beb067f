import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { useAction, useApi, usePaged } from '../hooks';
import { useSession } from '../session';
import type { AuditEvent, Permission, Role, Source, Token, User } from '../types';
import { CopyButton, Empty, ErrorBox, Field, Loading, MoreButton, Page, Table, Tabs, fmtTime } from '../ui';

const TABS = [{ id: 'users', label: 'Users' }, { id: 'invites', label: 'Invites' }, { id: 'tokens', label: 'API tokens' }, { id: 'audit', label: 'Audit trail' }];

export default function Settings({ tab }: { tab: string }) {
  return (
    <Page title="Settings">
      <Tabs base="/settings" tabs={TABS} active={tab} link={(id) => `/settings/${id}`} />
      {tab === 'users' && <Users />}
      {tab === 'invites' && <Invites />}
      {tab === 'tokens' && <Tokens />}
      {tab === 'audit' && <Audit />}
    </Page>
  );
}

/** A role and its scope: the sources named, and the sources carrying the labels named (none of either: the workspace). */
interface Scope { roleId: string; sourceIds: string[]; labels: LabelRef[] }
interface LabelRef { key: string; value: string }
const sameLabel = (a: LabelRef) => (b: LabelRef) => a.key === b.key && a.value === b.value;

const roleText = (ps: Permission[] | undefined, roles: Map<string, string>, sources: Map<string, string>) =>
  (ps ?? []).map((p) => {
    const scope = [
      ...p.resources.filter((r) => r.type === 'SOURCE').map((r) => sources.get(r.id) ?? r.id),
      ...p.resources.flatMap((r) => (r.labels ?? []).map((l) => `label ${l.key}:${l.value}`)),
    ];
    return `${p.roleName ?? roles.get(p.roleId) ?? p.roleId}${scope.length > 0 ? ` (${scope.join(', ')})` : ''}`;
  }).join('; ') || '–';

function useLookups() {
  const roles = useApi<{ data: { roles: Role[] } }>('/roles?pagination[count]=200');
  const sources = useApi<{ data: { sources: Source[] } }>('/sources?pagination[count]=200');
  const labels = useApi<{ data: { labels: { key: string; value: string }[] } }>('/labels');
  return {
    labels: (labels.data?.data.labels ?? []).map((l) => ({ key: l.key, value: l.value })),
    roles: roles.data?.data.roles ?? [],
    rolesError: roles.error,
    roleNames: new Map((roles.data?.data.roles ?? []).map((r) => [r.id, r.name])),
    sources: sources.data?.data.sources ?? [],
    sourceNames: new Map((sources.data?.data.sources ?? []).map((s) => [s.id, s.name || s.slug])),
  };
}

function Users() {
  const list = usePaged<User>('/users', 'users', 100);
  const { roleNames, sourceNames } = useLookups();
  const { user } = useSession();
  const [editing, setEditing] = useState<{ id: string; perm: Scope } | null>(null);
  const row = useAction();
  const f = row.error?.fields ?? {};
  const edit = (u: User) => {
    row.clear();
    setEditing({ id: u.id, perm: pickerValue(u.permissions) });
  };
  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!editing) return;
    const r = await row.run(() => api.put(`/users/${encodeURIComponent(editing.id)}/permissions`, { permissions: permissionsOf(editing.perm) }));
    if (r === undefined) return;
    setEditing(null);
    list.reload();
  };
  const remove = (u: User) => {
    if (window.confirm(`Remove ${u.email} from the workspace? They are signed out and lose access at once.`)) {
      void row.run(async () => { await api.del(`/users?userIds=${encodeURIComponent(u.id)}`); list.reload(); });
    }
  };
  return (
    <section className="panel">
      <ErrorBox error={list.error} onRetry={list.reload} what="Could not load users" />
      <ErrorBox error={row.error && Object.keys(f).length === 0 ? row.error : undefined} what="Could not change the user" />
      {list.loading && list.items.length === 0 && <Loading />}
      {!list.loading && list.items.length === 0 && !list.error && <Empty title="No users yet"><p>Invite people from the Invites tab.</p></Empty>}
      {list.items.length > 0 && (
        <Table label="Users">
          <thead><tr><th>Name</th><th>Email</th><th>Roles</th><th></th></tr></thead>
          <tbody>{list.items.map((u) => (
            <tr key={u.id}>
              <td>{u.name}{u.id === user?.id && <span className="muted small"> (you)</span>}</td>
              <td>{u.email}</td>
              <td>
                {editing?.id === u.id ? (
                  <form onSubmit={(e) => void save(e)} aria-label={`Role of ${u.email}`} noValidate>
                    <PermissionPicker value={editing.perm} onChange={(perm) => setEditing({ id: u.id, perm })} error={f['permissions.0.roleId']} />
                    <button type="submit" className="btn small primary" disabled={row.busy}>{row.busy ? 'Saving…' : 'Save role'}</button>{' '}
                    <button type="button" className="btn small" onClick={() => setEditing(null)}>Cancel</button>
                  </form>
                ) : roleText(u.permissions, roleNames, sourceNames)}
              </td>
              {/* Not on your own row: an owner who demoted or removed themselves could be left with no owner. */}
              <td>{u.id !== user?.id && editing?.id !== u.id && (
                <>
                  <button type="button" className="btn small" onClick={() => edit(u)} aria-label={`Change the role of ${u.email}`}>Change role</button>{' '}
                  <button type="button" className="btn small danger" onClick={() => remove(u)} aria-label={`Remove ${u.email}`}>Remove</button>
                </>
              )}</td>
            </tr>
          ))}</tbody>
        </Table>
      )}
      <MoreButton more={list.more} loading={list.loading} />
    </section>
  );
}

/** The picker's value for a user's permissions: the first role, and the sources and labels it is scoped to. */
function pickerValue(ps: Permission[] | undefined): Scope {
  const p = ps?.[0];
  if (!p) return { roleId: 'workspace-read-only', sourceIds: [], labels: [] };
  return {
    roleId: p.roleId,
    sourceIds: p.resources.filter((r) => r.type === 'SOURCE').map((r) => r.id),
    labels: p.resources.flatMap((r) => (r.labels ?? []).map((l) => ({ key: l.key, value: l.value }))),
  };
}

/** Role + scope picker shared by invites and tokens. */
function PermissionPicker({ value, onChange, error }: { value: Scope; onChange: (v: Scope) => void; error?: string }) {
  const { roles, rolesError, sources, labels } = useLookups();
  const scoped = value.roleId.startsWith('source-');
  return (
    <>
      <ErrorBox error={rolesError} what="Could not load roles" />
      <Field label="Role" error={error}>
        {(p) => <select {...p} value={value.roleId} onChange={(e) => onChange({ ...value, roleId: e.target.value })}>{roles.map((r) => <option key={r.id} value={r.id}>{r.name}</option>)}</select>}
      </Field>
      {roles.find((r) => r.id === value.roleId) && <p className="muted small">{roles.find((r) => r.id === value.roleId)!.description}</p>}
      {scoped && (
        <fieldset className="field">
          <legend>Sources (no source and no label chosen: all sources)</legend>
          {sources.map((s) => (
            <label key={s.id} className="check"><input type="checkbox" checked={value.sourceIds.includes(s.id)} onChange={(e) => onChange({ ...value, sourceIds: e.target.checked ? [...value.sourceIds, s.id] : value.sourceIds.filter((x) => x !== s.id) })} /> {s.name || s.slug}</label>
          ))}
        </fieldset>
      )}
      {scoped && labels.length > 0 && (
        <fieldset className="field">
          <legend>And every source with these labels (each key chosen must match; any value of a key)</legend>
          {labels.map((l) => (
            <label key={`${l.key}:${l.value}`} className="check"><input type="checkbox" checked={value.labels.some(sameLabel(l))} onChange={(e) => onChange({ ...value, labels: e.target.checked ? [...value.labels, l] : value.labels.filter((x) => !sameLabel(l)(x)) })} /> {l.key}:{l.value}</label>
          ))}
        </fieldset>
      )}
    </>
  );
}

function permissionsOf(v: Scope) {
  const scoped = v.roleId.startsWith('source-');
  const labels = scoped ? v.labels : [];
  const resources: Permission['resources'] = scoped ? v.sourceIds.map((id) => ({ id, type: 'SOURCE' })) : [];
  if (labels.length > 0) resources.push({ id: 'workspace', type: 'WORKSPACE', labels });
  if (resources.length === 0) resources.push({ id: 'workspace', type: 'WORKSPACE' });
  return [{ roleId: v.roleId, resources }];
}

function Invites() {
  const list = usePaged<string>('/invites', 'invites', 100);
  const [email, setEmail] = useState('');
  const [perm, setPerm] = useState<Scope>({ roleId: 'workspace-read-only', sourceIds: [], labels: [] });
  const [created, setCreated] = useState<{ email: string; url?: string }[]>([]);
  const { busy, error, run } = useAction();
  const revoking = useAction();
  const f = error?.fields ?? {};
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const emails = email.split(/[,\s]+/).map((s) => s.trim()).filter(Boolean);
    const r = await run(() => api.post<{ data: { emails: string[]; inviteUrls?: string[] | Record<string, string> } }>('/invites', { invites: emails.map((x) => ({ email: x, permissions: permissionsOf(perm) })) }));
    if (!r) return;
    const urls = r.data.inviteUrls;
    setCreated(r.data.emails.map((x, i) => ({ email: x, url: Array.isArray(urls) ? urls[i] : urls?.[x] })));
    setEmail('');
    list.reload();
  };
  return (
    <div className="grid2">
      <form className="panel" onSubmit={(e) => void submit(e)} noValidate>
        <h2>Invite people</h2>
        <Field label="Email addresses" error={f['invites.0.email'] ?? f.invites ?? f.email} hint="Separate several with commas.">
          {(p) => <input {...p} type="text" inputMode="email" value={email} onChange={(e) => setEmail(e.target.value)} placeholder="ada@example.com" />}
        </Field>
        <PermissionPicker value={perm} onChange={setPerm} error={f['invites.0.permissions.0.roleId']} />
        <ErrorBox error={error && Object.keys(f).length === 0 ? error : undefined} what="Could not invite" />
        <button type="submit" className="btn primary" disabled={busy || !email.trim()}>{busy ? 'Inviting…' : 'Send invites'}</button>
        {created.length > 0 && (
          <div className="notice" role="status">
            <p><strong>Invited.</strong> Switchyard sends no email: give each person their link.</p>
            <ul>{created.map((c) => <li key={c.email}>{c.email}{c.url && <> · <code className="wrap">{c.url}</code> <CopyButton text={c.url} label="Copy link" /></>}</li>)}</ul>
          </div>
        )}
      </form>
      <section className="panel">
        <h2>Pending invites</h2>
        <ErrorBox error={list.error} onRetry={list.reload} what="Could not load invites" />
        {list.loading && list.items.length === 0 && <Loading />}
        {!list.loading && list.items.length === 0 && !list.error && <p className="muted">No pending invites.</p>}
        <ErrorBox error={revoking.error} what="Could not revoke the invite" />
        <ul className="invites">{list.items.map((x) => (
          <li key={x}>{x}{' '}
            <button type="button" className="btn small danger" aria-label={`Revoke the invite of ${x}`} disabled={revoking.busy}
              onClick={() => { if (window.confirm(`Revoke the invite of ${x}? Their link stops working.`)) void revoking.run(async () => { await api.del(`/invites?emails=${encodeURIComponent(x)}`); list.reload(); }); }}>Revoke</button>
          </li>
        ))}</ul>
        <MoreButton more={list.more} loading={list.loading} />
      </section>
    </div>
  );
}

function Tokens() {
  const list = usePaged<Token>('/tokens', 'tokens', 100);
  const { roleNames, sourceNames } = useLookups();
  const [description, setDescription] = useState('');
  const [perm, setPerm] = useState<Scope>({ roleId: 'workspace-owner', sourceIds: [], labels: [] });
  const [secret, setSecret] = useState<string | null>(null);
  const { busy, error, run } = useAction();
  const row = useAction();
  const f = error?.fields ?? {};
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = await run(() => api.post<{ data: { token?: string | (Token & { value?: string; token?: string }); value?: string; secret?: string } }>('/tokens', { description, permissions: permissionsOf(perm) }));
    if (!r) return;
    // The value is shown once: wherever the answer puts it (`token` as a string, or `token.value`).
    const t = r.data.token;
    setSecret(typeof t === 'string' ? t : t?.value ?? t?.token ?? r.data.value ?? r.data.secret ?? null);
    setDescription('');
    list.reload();
  };
  const revoke = (t: Token) => { if (window.confirm(`Revoke token “${t.description}”? Anything using it gets 401 at once.`)) void row.run(async () => { await api.del(`/tokens/${encodeURIComponent(t.id)}`); list.reload(); }); };
  return (
    <div className="grid2">
      <form className="panel" onSubmit={(e) => void submit(e)} noValidate>
        <h2>Create an API token</h2>
        <p className="muted small">For the Public API and <code>@segment/public-api-sdk-typescript</code>: send <code>Authorization: Bearer &lt;token&gt;</code>.</p>
        <Field label="Description" error={f.description} hint="What uses it, e.g. “Terraform”.">{(p) => <input {...p} value={description} onChange={(e) => setDescription(e.target.value)} />}</Field>
        <PermissionPicker value={perm} onChange={setPerm} error={f['permissions.0.roleId']} />
        <ErrorBox error={error && Object.keys(f).length === 0 ? error : undefined} what="Could not create the token" />
        <button type="submit" className="btn primary" disabled={busy || !description.trim()}>Create token</button>
        {secret && (
          <div className="notice" role="status">
            <p><strong>Copy this token now.</strong> It is stored hashed and will not be shown again.</p>
            <code className="wrap" data-testid="new-token">{secret}</code> <CopyButton text={secret} label="Copy token" />
          </div>
        )}
      </form>
      <section className="panel">
        <h2>Tokens</h2>
        <ErrorBox error={list.error ?? row.error} onRetry={list.reload} />
        {list.loading && list.items.length === 0 && <Loading />}
        {!list.loading && list.items.length === 0 && !list.error && <p className="muted">No tokens.</p>}
        {list.items.length > 0 && (
          <Table label="API tokens">
            <thead><tr><th>Description</th><th>Role</th><th>Created</th><th></th></tr></thead>
            <tbody>{list.items.map((t) => (
              <tr key={t.id}><td>{t.description}</td><td>{roleText(t.permissions, roleNames, sourceNames)}</td><td>{fmtTime(t.createdAt)}</td>
                <td>{t.revokedAt ? <span className="badge off">revoked</span> : <button type="button" className="btn small danger" onClick={() => revoke(t)}>Revoke</button>}</td></tr>
            ))}</tbody>
          </Table>
        )}
        <MoreButton more={list.more} loading={list.loading} />
      </section>
    </div>
  );
}

function Audit() {
  const [filter, setFilter] = useState({ resourceType: '', resourceId: '' });
  const [draft, setDraft] = useState(filter);
  const extra = Object.fromEntries(Object.entries(filter).filter(([, v]) => v));
  const list = usePaged<AuditEvent & { before?: unknown; after?: unknown }>('/audit-events', 'events', 50, extra);
  return (
    <section className="panel">
      <form className="inline" onSubmit={(e) => { e.preventDefault(); setFilter(draft); }}>
        <label>Resource type <select value={draft.resourceType} onChange={(e) => setDraft({ ...draft, resourceType: e.target.value })}>
          <option value="">Any</option>{['source', 'destination', 'filter', 'subscription', 'user', 'invite', 'token', 'label', 'workspace'].map((t) => <option key={t}>{t}</option>)}
        </select></label>
        <label>Resource id <input value={draft.resourceId} onChange={(e) => setDraft({ ...draft, resourceId: e.target.value })} /></label>
        <button type="submit" className="btn small">Filter</button>
      </form>
      <ErrorBox error={list.error} onRetry={list.reload} what="Could not load the audit trail" />
      {list.loading && list.items.length === 0 && <Loading />}
      {!list.loading && list.items.length === 0 && !list.error && <Empty title="No changes recorded" />}
      {list.items.length > 0 && (
        <Table label="Audit trail">
          <thead><tr><th>When</th><th>Who</th><th>What</th><th>Resource</th></tr></thead>
          <tbody>{list.items.map((e) => (
            <tr key={e.id}>
              <td>{fmtTime(e.timestamp)}</td><td>{e.actorEmail ?? e.actor}</td><td><code>{e.type}</code></td>
              <td>{e.resourceType}: {e.resourceName || e.resourceId}
                {(e.before !== undefined || e.after !== undefined) && <details><summary>Before / after</summary><pre className="code small">{JSON.stringify({ before: e.before, after: e.after }, null, 2)}</pre></details>}
              </td>
            </tr>
          ))}</tbody>
        </Table>
      )}
      <MoreButton more={list.more} loading={list.loading} />
    </section>
  );
}
