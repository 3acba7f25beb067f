import { useId } from 'react';
import type { CatalogDestination, FieldInfo, JsonSchema } from './types';
import { Field } from './ui';

/**
 * A settings form generated from a destination's definition: the JSON schema of
 * native destinations (`settings`, `secretSettings`) or the Actions definition's
 * authentication fields. Values stay plain JSON; the API validates them and its
 * `field` (`settings.urls`) is shown under the matching control.
 */
export interface FieldSpec {
  key: string; label: string; description?: string; required: boolean; secret: boolean;
  kind: 'string' | 'url' | 'number' | 'boolean' | 'list' | 'map' | 'select' | 'json';
  choices?: { value: string; label: string }[]; maxItems?: number; default?: unknown;
}

const ACRONYMS: Record<string, string> = { url: 'URL', urls: 'URLs', id: 'ID', api: 'API', ip: 'IP', http: 'HTTP' };
const human = (k: string) =>
  k.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ').split(' ').map((w) => ACRONYMS[w.toLowerCase()] ?? w).join(' ').replace(/^./, (c) => c.toUpperCase());

export function fieldsOf(d: CatalogDestination): FieldSpec[] {
  if (d.settings?.properties) {
    const req = new Set(d.settings.required ?? []);
    const secret = new Set(d.secretSettings ?? []);
    return Object.entries(d.settings.properties).map(([key, s]) => fromSchema(key, s, req.has(key), secret.has(key)));
  }
  return Object.entries(d.authentication?.fields ?? {}).map(([key, f]) => fromField(key, f));
}

function fromSchema(key: string, s: JsonSchema, required: boolean, secret: boolean): FieldSpec {
  const base = { key, label: s.title ?? human(key), description: s.description, required, secret, default: s.default };
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  if (s.enum) return { ...base, kind: 'select', choices: s.enum.map((v) => ({ value: String(v), label: String(v) })) };
  if (type === 'array' && (s.items?.type === 'string' || !s.items)) return { ...base, kind: 'list', maxItems: s.maxItems, ...(s.items?.format === 'uri' ? { description: s.description ?? 'URLs (http or https).' } : {}) };
  if (type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object' && !s.properties) return { ...base, kind: 'map' };
  if (type === 'boolean') return { ...base, kind: 'boolean' };
  if (type === 'number' || type === 'integer') return { ...base, kind: 'number' };
  if (type === 'string') return { ...base, kind: s.format === 'uri' ? 'url' : 'string' };
  return { ...base, kind: 'json' };
}

function fromField(key: string, f: FieldInfo): FieldSpec {
  const base = { key, label: f.label ?? human(key), description: f.description, required: f.required, secret: f.secret === true || f.type === 'password', default: f.default };
  if (Array.isArray(f.choices) && f.choices.length > 0) {
    const choices = f.choices.map((c) => (typeof c === 'object' && c !== null ? { value: String((c as { value: unknown }).value), label: String((c as { label?: unknown }).label ?? (c as { value: unknown }).value) } : { value: String(c), label: String(c) }));
    return { ...base, kind: 'select', choices };
  }
  if (f.multiple) return { ...base, kind: 'list' };
  if (f.type === 'boolean') return { ...base, kind: 'boolean' };
  if (f.type === 'number' || f.type === 'integer') return { ...base, kind: 'number' };
  if (f.type === 'object') return { ...base, kind: 'json' };
  return { ...base, kind: f.format === 'uri' ? 'url' : 'string' };
}

/** Initial values: the definition's defaults (booleans false, lists with one empty row). */
export function defaultsOf(fields: FieldSpec[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    if (f.default !== undefined) {
      if (f.kind === 'map') out[f.key] = Object.entries((f.default ?? {}) as Record<string, string>);
      else if (f.kind === 'json') out[f.key] = JSON.stringify(f.default, null, 2);
      else if (f.kind === 'list') out[f.key] = Array.isArray(f.default) ? (f.default as unknown[]).map(String) : [String(f.default)];
      else out[f.key] = f.default;
    } else if (f.kind === 'list') out[f.key] = [''];
    else if (f.kind === 'boolean') out[f.key] = false;
  }
  return out;
}

/** What to send: empty strings, empty rows and untouched secrets left out. */
export function cleanSettings(fields: FieldSpec[], values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = values[f.key];
    if (v === undefined || v === '') continue;
    if (f.kind === 'list') {
      const list = (v as string[]).map((x) => x.trim()).filter(Boolean);
      if (list.length > 0) out[f.key] = list;
    } else if (f.kind === 'map') {
      const m = Object.fromEntries((v as [string, string][]).filter(([k]) => k.trim()).map(([k, val]) => [k.trim(), val]));
      out[f.key] = m;
    } else if (f.kind === 'number') out[f.key] = Number(v);
    else if (f.kind === 'json' && typeof v === 'string') {
      try { out[f.key] = JSON.parse(v); } catch { out[f.key] = v; }
    } else out[f.key] = v;
  }
  return out;
}

