import { useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, api } from '../api';
import { useAction, useApi, usePaged } from '../hooks';
import { Link, navigate } from '../router';
import { canWrite, useSession } from '../session';
import { SettingsForm, cleanSettings, defaultsOf, type FieldSpec } from '../settings-form';
import type { Destination, Source, User } from '../types';
import { CopyButton, Empty, ErrorBox, Field, Loading, MoreButton, Page, SourceSelect, Status, Switch, Table, Tabs, fmtTime } from '../ui';
import { slugify } from './Sources';

/**
 * Functions (Segment's `FunctionsApi`): source, destination and insert functions,
 * their code, declared settings, versions and deployments, and their instances:
 * a destination made from a destination function (`POST /destinations` with the
 * function's `catalogId`), an insert function in front of a destination
 * (`/insert-function-instances`), a source made from a source function
 * (`POST /sources`), whose webhook is `/fn?b=<write key, base64url>`.
 */

const enc = encodeURIComponent;

type FunctionKind = 'DESTINATION' | 'INSERT_DESTINATION' | 'SOURCE';
type SettingType = 'STRING' | 'BOOLEAN' | 'ARRAY' | 'TEXT_MAP';
interface FunctionSetting { name: string; label: string; description: string; type: SettingType; required: boolean; sensitive: boolean }
interface FunctionItem {
  id: string; resourceType: FunctionKind; displayName: string; description?: string; catalogId: string;
  createdAt: string | null; createdBy?: string;
}
interface FunctionView extends FunctionItem {
  code: string; settings: FunctionSetting[]; deployedAt: string | null; isLatestVersion: boolean; previewWebhookUrl?: string;
}
interface FunctionVersion { id: string; author?: string; code: string; isDeployed: boolean; createdAt: string | null; deployedAt?: string | null }
interface InsertInstance {
  id: string; name: string; integrationId: string; classId: string; enabled: boolean; createdAt: string | null;
  updatedAt: string | null; settings: Record<string, unknown>; encryptedSettings: Record<string, string>;
}

const DESTINATION_TEMPLATE = `// A destination function: each event of the sources it is connected to calls the
// handler of its type (onTrack, onIdentify, onPage, onScreen, onGroup, onAlias,
// onDelete; onBatch for batches). \`settings\` holds the instance's settings.
// Throw RetryError to retry later, ValidationError or EventNotSupported to discard.

/**
 * @param {SegmentTrackEvent} event
 * @param {FunctionSettings} settings
 */
async function onTrack(event, settings) {
  const endpoint = 'https://example.com/collect'; // or declare a setting and use settings.endpoint
  let response;
  try {
    response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(event),
    });
  } catch (error) {
    // Retry on connection errors
    throw new RetryError(error.message);
  }
  if (response.status >= 500 || response.status === 429) {
    // Retry on server errors and rate limits
    throw new RetryError(\`Failed with \${response.status}\`);
  }
}

async function onIdentify(event, settings) {
  throw new EventNotSupported('identify is not supported');
}
`;

const INSERT_TEMPLATE = `// An insert function runs in front of one destination: each handler gets the event
// (after the destination's filters) and returns the event to deliver.
// Throw DropEvent to filter an event out, RetryError to retry it later.

/**
 * @param {SegmentTrackEvent} event
 * @param {FunctionSettings} settings
 */
async function onTrack(event, settings) {
  event.properties = { ...event.properties, processedBy: 'insert function' };
  return event;
}

async function onIdentify(event, settings) {
  return event;
}

async function onPage(event, settings) {
  return event;
}
`;

const SOURCE_TEMPLATE = `// A source function: each request to the source's webhook URL calls onRequest.
// What it sends with Segment.track(), .identify(), .page(), .screen(), .group()
// and .alias() enters the source like events sent with the Tracking API.

/**
 * @param {SegmentRequest} request
 * @param {FunctionSettings} settings
 */
async function onRequest(request, settings) {
  const body = request.json();
  // request.headers.get('...'), request.url.searchParams.get('...')

  Segment.track({
    event: body.event || 'Webhook Received',
    userId: body.userId,
    anonymousId: body.anonymousId,
    properties: { ...body.properties },
  });
}
`;

type KindId = 'destination' | 'insert' | 'source';
interface Kind { id: KindId; type: FunctionKind; label: string; plural: string; description: string; template: string; codeHint: ReactNode }
const KINDS: Kind[] = [
  {
    id: 'destination', type: 'DESTINATION', label: 'Destination function', plural: 'Destination functions',
    description: 'Receives the events of the sources it is connected to, like a destination: call any API with them.',
    template: DESTINATION_TEMPLATE,
    codeHint: <>Define at least one of <code>onTrack</code>, <code>onIdentify</code>, <code>onPage</code>, <code>onScreen</code>, <code>onGroup</code>, <code>onAlias</code>, <code>onDelete</code>, <code>onBatch</code>: <code>(event, settings)</code>.</>,
  },
  {
    id: 'insert', type: 'INSERT_DESTINATION', label: 'Insert function', plural: 'Insert functions',
    description: 'Runs in front of one destination: changes or drops each event before the destination gets it.',
    template: INSERT_TEMPLATE,
    codeHint: <>Each handler (<code>onTrack</code>, <code>onIdentify</code>, …) returns the event to deliver; <code>throw new DropEvent()</code> filters it out.</>,
  },
  {
    id: 'source', type: 'SOURCE', label: 'Source function', plural: 'Source functions',
    description: 'Receives webhooks from another service at its own URL and turns them into events.',
    template: SOURCE_TEMPLATE,
    codeHint: <>Define <code>onRequest(request, settings)</code>; <code>request.json()</code> is the body; send events with <code>Segment.track(…)</code> and the like.</>,
  },
];
const kindById = (id: string | undefined): Kind => KINDS.find((k) => k.id === id) ?? KINDS[0]!;
const kindOf = (type: FunctionKind): Kind => KINDS.find((k) => k.type === type) ?? KINDS[0]!;

