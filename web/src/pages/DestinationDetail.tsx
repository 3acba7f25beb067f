import { lazy, Suspense, useMemo, useState, type FormEvent } from 'react';
import { api } from '../api';
import { useAction, useApi } from '../hooks';
import { Link, navigate } from '../router';
import { canWrite, useSession } from '../session';
import { SettingsForm, cleanSettings, defaultsOf, fieldsOf, valuesFrom } from '../settings-form';
import type { CatalogDestination, Destination } from '../types';
import { ErrorBox, Field, Loading, Page, Status, Switch, Tabs } from '../ui';
import { useSourceNames } from './Destinations';

const Observe = lazy(() => import('./DestinationObserve'));
const Filters = lazy(() => import('./DestinationFilters'));
const Mappings = lazy(() => import('./DestinationMappings'));
const Tester = lazy(() => import('./DestinationTester'));
const Alerts = lazy(() => import('./DestinationAlerts'));

export default function DestinationDetail({ id, tab }: { id: string; tab?: string }) {
  const res = useApi<{ data: { destination: Destination } }>(`/destinations/${encodeURIComponent(id)}`);
  const d = res.data?.data.destination;
  const type = d?.metadata?.type ?? d?.metadata?.id;
  const def = useApi<{ data: { destination: CatalogDestination } }>(type ? `/api/v1/catalog/destinations/${encodeURIComponent(type)}` : null);
  const catalog = def.data?.data.destination;
  const sourceNames = useSourceNames();
  if (!d) {
    return <Page title="Destination" back={{ to: '/destinations', label: 'Destinations' }}>{res.loading ? <Loading /> : <ErrorBox error={res.error} onRetry={res.reload} what="Could not load this destination" />}</Page>;
  }
  const actions = catalog?.kind === 'actions' || (type ?? '').startsWith('actions-');
  const tabs = [
    { id: 'overview', label: 'Delivery Overview' },
    { id: 'delivery', label: 'Event Delivery' },
    { id: 'settings', label: 'Settings' },
    ...(actions ? [{ id: 'mappings', label: 'Mappings' }] : []),
    { id: 'filters', label: 'Filters' },
    { id: 'tester', label: 'Event Tester' },
    { id: 'alerts', label: 'Alerts' },
  ];
  const active = tab ?? 'overview';
  return (
    <Page title={d.name || d.metadata?.name} back={{ to: '/destinations', label: 'Destinations' }} actions={<Status on={d.enabled} />}>
      <p className="muted">{d.metadata?.name} · from <Link to={`/sources/${encodeURIComponent(d.sourceId)}`}>{sourceNames.get(d.sourceId) ?? `source ${d.sourceId}`}</Link> · <code>{d.id}</code></p>
      <Tabs base={`/destinations/${encodeURIComponent(id)}`} tabs={tabs} active={active} />
      <Suspense fallback={<Loading />}>
        {active === 'overview' && <Observe destination={d} view="overview" />}
        {active === 'delivery' && <Observe destination={d} view="delivery" />}
        {active === 'settings' && <DestinationSettings destination={d} catalog={catalog} catalogError={def.error} onSaved={res.reload} />}
        {active === 'mappings' && <Mappings destination={d} catalog={catalog} />}
        {active === 'filters' && <Filters destination={d} />}
        {active === 'tester' && <Tester destination={d} />}
        {active === 'alerts' && <Alerts destination={d} />}
      </Suspense>
    </Page>
  );
}

function DestinationSettings({ destination: d, catalog, catalogError, onSaved }: { destination: Destination; catalog?: CatalogDestination; catalogError?: import('../api').ApiError; onSaved: () => void }) {
  const { user, open } = useSession();
  const writable = canWrite(user, open);
  const fields = useMemo(() => (catalog ? fieldsOf(catalog) : []), [catalog]);
  const [values, setValues] = useState<Record<string, unknown> | null>(null);
  const [form, setForm] = useState({ name: d.name ?? '', enabled: d.enabled });
  const save = useAction();
  const del = useAction();
  const f = save.error?.fields ?? {};
  const vals = values ?? { ...defaultsOf(fields), ...valuesFrom(fields, d.settings) };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const ok = await save.run(async () => {
      await api.patch(`/destinations/${encodeURIComponent(d.id)}`, { name: form.name || null, enabled: form.enabled, settings: cleanSettings(fields, vals) });
      return true;
    });
    if (ok) onSaved();
  };
  const remove = async () => {
    if (!window.confirm(`Delete ${d.name || 'this destination'}? Events stop going to it at once.`)) return;
    const ok = await del.run(async () => { await api.del(`/destinations/${encodeURIComponent(d.id)}`); return true; });
    if (ok) navigate('/destinations');
  };
  const general = save.error && Object.keys(f).every((k) => !k.startsWith('settings') && k !== 'name') ? save.error : undefined;
  return (
    <>
      <form className="panel" onSubmit={(e) => void submit(e)} noValidate>
        <Field label="Name" error={f.name}>{(p) => <input {...p} value={form.name} disabled={!writable} onChange={(e) => setForm({ ...form, name: e.target.value })} />}</Field>
        <Switch checked={form.enabled} disabled={!writable} onChange={(enabled) => setForm({ ...form, enabled })} label={form.enabled ? 'Enabled' : 'Disabled: events sent meanwhile are not delivered later'} />
        <h2>Settings</h2>
        <ErrorBox error={catalogError} what="Could not load this destination's definition" />
        {catalog ? <SettingsForm fields={fields} values={vals} onChange={setValues} errors={f} stored={d.settings} disabled={!writable} /> : !catalogError && <Loading />}
        <ErrorBox error={general} what="Could not save" />
        {save.error && !general && <p className="field-error" role="alert">Check the highlighted fields.</p>}
        {writable && <div className="form-actions"><button type="submit" className="btn primary" disabled={save.busy}>{save.busy ? 'Saving…' : 'Save changes'}</button></div>}
      </form>
      {writable && (
        <section className="panel danger-zone">
          <h2>Delete this destination</h2>
          <ErrorBox error={del.error} what="Could not delete" />
          <button type="button" className="btn danger" onClick={() => void remove()} disabled={del.busy}>Delete destination</button>
        </section>
      )}
    </>
  );
}