/** Stored settings → form values (maps as rows, objects as JSON text). */
export function valuesFrom(fields: FieldSpec[], settings: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = settings[f.key];
    if (v === undefined) continue;
    if (f.secret) continue; // never shown; an empty box keeps the stored secret
    if (f.kind === 'map') out[f.key] = Object.entries(v as Record<string, string>);
    else if (f.kind === 'json') out[f.key] = JSON.stringify(v, null, 2);
    else if (f.kind === 'list') out[f.key] = Array.isArray(v) ? (v as unknown[]).map(String) : [String(v)];
    else out[f.key] = v;
  }
  return out;
}

export function SettingsForm({ fields, values, onChange, errors, prefix = 'settings', stored, disabled }: {
  fields: FieldSpec[]; values: Record<string, unknown>; onChange: (v: Record<string, unknown>) => void;
  errors: Record<string, string>; prefix?: string; stored?: Record<string, unknown>; disabled?: boolean;
}) {
  if (fields.length === 0) return <p className="muted">This destination has no settings.</p>;
  const set = (k: string, v: unknown) => onChange({ ...values, [k]: v });
  // The API names nested fields (`settings.urls.1`): show those under their field too.
  const errorFor = (k: string) => Object.entries(errors).find(([f]) => f === `${prefix}.${k}` || f.startsWith(`${prefix}.${k}.`) || f === k)?.[1];
  return (
    <div className="settings-form">
      {fields.map((f) => {
        const err = errorFor(f.key);
        const hint = f.secret && stored && stored[f.key] !== undefined ? <>{f.description ? `${f.description} ` : ''}A value is saved (hidden). Leave empty to keep it.</> : f.description;
        const v = values[f.key];
        switch (f.kind) {
          case 'boolean':
            return (
              <div key={f.key} className={`field check${err ? ' invalid' : ''}`}>
                <label><input type="checkbox" name={f.key} checked={v === true} disabled={disabled} onChange={(e) => set(f.key, e.target.checked)} /> {f.label}</label>
                {f.description && <small className="hint">{f.description}</small>}
                {err && <small className="field-error">{err}</small>}
              </div>
            );
          case 'list':
            return <ListField key={f.key} f={f} value={(v as string[] | undefined) ?? ['']} err={err} disabled={disabled} onChange={(x) => set(f.key, x)} />;
          case 'map':
            return <MapField key={f.key} f={f} value={(v as [string, string][] | undefined) ?? []} err={err} disabled={disabled} onChange={(x) => set(f.key, x)} />;
          case 'select':
            return (
              <Field key={f.key} label={f.label} error={err} hint={hint} required={f.required}>
                {(p) => <select {...p} name={f.key} value={String(v ?? '')} disabled={disabled} onChange={(e) => set(f.key, e.target.value)}><option value="">Choose…</option>{f.choices!.map((c) => <option key={c.value} value={c.value}>{c.label}</option>)}</select>}
              </Field>
            );
          case 'json':
            return (
              <Field key={f.key} label={f.label} error={err} hint={hint ?? 'JSON'} required={f.required}>
                {(p) => <textarea {...p} name={f.key} rows={4} className="mono" value={String(v ?? '')} disabled={disabled} onChange={(e) => set(f.key, e.target.value)} />}
              </Field>
            );
          default:
            return (
              <Field key={f.key} label={f.label} error={err} hint={hint} required={f.required}>
                {(p) => <input {...p} name={f.key} type={f.secret ? 'password' : f.kind === 'number' ? 'number' : f.kind === 'url' ? 'url' : 'text'} autoComplete={f.secret ? 'new-password' : 'off'} value={String(v ?? '')} disabled={disabled} onChange={(e) => set(f.key, e.target.value)} />}
              </Field>
            );
        }
      })}
    </div>
  );
}

