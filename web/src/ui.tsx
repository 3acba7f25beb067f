import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import type { ApiError } from './api';
import { Link } from './router';

export function Page({ title, actions, back, children }: { title: ReactNode; actions?: ReactNode; back?: { to: string; label: string }; children: ReactNode }) {
  const h1 = useRef<HTMLHeadingElement>(null);
  // Moving focus to the heading on navigation tells keyboard and screen-reader users the page changed.
  useEffect(() => { h1.current?.focus({ preventScroll: true }); }, []);
  return (
    <section className="page">
      {back && <Link className="back" to={back.to}>← {back.label}</Link>}
      <header className="page-head">
        <h1 tabIndex={-1} ref={h1}>{title}</h1>
        {actions && <div className="page-actions">{actions}</div>}
      </header>
      {children}
    </section>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return <p className="loading" role="status" aria-live="polite"><span className="spinner" aria-hidden="true" />{label}</p>;
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty-title">{title}</p>
      {children && <div className="empty-body">{children}</div>}
    </div>
  );
}

export function ErrorBox({ error, onRetry, what }: { error: ApiError | undefined; onRetry?: () => void; what?: string }) {
  if (!error) return null;
  const general = error.errors.filter((e) => !e.field);
  const items = general.length > 0 ? general : error.errors;
  return (
    <div className="error-box" role="alert">
      <strong>{what ?? 'Something went wrong'}{error.status ? ` (HTTP ${error.status})` : ''}</strong>
      <ul>{items.map((e, i) => <li key={i}>{e.field ? <code>{e.field}</code> : null}{e.field ? ': ' : ''}{e.message}</li>)}</ul>
      {onRetry && <button type="button" className="btn small" onClick={onRetry}>Try again</button>}
    </div>
  );
}

/** A labelled form control with its hint and the API's inline message for its field. */
export function Field({ label, error, hint, children, required }: {
  label: ReactNode; error?: string; hint?: ReactNode; required?: boolean;
  children: (props: { id: string; 'aria-invalid': boolean | undefined; 'aria-describedby': string | undefined }) => ReactNode;
}) {
  const id = useId();
  const describedBy = [hint ? `${id}-hint` : '', error ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${error ? ' invalid' : ''}`}>
      <label htmlFor={id}>{label}{required && <span className="req" aria-hidden="true"> *</span>}</label>
      {children({ id, 'aria-invalid': error ? true : undefined, 'aria-describedby': describedBy })}
      {hint && <small id={`${id}-hint`} className="hint">{hint}</small>}
      {error && <small id={`${id}-err`} className="field-error">{error}</small>}
    </div>
  );
}

export function CopyButton({ text, label = 'Copy', className = 'btn small' }: { text: string; label?: string; className?: string }) {
  const [done, setDone] = useState<'ok' | 'fail' | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setDone('ok');
    } catch {
      // Clipboard API refused (not a secure context): fall back to a hidden textarea.
      const ta = document.createElement('textarea');
      ta.value = text;
      document.body.appendChild(ta);
      ta.select();
      const ok = document.execCommand('copy');
      ta.remove();
      setDone(ok ? 'ok' : 'fail');
    }
    setTimeout(() => setDone(null), 2000);
  };
  return (
    <button type="button" className={className} onClick={() => void copy()}>
      {done === 'ok' ? 'Copied' : done === 'fail' ? 'Select and copy' : label}
      <span className="sr-only" aria-live="polite">{done === 'ok' ? ' to the clipboard' : ''}</span>
    </button>
  );
}

export function Tabs({ base, tabs, active, link }: { base: string; tabs: { id: string; label: string }[]; active: string; link?: (id: string) => string }) {
  return (
    <nav className="tabs" aria-label="Sections">
      {tabs.map((t) => (
        <a key={t.id} href={`#${link ? link(t.id) : `${base}?tab=${t.id}`}`} aria-current={t.id === active ? 'page' : undefined}>{t.label}</a>
      ))}
    </nav>
  );
}

export function Switch({ checked, onChange, label, disabled }: { checked: boolean; onChange: (v: boolean) => void; label: string; disabled?: boolean }) {
  return (
    <button type="button" role="switch" aria-checked={checked} className={`switch${checked ? ' on' : ''}`} disabled={disabled} onClick={() => onChange(!checked)}>
      <span className="knob" aria-hidden="true" />
      <span>{label}</span>
    </button>
  );
}

export function Status({ on, onText = 'Enabled', offText = 'Disabled' }: { on: boolean; onText?: string; offText?: string }) {
  return <span className={`badge ${on ? 'ok' : 'off'}`}>{on ? onText : offText}</span>;
}

export function Table({ children, label }: { children: ReactNode; label: string }) {
  return <div className="table-wrap" role="region" aria-label={label} tabIndex={0}><table>{children}</table></div>;
}

export const fmtNumber = (n: number | null | undefined) => (n === null || n === undefined ? '–' : n.toLocaleString('en-US'));
export const fmtTime = (iso: string | number | null | undefined) => {
  if (iso === null || iso === undefined || iso === '') return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
};
export const fmtPercent = (n: number | null | undefined) => (n === null || n === undefined ? '–' : `${n}%`);

/** The standard "more" footer of a paged list. */
export function MoreButton({ more, loading }: { more?: () => void; loading: boolean }) {
  if (!more) return null;
  return <p><button type="button" className="btn" onClick={more} disabled={loading}>{loading ? 'Loading…' : 'Load more'}</button></p>;
}

/** A required source picker: the sources by name, and a way to add one when there is none yet. */
export function SourceSelect({ sources, loaded, value, onChange, error, hint }: {
  sources: readonly { id: string; name?: string; slug: string }[]; loaded: boolean; value: string;
  onChange: (id: string) => void; error?: string; hint: string;
}) {
  return (
    <>
      <Field label="Source" error={error} hint={hint} required>
        {(p) => (
          <select {...p} name="sourceId" value={value} onChange={(e) => onChange(e.target.value)}>
            <option value="">Choose a source…</option>
            {sources.map((s) => <option key={s.id} value={s.id}>{s.name || s.slug}</option>)}
          </select>
        )}
      </Field>
      {loaded && sources.length === 0 && <p className="field-error">There is no source yet: <Link to="/sources/new">add one first</Link>.</p>}
    </>
  );
}
