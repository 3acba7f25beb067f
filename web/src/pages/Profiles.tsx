import { useState, type FormEvent } from 'react';
import { useApi } from '../hooks';
import { navigate } from '../router';
import { Empty, ErrorBox, Field, Loading, Page, Table, fmtTime } from '../ui';

/**
 * Unify's Profile explorer: one profile by any of its identifiers (`#/profiles?identifier=
 * email:a@b.com`), with its external IDs, traits, latest events and account links, as the
 * identity graph resolved them. Unify is declared in the workspace file (`unify:`).
 */
interface Space { id: string; name: string; sourceIds: string[]; identityRules: { type: string; limit: number; frequency?: string }[] }
interface ExternalId { id: string; type: string; source_id: string; created_at: string }
interface ProfileEvent { type?: string; event?: string; name?: string; timestamp?: string; source_id?: string; message_id?: string }
interface Profile {
  profileId: string;
  metadata: { created_at?: string; updated_at?: string; first_message_id?: string; last_message_id?: string };
  traits: Record<string, unknown>;
  externalIds: ExternalId[];
  events: ProfileEvent[];
  links: { to_collection?: string; external_ids?: { type: string; id: string }[] }[];
}

const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

export default function Profiles({ identifier }: { identifier?: string }) {
  const space = useApi<{ data: { space: Space | null } }>('/api/v1/unify');
  if (!space.data) return <Page title="Profiles">{space.loading ? <Loading /> : <ErrorBox error={space.error} onRetry={space.reload} what="Could not load Unify" />}</Page>;
  const s = space.data.data.space;
  if (!s) {
    return (
      <Page title="Profiles">
        <Empty title="Unify is off">
          Identity resolution runs for the space declared under <code>unify:</code> in the workspace file
          (its sources, access token and identity rules; see the README).
        </Empty>
      </Page>
    );
  }
  return (
    <Page title="Profiles">
      <p className="muted">Space <strong>{s.name}</strong> · <code>{s.id}</code> · fed by {s.sourceIds.length} source{s.sourceIds.length === 1 ? '' : 's'} · identifiers in priority order: {s.identityRules.map((r) => `${r.type} (${r.limit}${r.frequency && r.frequency !== 'ever' ? ` ${r.frequency}` : ''})`).join(', ')}</p>
      <Lookup types={['segment_id', ...s.identityRules.map((r) => r.type)]} initial={identifier} />
      {identifier && <ProfileView key={identifier} identifier={identifier} />}
    </Page>
  );
}

function Lookup({ types, initial }: { types: string[]; initial?: string }) {
  const colon = initial?.indexOf(':') ?? -1;
  const [type, setType] = useState(colon > 0 ? initial!.slice(0, colon) : types.includes('user_id') ? 'user_id' : types[0]!);
  const [value, setValue] = useState(colon > 0 ? initial!.slice(colon + 1) : '');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (value.trim()) navigate(`/profiles?identifier=${encodeURIComponent(`${type}:${value.trim()}`)}`);
  };
  return (
    <form className="panel" onSubmit={submit} role="search" aria-label="Find a profile">
      <Field label="Identifier type">
        {(p) => <select {...p} value={type} onChange={(e) => setType(e.target.value)}>{types.map((t) => <option key={t} value={t}>{t}</option>)}</select>}
      </Field>
      <Field label="Value" hint="A user id, an email, an anonymous id, … or a profile's segment_id (use_…).">
        {(p) => <input {...p} value={value} onChange={(e) => setValue(e.target.value)} placeholder="u1" />}
      </Field>
      <button type="submit" className="btn primary">Find profile</button>
    </form>
  );
}

function ProfileView({ identifier }: { identifier: string }) {
  const got = useApi<{ data: Profile }>(`/api/v1/unify/profile?identifier=${encodeURIComponent(identifier)}`);
  if (!got.data) return got.loading ? <Loading /> : <ErrorBox error={got.error} onRetry={got.reload} what={`No profile for ${identifier}`} />;
  const p = got.data.data;
  const traits = Object.entries(p.traits);
  return (
    <>
      <section className="panel" aria-labelledby="profile-title">
        <h2 id="profile-title">Profile <code data-testid="profile-id">{p.profileId}</code></h2>
        <p className="muted small">Created {fmtTime(p.metadata.created_at)} · last seen {fmtTime(p.metadata.updated_at)}</p>
        <h3>External IDs</h3>
        <Table label="External IDs">
          <thead><tr><th>Type</th><th>Value</th><th>Source</th><th>First seen</th></tr></thead>
          <tbody>{p.externalIds.map((x) => (
            <tr key={`${x.type}:${x.id}`}><td>{x.type}</td><td><code>{x.id}</code></td><td><code>{x.source_id}</code></td><td>{fmtTime(x.created_at)}</td></tr>
          ))}</tbody>
        </Table>
        <h3>Traits</h3>
        {traits.length === 0 ? <p className="muted">No traits yet (identify calls and <code>context.traits</code> set them).</p> : (
          <Table label="Traits">
            <thead><tr><th>Trait</th><th>Value</th></tr></thead>
            <tbody>{traits.map(([k, v]) => <tr key={k}><td>{k}</td><td><code>{show(v)}</code></td></tr>)}</tbody>
          </Table>
        )}
        {p.links.length > 0 && (
          <>
            <h3>Accounts</h3>
            <ul>{p.links.flatMap((l) => l.external_ids ?? []).map((x) => <li key={`${x.type}:${x.id}`}><code>{x.type}:{x.id}</code></li>)}</ul>
          </>
        )}
      </section>
      <section className="panel" aria-labelledby="profile-events">
        <h2 id="profile-events">Latest events</h2>
        {p.events.length === 0 ? <p className="muted">No events.</p> : (
          <Table label="Latest events">
            <thead><tr><th>When</th><th>Type</th><th>Event</th><th>Source</th></tr></thead>
            <tbody>{p.events.map((e, i) => (
              <tr key={e.message_id ?? i}><td>{fmtTime(e.timestamp)}</td><td>{e.type}</td><td>{e.event ?? e.name ?? '–'}</td><td><code>{e.source_id}</code></td></tr>
            ))}</tbody>
          </Table>
        )}
      </section>
    </>
  );
}