function ListField({ f, value, err, onChange, disabled }: { f: FieldSpec; value: string[]; err?: string; onChange: (v: string[]) => void; disabled?: boolean }) {
  const id = useId();
  return (
    <fieldset className={`field list${err ? ' invalid' : ''}`} aria-describedby={err ? `${id}-err` : undefined}>
      <legend>{f.label}{f.required && <span className="req" aria-hidden="true"> *</span>}</legend>
      {value.map((x, i) => (
        <div className="row" key={i}>
          <input aria-label={`${f.label} ${i + 1}`} name={`${f.key}.${i}`} value={x} disabled={disabled} aria-invalid={err ? true : undefined} onChange={(e) => onChange(value.map((y, j) => (j === i ? e.target.value : y)))} />
          {value.length > 1 && <button type="button" className="btn small ghost" aria-label={`Remove ${f.label} ${i + 1}`} disabled={disabled} onClick={() => onChange(value.filter((_, j) => j !== i))}>Remove</button>}
        </div>
      ))}
      {(f.maxItems === undefined || value.length < f.maxItems) && <button type="button" className="btn small" disabled={disabled} onClick={() => onChange([...value, ''])}>Add {f.label.replace(/s$/, '')}</button>}
      {f.description && <small className="hint">{f.description}{f.maxItems ? ` Up to ${f.maxItems}.` : ''}</small>}
      {err && <small id={`${id}-err`} className="field-error">{err}</small>}
    </fieldset>
  );
}

function MapField({ f, value, err, onChange, disabled }: { f: FieldSpec; value: [string, string][]; err?: string; onChange: (v: [string, string][]) => void; disabled?: boolean }) {
  return (
    <fieldset className={`field list${err ? ' invalid' : ''}`}>
      <legend>{f.label}</legend>
      {value.map(([k, v], i) => (
        <div className="row" key={i}>
          <input aria-label={`${f.label} name ${i + 1}`} placeholder="Name" value={k} disabled={disabled} onChange={(e) => onChange(value.map((p, j) => (j === i ? [e.target.value, p[1]] : p)))} />
          <input aria-label={`${f.label} value ${i + 1}`} placeholder="Value" value={v} disabled={disabled} onChange={(e) => onChange(value.map((p, j) => (j === i ? [p[0], e.target.value] : p)))} />
          <button type="button" className="btn small ghost" aria-label={`Remove ${f.label} ${i + 1}`} disabled={disabled} onClick={() => onChange(value.filter((_, j) => j !== i))}>Remove</button>
        </div>
      ))}
      <button type="button" className="btn small" disabled={disabled} onClick={() => onChange([...value, ['', '']])}>Add {f.label.replace(/s$/, '')}</button>
      {f.description && <small className="hint">{f.description}</small>}
      {err && <small className="field-error">{err}</small>}
    </fieldset>
  );
}