/** Workspace Owners and Functions Admins change functions (the API checks every write). */
function canWriteFunctions(user: User | null, open: boolean): boolean {
  if (open) return true;
  if (!user) return false;
  if (!user.permissions || user.permissions.length === 0) return canWrite(user, open);
  return user.permissions.some((p) => p.roleId === 'workspace-owner' || p.roleId === 'functions-admin');
}

/** An error without the items shown under fields (undefined when nothing is left). */
function unshown(error: ApiError | undefined, shown: (field: string) => boolean): ApiError | undefined {
  if (!error) return undefined;
  const rest = error.errors.filter((e) => !e.field || !shown(e.field));
  return rest.length > 0 ? new ApiError(error.status, rest) : undefined;
}

/** Segment's `?b=` token: the write key in base64url (no padding). */
function base64url(s: string): string {
  let bin = '';
  for (const b of new TextEncoder().encode(s)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
const webhookUrl = (writeKey: string) => `${window.location.origin}/fn?b=${base64url(writeKey)}`;

/** A function's declared settings as the settings form shows them to an instance. */
function fieldsOfFunction(settings: FunctionSetting[]): FieldSpec[] {
  return settings.map((s) => ({
    key: s.name, label: s.label || s.name, description: s.description || undefined, required: s.required, secret: s.sensitive,
    kind: s.type === 'BOOLEAN' ? 'boolean' : s.type === 'ARRAY' ? 'list' : s.type === 'TEXT_MAP' ? 'map' : 'string',
  }));
}

export default function Functions({ id, tab, kind }: { id?: string; tab?: string; kind?: string }) {
  if (id === 'new') return <NewFunction initial={kindById(kind)} />;
  if (id) return <FunctionDetail id={id} tab={tab ?? 'code'} />;
  return <FunctionList kind={kindById(tab)} />;
}

// ---------------------------------------------------------------------------
// The list

function FunctionList({ kind }: { kind: Kind }) {
  const { user, open } = useSession();
  const add = canWriteFunctions(user, open) ? <Link className="btn primary" to={`/functions/new?kind=${kind.id}`}>New function</Link> : null;
  return (
    <Page title="Functions" actions={add}>
      <p className="muted">Your own JavaScript, run by Switchyard in a sandbox: destination functions send events anywhere, insert functions change them
        before a destination, source functions turn webhooks into events.</p>
      <Tabs base="/functions" active={kind.id} tabs={KINDS.map((k) => ({ id: k.id, label: k.plural }))} />
      <KindList key={kind.id} kind={kind} add={add} />
    </Page>
  );
}

function KindList({ kind, add }: { kind: Kind; add: ReactNode }) {
  const list = usePaged<FunctionItem>('/functions', 'functions', 200, { resourceType: kind.type });
  return (
    <>
      <p className="muted small">{kind.description}</p>
      <ErrorBox error={list.error} onRetry={list.reload} what="Could not load functions" />
      {list.loading && list.items.length === 0 && <Loading label="Loading functions…" />}
      {!list.loading && !list.error && list.items.length === 0 && (
        <Empty title={`No ${kind.plural.toLowerCase()} yet`}><p>Write one, then connect it.</p>{add}</Empty>
      )}
      {list.items.length > 0 && (
        <Table label={kind.plural}>
          <thead><tr><th>Name</th><th>Description</th><th>Created</th><th>Created by</th></tr></thead>
          <tbody>{list.items.map((f) => (
            <tr key={f.id}>
              <td><Link to={`/functions/${enc(f.id)}`}>{f.displayName}</Link><div className="muted small">{f.id}</div></td>
              <td>{f.description || <span className="muted">–</span>}</td>
              <td>{fmtTime(f.createdAt)}</td>
              <td>{f.createdBy || '–'}</td>
            </tr>
          ))}</tbody>
        </Table>
      )}
      <MoreButton more={list.more} loading={list.loading} />
    </>
  );
}

// ---------------------------------------------------------------------------
// Shared editors: code and declared settings

/** The code in a monospace textarea; the API's message (naming a line) under it, with a way to that line. */
function CodeField({ kind, value, onChange, error, disabled }: { kind: Kind; value: string; onChange: (v: string) => void; error?: string; disabled?: boolean }) {
  const ref = useRef<HTMLTextAreaElement>(null);
  const at = error ? /line (\d+)(?:, column (\d+))?/.exec(error) : null;
  const goTo = (line: number) => {
    const ta = ref.current;
    if (!ta) return;
    const lines = ta.value.split('\n');
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    ta.focus();
    ta.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
    const lineHeight = parseFloat(getComputedStyle(ta).lineHeight) || 18;
    ta.scrollTop = Math.max(0, (line - 4) * lineHeight);
  };
  return (
    <>
      <Field label="Code" error={error} hint={kind.codeHint} required>
        {(p) => (
          <textarea {...p} ref={ref} name="code" className="mono code-editor" rows={22} wrap="off" spellCheck={false} autoCapitalize="off"
            autoComplete="off" autoCorrect="off" readOnly={disabled} value={value} onChange={(e) => onChange(e.target.value)} />
        )}
      </Field>
      {at && <p className="code-jump"><button type="button" className="btn small" onClick={() => goTo(Number(at[1]))}>Go to line {at[1]}</button></p>}
    </>
  );
}

const TYPES: { id: SettingType; label: string }[] = [
  { id: 'STRING', label: 'Text' },
  { id: 'BOOLEAN', label: 'On/off (boolean)' },
  { id: 'ARRAY', label: 'List of text' },
  { id: 'TEXT_MAP', label: 'Map (name → text)' },
];
/** "API key" → `apiKey`: the setting's name in the code, from its label. */
function camel(label: string): string {
  const words = label.normalize('NFKD').replace(/[^A-Za-z0-9]+/g, ' ').trim().split(' ').filter(Boolean);
  const out = words.map((w, i) => (i === 0 ? w.charAt(0).toLowerCase() + w.slice(1) : w.charAt(0).toUpperCase() + w.slice(1))).join('');
  return /^\d/.test(out) ? `_${out}` : out;
}
const blankSetting = (): FunctionSetting => ({ name: '', label: '', description: '', type: 'STRING', required: false, sensitive: false });

/** The settings a function declares: each instance fills them in; the code reads `settings.<name>`. */
function SettingsDeclaration({ value, onChange, errors, disabled }: {
  value: FunctionSetting[]; onChange: (v: FunctionSetting[]) => void; errors: Record<string, string>; disabled?: boolean;
}) {
  const set = (i: number, patch: Partial<FunctionSetting>) => onChange(value.map((s, j) => (j === i ? { ...s, ...patch } : s)));
  const setLabel = (i: number, label: string) => {
    const s = value[i]!;
    // The name follows the label until it is edited by hand.
    set(i, s.name === '' || s.name === camel(s.label) ? { label, name: camel(label) } : { label });
  };
  const err = (i: number, k: keyof FunctionSetting) => errors[`settings.${i}.${k}`];
  const whole = Object.entries(errors).find(([k]) => k === 'settings' || (k.startsWith('settings.') && !/^settings\.\d+\.(name|label|description|type|required|sensitive)$/.test(k)));
  return (
    <section className="settings-declaration" aria-labelledby="declared-settings">
      <h2 id="declared-settings">Settings</h2>
      <p className="muted small">Declared here, filled in by each instance (an API key, an endpoint); the code reads them as <code>settings.&lt;name&gt;</code>.
        Sensitive ones are encrypted at rest and never shown again.</p>
      {value.length === 0 && <p className="muted">No settings declared.</p>}
      {value.map((s, i) => (
        <fieldset key={i} className="setting-decl">
          <legend>Setting {i + 1}</legend>
          <div className="row">
            <Field label="Label" error={err(i, 'label')} hint="Shown when connecting an instance." required>
              {(p) => <input {...p} name={`settings.${i}.label`} value={s.label} disabled={disabled} onChange={(e) => setLabel(i, e.target.value)} />}
            </Field>
            <Field label="Name in code" error={err(i, 'name')} hint={<>Read as <code>settings.{s.name || 'name'}</code>.</>} required>
              {(p) => <input {...p} name={`settings.${i}.name`} className="mono" autoComplete="off" spellCheck={false} value={s.name} disabled={disabled} onChange={(e) => set(i, { name: e.target.value })} />}
            </Field>
            <Field label="Type" error={err(i, 'type')}>
              {(p) => (
                <select {...p} name={`settings.${i}.type`} value={s.type} disabled={disabled} onChange={(e) => set(i, { type: e.target.value as SettingType })}>
                  {TYPES.map((t) => <option key={t.id} value={t.id}>{t.label}</option>)}
                </select>
              )}
            </Field>
          </div>
          <Field label="Help text" error={err(i, 'description')} hint="Optional: shown under the field when connecting an instance.">
            {(p) => <input {...p} name={`settings.${i}.description`} value={s.description} disabled={disabled} onChange={(e) => set(i, { description: e.target.value })} />}
          </Field>
          <div className="row setting-flags">
            <div className={`field check${err(i, 'required') ? ' invalid' : ''}`}>
              <label><input type="checkbox" name={`settings.${i}.required`} checked={s.required} disabled={disabled} onChange={(e) => set(i, { required: e.target.checked })} /> Required</label>
              {err(i, 'required') && <small className="field-error">{err(i, 'required')}</small>}
            </div>
            <div className={`field check${err(i, 'sensitive') ? ' invalid' : ''}`}>
              <label><input type="checkbox" name={`settings.${i}.sensitive`} checked={s.sensitive} disabled={disabled} onChange={(e) => set(i, { sensitive: e.target.checked })} /> Sensitive (a secret)</label>
              {err(i, 'sensitive') && <small className="field-error">{err(i, 'sensitive')}</small>}
            </div>
            {!disabled && <button type="button" className="btn small ghost" aria-label={`Remove setting ${i + 1}${s.label ? ` (${s.label})` : ''}`} onClick={() => onChange(value.filter((_, j) => j !== i))}>Remove</button>}
          </div>
        </fieldset>
      ))}
      {whole && <p className="field-error" role="alert"><code>{whole[0]}</code>: {whole[1]}</p>}
      {!disabled && <button type="button" className="btn small" onClick={() => onChange([...value, blankSetting()])}>Add setting</button>}
    </section>
  );
}

/** The API's names of what the code editor and the settings declaration show under their fields. */
const functionFieldShown = (k: string) => k === 'code' || k === 'displayName' || k === 'description' || k === 'resourceType' || k === 'settings' || k.startsWith('settings.');

// ---------------------------------------------------------------------------
// New function

function NewFunction({ initial }: { initial: Kind }) {
  const { user, open } = useSession();
  const writable = canWriteFunctions(user, open);
  const [kind, setKind] = useState<Kind>(initial);
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [code, setCode] = useState(initial.template);
  const [settings, setSettings] = useState<FunctionSetting[]>([]);
  const save = useAction();
  const f = save.error?.fields ?? {};

  const pick = (k: Kind) => {
    // An untouched template follows the kind; code the user wrote stays.
    if (KINDS.some((x) => x.template === code)) setCode(k.template);
    setKind(k);
    save.clear();
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const created = await save.run(() => api.post<{ data: { function: FunctionView } }>('/functions', {
      resourceType: kind.type, displayName: name.trim(), description: description.trim(), code, settings,
    }));
    if (created) navigate(`/functions/${enc(created.data.function.id)}?tab=instances`);
  };
  const general = unshown(save.error, functionFieldShown);
  return (
    <Page title="New function" back={{ to: `/functions?tab=${kind.id}`, label: 'Functions' }}>
      {!writable && <p className="notice">Only Workspace Owners and Functions Admins create functions: the server will refuse this one.</p>}
      <fieldset className="catalog-pick">
        <legend>1. What kind of function?</legend>
        <div className="cards small">
          {KINDS.map((k) => (
            <button type="button" key={k.id} className={`card pick${kind.id === k.id ? ' selected' : ''}`} aria-pressed={kind.id === k.id} onClick={() => pick(k)}>
              <strong>{k.label}</strong>
              <span className="muted small">{k.description}</span>
            </button>
          ))}
        </div>
      </fieldset>
      {f.resourceType && <p className="field-error" role="alert">{f.resourceType}</p>}
      <form className="panel function-form" onSubmit={(e) => void submit(e)} noValidate>
        <h2>2. Write your {kind.label.toLowerCase()}</h2>
        <Field label="Name" error={f.displayName} hint="Shown in the console and in the integrations object, e.g. “Orders API”." required>
          {(p) => <input {...p} name="displayName" maxLength={120} value={name} onChange={(e) => setName(e.target.value)} />}
        </Field>
        <Field label="Description" error={f.description}>
          {(p) => <input {...p} name="description" value={description} onChange={(e) => setDescription(e.target.value)} />}
        </Field>
        <CodeField kind={kind} value={code} onChange={setCode} error={f.code} />
        <SettingsDeclaration value={settings} onChange={setSettings} errors={f} />
        <ErrorBox error={general} what="Could not create the function" />
        {save.error && !general && <p className="field-error" role="alert">Check the highlighted fields.</p>}
        <div className="form-actions"><button type="submit" className="btn primary" disabled={save.busy}>{save.busy ? 'Creating…' : 'Create function'}</button></div>
      </form>
    </Page>
  );
}

// ---------------------------------------------------------------------------
// One function

function FunctionDetail({ id, tab }: { id: string; tab: string }) {
  const path = `/functions/${enc(id)}`;
  const res = useApi<{ data: { function: FunctionView } }>(path);
  const [fresh, setFresh] = useState<FunctionView>();
  const [rev, setRev] = useState(0);
  const [dirty, setDirty] = useState(false);
  const { user, open } = useSession();
  const writable = canWriteFunctions(user, open);
  const deploy = useAction();
  const fn = fresh ?? res.data?.data.function;
  const update = (f: FunctionView) => { setFresh(f); setRev((n) => n + 1); };
  const refresh = async () => update((await api.get<{ data: { function: FunctionView } }>(path)).data.function);

  if (!fn) {
    return <Page title="Function" back={{ to: '/functions', label: 'Functions' }}>{res.loading ? <Loading /> : <ErrorBox error={res.error} onRetry={res.reload} what="Could not load this function" />}</Page>;
  }
  const kind = kindOf(fn.resourceType);
  const doDeploy = () => void deploy.run(async () => { await api.post(`${path}/deploy`); await refresh(); return true; });
  const state = fn.deployedAt === null
    ? <span className="badge warn">Not deployed</span>
    : fn.isLatestVersion ? <span className="badge ok">Deployed</span> : <span className="badge warn">Saved, not deployed</span>;
  const actions = (
    <>
      {state}
      {writable && (
        <button type="button" className={`btn${fn.isLatestVersion ? '' : ' primary'}`} onClick={doDeploy} disabled={deploy.busy || fn.isLatestVersion}
          title={fn.isLatestVersion ? 'The saved version is the deployed one' : undefined}>
          {deploy.busy ? 'Deploying…' : 'Deploy'}
        </button>
      )}
    </>
  );
  const tabs = [
    { id: 'code', label: 'Code and settings' }, { id: 'versions', label: 'Versions' }, { id: 'instances', label: 'Instances' },
    // A destination or insert function's failures are in its destinations' Event Delivery.
    ...(fn.resourceType === 'SOURCE' ? [{ id: 'errors', label: 'Errors' }] : []),
  ];
  return (
    <Page title={fn.displayName} back={{ to: `/functions?tab=${kind.id}`, label: 'Functions' }} actions={actions}>
      <p className="muted">{kind.label} · <code>{fn.id}</code>{fn.createdAt && <> · created {fmtTime(fn.createdAt)}{fn.createdBy ? ` by ${fn.createdBy}` : ''}</>}</p>
      {fn.description && <p>{fn.description}</p>}
      {!fn.isLatestVersion && (
        <p className="notice" role="status" data-testid="deploy-state">
          <strong>Saved but not deployed.</strong> Instances still run the version deployed {fn.deployedAt ? fmtTime(fn.deployedAt) : 'before'}; Deploy to run the saved code.
        </p>
      )}
      {!fn.isLatestVersion && dirty && <p className="muted small">Deploy runs the saved version, not your unsaved changes.</p>}
      <ErrorBox error={deploy.error} what="Could not deploy" />
      <Tabs base={`/functions/${enc(id)}`} active={tab} tabs={tabs} />
      {tab === 'code' && <CodeEditor key={fn.id} fn={fn} writable={writable} onSaved={update} onDirty={setDirty} />}
      {tab === 'versions' && <Versions fn={fn} rev={rev} writable={writable} onRestored={() => void refresh()} />}
      {tab === 'instances' && fn.resourceType === 'DESTINATION' && <DestinationInstances fn={fn} />}
      {tab === 'instances' && fn.resourceType === 'INSERT_DESTINATION' && <InsertInstances fn={fn} />}
      {tab === 'instances' && fn.resourceType === 'SOURCE' && <SourceInstances fn={fn} />}
      {tab === 'errors' && fn.resourceType === 'SOURCE' && <SourceErrors fn={fn} />}
    </Page>
  );
}

interface CodeForm { displayName: string; description: string; code: string; settings: FunctionSetting[] }
const formOf = (fn: FunctionView): CodeForm => ({
  displayName: fn.displayName, description: fn.description ?? '', code: fn.code,
  settings: fn.settings.map((s) => ({ name: s.name, label: s.label, description: s.description ?? '', type: s.type, required: s.required, sensitive: s.sensitive })),
});

function CodeEditor({ fn, writable, onSaved, onDirty }: { fn: FunctionView; writable: boolean; onSaved: (f: FunctionView) => void; onDirty: (d: boolean) => void }) {
  const [form, setForm] = useState<CodeForm>(() => formOf(fn));
  const save = useAction();
  const del = useAction();
  const saved = formOf(fn);
  const codeChanged = form.code !== saved.code;
  const settingsChanged = JSON.stringify(form.settings) !== JSON.stringify(saved.settings);
  const dirty = codeChanged || settingsChanged || form.displayName !== saved.displayName || form.description !== saved.description;
  useEffect(() => { onDirty(dirty); }, [dirty, onDirty]);
  useEffect(() => () => onDirty(false), [onDirty]);
  const kind = kindOf(fn.resourceType);
  const f = save.error?.fields ?? {};

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    // Code and settings only when changed: each save of them is a new version.
    const body: Record<string, unknown> = {};
    if (form.displayName !== saved.displayName) body.displayName = form.displayName.trim();
    if (form.description !== saved.description) body.description = form.description.trim();
    if (codeChanged) body.code = form.code;
    if (settingsChanged) body.settings = form.settings;
    const res = await save.run(() => api.patch<{ data: { function: FunctionView } }>(`/functions/${enc(fn.id)}`, body));
    if (res) {
      onSaved(res.data.function);
      setForm(formOf(res.data.function));
    }
  };
  const remove = async () => {
    if (!window.confirm(`Delete the function ${fn.displayName} and all its versions? This cannot be undone.`)) return;
    const ok = await del.run(async () => { await api.del(`/functions/${enc(fn.id)}`); return true; });
    if (ok) navigate(`/functions?tab=${kind.id}`);
  };
  const general = unshown(save.error, functionFieldShown);
  return (
    <>
      <form className="panel function-form" onSubmit={(e) => void submit(e)} noValidate>
        {!writable && <p className="notice">Only Workspace Owners and Functions Admins change functions.</p>}
        <Field label="Name" error={f.displayName} required>
          {(p) => <input {...p} name="displayName" maxLength={120} value={form.displayName} disabled={!writable} onChange={(e) => setForm({ ...form, displayName: e.target.value })} />}
        </Field>
        <Field label="Description" error={f.description}>
          {(p) => <input {...p} name="description" value={form.description} disabled={!writable} onChange={(e) => setForm({ ...form, description: e.target.value })} />}
        </Field>
        <CodeField kind={kind} value={form.code} onChange={(code) => setForm({ ...form, code })} error={f.code} disabled={!writable} />
        <SettingsDeclaration value={form.settings} onChange={(settings) => setForm({ ...form, settings })} errors={f} disabled={!writable} />
        <ErrorBox error={general} what="Could not save" />
        {save.error && !general && <p className="field-error" role="alert">Check the highlighted fields.</p>}
        {writable && (
          <div className="form-actions">
            <button type="submit" className="btn primary" disabled={save.busy || !dirty}>{save.busy ? 'Saving…' : 'Save'}</button>
            <span className="muted small" role="status">{dirty ? 'Unsaved changes.' : 'Saving code or settings adds a version; instances run it once deployed.'}</span>
          </div>
        )}
      </form>
      {writable && (
        <section className="panel danger-zone">
          <h2>Delete this function</h2>
          <p className="muted small">A function in use (by a destination, a source or an insert function instance) cannot be deleted: delete those first.</p>
          <ErrorBox error={del.error} what="Could not delete the function" />
          <button type="button" className="btn danger" onClick={() => void remove()} disabled={del.busy}>Delete function</button>
        </section>
      )}
    </>
  );
}

function Versions({ fn, rev, writable, onRestored }: { fn: FunctionView; rev: number; writable: boolean; onRestored: () => void }) {
  const list = useApi<{ data: { versions: FunctionVersion[] } }>(`/functions/${enc(fn.id)}/versions?pagination[count]=200`);
  const restore = useAction();
  const [done, setDone] = useState<string>();
  const first = useRef(rev);
  const { reload } = list;
  // A save, deploy or restore elsewhere on the page: list again.
  useEffect(() => { if (rev !== first.current) reload(); }, [rev, reload]);
  const versions = list.data?.data.versions ?? [];
  const latest = versions[0]?.id;
  const doRestore = async (v: FunctionVersion) => {
    setDone(undefined);
    const r = await restore.run(() => api.post<{ data: { version: FunctionVersion } }>(`/functions/${enc(fn.id)}/versions`, { versionId: v.id }));
    if (r) {
      setDone(`Version ${v.id} was restored as version ${r.data.version.id}. It is saved, not deployed: Deploy to run it.`);
      onRestored();
    }
  };
  if (!list.data) return list.loading ? <Loading /> : <ErrorBox error={list.error} onRetry={list.reload} what="Could not load the versions" />;
  return (
    <section className="panel">
      <h2>Versions</h2>
      <p className="muted small">Each save of the code or the settings is a version. Restoring one saves it again as the newest version; Deploy to run it.</p>
      {done && <p className="notice ok" role="status">{done}</p>}
      <ErrorBox error={restore.error} what="Could not restore the version" />
      <Table label="Versions">
        <thead><tr><th>Version</th><th>Saved</th><th>By</th><th>Status</th><th>Code</th>{writable && <th><span className="sr-only">Actions</span></th>}</tr></thead>
        <tbody>{versions.map((v) => (
          <tr key={v.id}>
            <td className="num">{v.id}</td>
            <td>{fmtTime(v.createdAt)}</td>
            <td>{v.author || '–'}</td>
            <td>
              {v.isDeployed && <span className="badge ok" title={v.deployedAt ? `Deployed ${fmtTime(v.deployedAt)}` : undefined}>Deployed</span>}
              {!v.isDeployed && v.id === latest && <span className="badge warn">Saved, not deployed</span>}
              {!v.isDeployed && v.id !== latest && <span className="muted">–</span>}
            </td>
            <td><details><summary>Show code<span className="sr-only"> of version {v.id}</span></summary><pre className="code" tabIndex={0}><code>{v.code}</code></pre></details></td>
            {writable && (
              <td className="num">{v.id !== latest && (
                <button type="button" className="btn small" aria-label={`Restore version ${v.id}`} disabled={restore.busy} onClick={() => void doRestore(v)}>Restore</button>
              )}</td>
            )}
          </tr>
        ))}</tbody>
      </Table>
    </section>
  );
}

interface SourceFunctionError {
  id: number; sourceId: string; at: string; kind: string; error: string; logs: string[];
  request: { method: string; url: string; headers: Record<string, string>; body: string };
}

/** A source function's Errors tab: its webhooks' failed requests (the latest 100, 30 days). */
function SourceErrors({ fn }: { fn: FunctionView }) {
  const list = useApi<{ data: { errors: SourceFunctionError[] } }>(`/api/v1/functions/${enc(fn.id)}/errors`, { pollMs: 10_000 });
  if (!list.data) return list.loading ? <Loading /> : <ErrorBox error={list.error} onRetry={list.reload} what="Could not load the errors" />;
  const errors = list.data.data.errors;
  return (
    <section className="panel" aria-labelledby="function-errors">
      <h2 id="function-errors">Errors</h2>
      <p className="muted small">The latest 100 requests to this function's webhooks that failed (30 days at most), with what the code printed. A request answered 503 (a RetryError or a timeout) is retried by its sender.</p>
      {errors.length === 0 ? <Empty title="No errors">Requests that fail show here.</Empty> : (
        <Table label="Errors">
          <thead><tr><th>When</th><th>Error</th><th>Source</th><th>Details</th></tr></thead>
          <tbody>{errors.map((e) => (
            <tr key={e.id}>
              <td>{fmtTime(e.at)}</td>
              <td><code>{e.error}</code></td>
              <td><code>{e.sourceId}</code></td>
              <td>
                <details>
                  <summary>Request and logs<span className="sr-only"> of error {e.id}</span></summary>
                  <h3>Console output</h3>
                  <pre className="code" tabIndex={0}>{e.logs.length > 0 ? e.logs.join('\n') : '(nothing printed)'}</pre>
                  <h3>Request</h3>
                  <pre className="code" tabIndex={0}>{`${e.request.method} ${e.request.url}\n${Object.entries(e.request.headers).map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${e.request.body}`}</pre>
                </details>
              </td>
            </tr>
          ))}</tbody>
        </Table>
      )}
    </section>
  );
}

// ---------------------------------------------------------------------------
// Instances

/** The instance settings form (the declared settings), with a word when the deployed version's may differ. */
function InstanceSettings({ fn, fields, values, onChange, errors }: {
  fn: FunctionView; fields: FieldSpec[]; values: Record<string, unknown>; onChange: (v: Record<string, unknown>) => void; errors: Record<string, string>;
}) {
  return (
    <>
      <h3>Settings</h3>
      {!fn.isLatestVersion && <p className="muted small">Settings are checked against the deployed version's declaration: deploy first if you changed the settings.</p>}
      {fields.length === 0 ? <p className="muted">This function declares no settings.</p> : <SettingsForm fields={fields} values={values} onChange={onChange} errors={errors} />}
    </>
  );
}

const instanceFieldShown = (names: string[]) => (k: string) => names.includes(k) || k === 'settings' || k.startsWith('settings.');

function DestinationInstances({ fn }: { fn: FunctionView }) {
  const { user, open } = useSession();
  const writable = canWrite(user, open);
  const dests = useApi<{ data: { destinations: Destination[] } }>('/destinations?pagination[count]=200');
  const sources = useApi<{ data: { sources: Source[] } }>('/sources?pagination[count]=200');
  const fields = useMemo(() => fieldsOfFunction(fn.settings), [fn.settings]);
  const [values, setValues] = useState<Record<string, unknown> | null>(null);
  const [form, setForm] = useState({ sourceId: '', name: '', enabled: true });
  const [created, setCreated] = useState<Destination>();
  const add = useAction();
  const f = add.error?.fields ?? {};
  const vals = values ?? defaultsOf(fields);
  const srcList = sources.data?.data.sources ?? [];
  const names = new Map(srcList.map((s) => [s.id, s.name || s.slug]));
  const mine = (dests.data?.data.destinations ?? []).filter((d) => d.metadata?.id === fn.id);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setCreated(undefined);
    const r = await add.run(() => api.post<{ data: { destination: Destination } }>('/destinations', {
      sourceId: form.sourceId, metadataId: fn.catalogId, enabled: form.enabled, settings: cleanSettings(fields, vals),
      ...(form.name.trim() ? { name: form.name.trim() } : {}),
    }));
    if (r) {
      setCreated(r.data.destination);
      setForm({ sourceId: '', name: '', enabled: true });
      setValues(null);
      dests.reload();
    }
  };
  const general = unshown(add.error, instanceFieldShown(['sourceId', 'name', 'metadataId']));
  return (
    <>
      <section className="panel">
        <h2>Destinations running this function</h2>
        <p className="muted small">Each is a destination of one source: its events go through this function. Change one's settings, filters or alerts on its destination page.</p>
        <ErrorBox error={dests.error} onRetry={dests.reload} what="Could not load destinations" />
        {!dests.data && dests.loading && <Loading />}
        {dests.data && mine.length === 0 && <Empty title="Not connected yet"><p>Connect it to a source below: the source's events then run through it.</p></Empty>}
        {mine.length > 0 && (
          <Table label="Destinations running this function">
            <thead><tr><th>Destination</th><th>Source</th><th>Status</th></tr></thead>
            <tbody>{mine.map((d) => (
              <tr key={d.id}>
                <td><Link to={`/destinations/${enc(d.id)}`}>{d.name || d.metadata?.name}</Link><div className="muted small">{d.id}</div></td>
                <td><Link to={`/sources/${enc(d.sourceId)}`}>{names.get(d.sourceId) ?? d.sourceId}</Link></td>
                <td><Status on={d.enabled} /></td>
              </tr>
            ))}</tbody>
          </Table>
        )}
      </section>
      {writable && (
        <form className="panel" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="connect-destination">
          <h2 id="connect-destination">Connect to a source</h2>
          {created && <p className="notice ok" role="status">Connected: the events of {names.get(created.sourceId) ?? created.sourceId} now go to {created.name || fn.displayName}.</p>}
          <SourceSelect sources={srcList} loaded={!!sources.data} value={form.sourceId} onChange={(sourceId) => setForm({ ...form, sourceId })}
            error={f.sourceId} hint="Its events run through this function." />
          <Field label="Destination name" error={f.name} hint={`Unique per source. Default: ${fn.displayName}.`}>
            {(p) => <input {...p} name="name" value={form.name} placeholder={fn.displayName} onChange={(e) => setForm({ ...form, name: e.target.value })} />}
          </Field>
          <InstanceSettings fn={fn} fields={fields} values={vals} onChange={setValues} errors={f} />
          <Switch checked={form.enabled} onChange={(enabled) => setForm({ ...form, enabled })} label={form.enabled ? 'Enabled: run it on events once connected' : 'Disabled'} />
          <ErrorBox error={general} what="Could not connect the function" />
          {add.error && !general && <p className="field-error" role="alert">Check the highlighted fields.</p>}
          <div className="form-actions"><button type="submit" className="btn primary" disabled={add.busy}>{add.busy ? 'Connecting…' : 'Connect destination'}</button></div>
        </form>
      )}
    </>
  );
}

function InsertInstances({ fn }: { fn: FunctionView }) {
  const { user, open } = useSession();
  const writable = canWrite(user, open);
  const instances = useApi<{ data: { instances: InsertInstance[] } }>(`/insert-function-instances?functionId=${enc(fn.id)}&pagination[count]=200`);
  const dests = useApi<{ data: { destinations: Destination[] } }>('/destinations?pagination[count]=200');
  const fields = useMemo(() => fieldsOfFunction(fn.settings), [fn.settings]);
  const [values, setValues] = useState<Record<string, unknown> | null>(null);
  const [form, setForm] = useState({ integrationId: '', name: '', enabled: true });
  const add = useAction();
  const change = useAction();
  const [busyId, setBusyId] = useState<string>();
  const f = add.error?.fields ?? {};
  const vals = values ?? defaultsOf(fields);
  const list = instances.data?.data.instances ?? [];
  const destList = dests.data?.data.destinations ?? [];
  const destName = (id: string) => { const d = destList.find((x) => x.id === id); return d ? d.name || d.metadata?.name || id : id; };
  const taken = new Set(list.map((i) => i.integrationId));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = await add.run(() => api.post<{ data: { insertFunctionInstance: InsertInstance } }>('/insert-function-instances', {
      functionId: fn.id, integrationId: form.integrationId, name: form.name.trim() || fn.displayName, enabled: form.enabled, settings: cleanSettings(fields, vals),
    }));
    if (r) {
      setForm({ integrationId: '', name: '', enabled: true });
      setValues(null);
      instances.reload();
    }
  };
  const setEnabled = async (i: InsertInstance, enabled: boolean) => {
    setBusyId(i.id);
    if (await change.run(async () => { await api.patch(`/insert-function-instances/${enc(i.id)}`, { enabled }); return true; })) instances.reload();
    setBusyId(undefined);
  };
  const remove = async (i: InsertInstance) => {
    if (!window.confirm(`Delete ${i.name}? Events reach ${destName(i.integrationId)} unchanged from now on.`)) return;
    setBusyId(i.id);
    if (await change.run(async () => { await api.del(`/insert-function-instances/${enc(i.id)}`); return true; })) instances.reload();
    setBusyId(undefined);
  };
  const general = unshown(add.error, instanceFieldShown(['integrationId', 'name', 'functionId']));
  return (
    <>
      <section className="panel">
        <h2>Insert function instances</h2>
        <p className="muted small">Each runs in front of one destination (one insert function per destination), after its filters: what the code returns is delivered.</p>
        <ErrorBox error={instances.error} onRetry={instances.reload} what="Could not load the instances" />
        {!instances.data && instances.loading && <Loading />}
        {instances.data && list.length === 0 && <Empty title="Not in front of any destination yet"><p>Pick a destination below.</p></Empty>}
        {list.length > 0 && (
          <Table label="Insert function instances">
            <thead><tr><th>Instance</th><th>Destination</th><th>Status</th>{writable && <th><span className="sr-only">Actions</span></th>}</tr></thead>
            <tbody>{list.map((i) => (
              <tr key={i.id}>
                <td>{i.name}<div className="muted small">{i.id}</div></td>
                <td><Link to={`/destinations/${enc(i.integrationId)}`}>{destName(i.integrationId)}</Link></td>
                <td>{writable
                  ? <Switch checked={i.enabled} disabled={change.busy && busyId === i.id} onChange={(v) => void setEnabled(i, v)} label={`Run ${i.name}`} />
                  : <Status on={i.enabled} />}</td>
                {writable && <td className="num"><button type="button" className="btn small danger" aria-label={`Delete ${i.name}`} disabled={change.busy && busyId === i.id} onClick={() => void remove(i)}>Delete</button></td>}
              </tr>
            ))}</tbody>
          </Table>
        )}
        <ErrorBox error={change.error} what="Could not change the instance" />
      </section>
      {writable && (
        <form className="panel" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="connect-insert">
          <h2 id="connect-insert">Put it in front of a destination</h2>
          <Field label="Destination" error={f.integrationId} hint="Its events go through this function before delivery." required>
            {(p) => (
              <select {...p} name="integrationId" value={form.integrationId} onChange={(e) => setForm({ ...form, integrationId: e.target.value })}>
                <option value="">Choose a destination…</option>
                {destList.filter((d) => !taken.has(d.id)).map((d) => <option key={d.id} value={d.id}>{d.name || d.metadata?.name} ({d.metadata?.name})</option>)}
              </select>
            )}
          </Field>
          {dests.data && destList.length === 0 && <p className="field-error">There is no destination yet: <Link to="/destinations/catalog">add one first</Link>.</p>}
          <Field label="Instance name" error={f.name} hint={`Default: ${fn.displayName}.`}>
            {(p) => <input {...p} name="name" maxLength={120} value={form.name} placeholder={fn.displayName} onChange={(e) => setForm({ ...form, name: e.target.value })} />}
          </Field>
          <InstanceSettings fn={fn} fields={fields} values={vals} onChange={setValues} errors={f} />
          <Switch checked={form.enabled} onChange={(enabled) => setForm({ ...form, enabled })} label={form.enabled ? 'Enabled: run it once connected' : 'Disabled'} />
          <ErrorBox error={general} what="Could not connect the insert function" />
          {add.error && !general && <p className="field-error" role="alert">Check the highlighted fields.</p>}
          <div className="form-actions"><button type="submit" className="btn primary" disabled={add.busy}>{add.busy ? 'Connecting…' : 'Connect insert function'}</button></div>
        </form>
      )}
    </>
  );
}

function SourceInstances({ fn }: { fn: FunctionView }) {
  const { user, open } = useSession();
  const writable = canWrite(user, open);
  const sources = useApi<{ data: { sources: Source[] } }>('/sources?pagination[count]=200');
  const fields = useMemo(() => fieldsOfFunction(fn.settings), [fn.settings]);
  const [values, setValues] = useState<Record<string, unknown> | null>(null);
  const [form, setForm] = useState({ name: '', slug: '', slugTouched: false });
  const [created, setCreated] = useState<Source>();
  const add = useAction();
  const f = add.error?.fields ?? {};
  const vals = values ?? defaultsOf(fields);
  const mine = (sources.data?.data.sources ?? []).filter((s) => s.metadata?.id === fn.id);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setCreated(undefined);
    const r = await add.run(() => api.post<{ data: { source: Source } }>('/sources', {
      slug: form.slug || slugify(form.name), enabled: true, metadataId: fn.catalogId, settings: cleanSettings(fields, vals),
      ...(form.name.trim() ? { name: form.name.trim() } : {}),
    }));
    if (r) {
      setCreated(r.data.source);
      setForm({ name: '', slug: '', slugTouched: false });
      setValues(null);
      sources.reload();
    }
  };
  const general = unshown(add.error, instanceFieldShown(['slug', 'name', 'metadataId']));
  const newUrl = created?.writeKeys[0] ? webhookUrl(created.writeKeys[0]) : undefined;
  return (
    <>
      <section className="panel">
        <h2>Sources running this function</h2>
        <p className="muted small">Each is a source with its own webhook URL: point the other service at it. What the code sends enters the source like any event (debugger, destinations, warehouses).</p>
        <ErrorBox error={sources.error} onRetry={sources.reload} what="Could not load sources" />
        {!sources.data && sources.loading && <Loading />}
        {sources.data && mine.length === 0 && <Empty title="No source made from this function yet"><p>Create one below to get a webhook URL.</p></Empty>}
        {mine.length > 0 && (
          <Table label="Sources running this function">
            <thead><tr><th>Source</th><th>Status</th><th>Webhook URL</th></tr></thead>
            <tbody>{mine.map((s) => (
              <tr key={s.id}>
                <td><Link to={`/sources/${enc(s.id)}`}>{s.name || s.slug}</Link><div className="muted small">{s.slug}</div></td>
                <td><Status on={s.enabled} /></td>
                <td>{s.writeKeys[0]
                  ? <><code className="write-key" data-testid={`webhook-url-${s.slug}`}>{webhookUrl(s.writeKeys[0])}</code> <CopyButton text={webhookUrl(s.writeKeys[0])} label={`Copy the webhook URL of ${s.name || s.slug}`} /></>
                  : <span className="muted">No write key: add one on the source's page.</span>}</td>
              </tr>
            ))}</tbody>
          </Table>
        )}
      </section>
      {writable && (
        <form className="panel" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="connect-source">
          <h2 id="connect-source">Create a source from this function</h2>
          {created && newUrl && (
            <div className="notice ok function-created" role="status">
              <p>Source <strong>{created.name || created.slug}</strong> created. Send webhooks (POST, up to 512 KB) to:</p>
              <p><code className="write-key" data-testid="new-webhook-url">{newUrl}</code> <CopyButton text={newUrl} label="Copy webhook URL" /></p>
            </div>
          )}
          <Field label="Source name" error={f.name} hint="Shown in the console, e.g. “Billing webhooks”.">
            {(p) => <input {...p} name="name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value, slug: form.slugTouched ? form.slug : slugify(e.target.value) })} />}
          </Field>
          <Field label="Slug" error={f.slug} hint="Lowercase letters, digits and dashes; it names the warehouse schema." required>
            {(p) => <input {...p} name="slug" value={form.slug} onChange={(e) => setForm({ ...form, slug: e.target.value, slugTouched: true })} />}
          </Field>
          <InstanceSettings fn={fn} fields={fields} values={vals} onChange={setValues} errors={f} />
          <ErrorBox error={general} what="Could not create the source" />
          {add.error && !general && <p className="field-error" role="alert">Check the highlighted fields.</p>}
          <div className="form-actions"><button type="submit" className="btn primary" disabled={add.busy}>{add.busy ? 'Creating…' : 'Create source'}</button></div>
        </form>
      )}
    </>
  );
}
