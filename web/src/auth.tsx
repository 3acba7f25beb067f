import { useState, type FormEvent } from 'react';
import { api, setCsrfToken } from './api';
import { useAction } from './hooks';
import { Field, ErrorBox } from './ui';
import type { User } from './types';

type AuthResult = { data: { user: User; csrfToken: string } };

function AuthCard({ title, intro, children }: { title: string; intro?: string; children: React.ReactNode }) {
  return (
    <main id="main" className="auth">
      <div className="auth-card">
        <p className="brand-big" aria-hidden="true">Switchyard</p>
        <h1>{title}</h1>
        {intro && <p className="muted">{intro}</p>}
        {children}
      </div>
    </main>
  );
}

/** First run: the first account is the Workspace Owner. */
export function SetupPage({ onDone }: { onDone: () => void }) {
  const [form, setForm] = useState({ name: '', email: '', password: '' });
  const { busy, error, run } = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const res = await run(() => api.post<AuthResult>('/auth/setup', form));
    if (res) {
      setCsrfToken(res.data.csrfToken);
      onDone();
    }
  };
  const f = error?.fields ?? {};
  return (
    <AuthCard title="Create the owner account" intro="This is a new Switchyard. The account you create now owns the workspace: it can invite others and give them roles.">
      <form onSubmit={(e) => void submit(e)} noValidate>
        <Field label="Your name" error={f.name} required>{(p) => <input {...p} name="name" autoComplete="name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} required />}</Field>
        <Field label="Email" error={f.email} required>{(p) => <input {...p} name="email" type="email" autoComplete="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} required />}</Field>
        <Field label="Password" error={f.password} hint="At least 8 characters." required>
          {(p) => <input {...p} name="password" type="password" autoComplete="new-password" minLength={8} value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} required />}
        </Field>
        <ErrorBox error={error && Object.keys(f).length === 0 ? error : undefined} what="Could not create the account" />
        <button type="submit" className="btn primary wide" disabled={busy}>{busy ? 'Creating…' : 'Create owner account'}</button>
      </form>
    </AuthCard>
  );
}

export function LoginPage({ onDone }: { onDone: () => void }) {
  const [form, setForm] = useState({ email: '', password: '' });
  const { busy, error, run } = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const res = await run(() => api.post<AuthResult>('/auth/login', form));
    if (res) {
      setCsrfToken(res.data.csrfToken);
      onDone();
    }
  };
  const f = error?.fields ?? {};
  return (
    <AuthCard title="Sign in">
      <form onSubmit={(e) => void submit(e)} noValidate>
        <Field label="Email" error={f.email}>{(p) => <input {...p} name="email" type="email" autoComplete="username" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} required />}</Field>
        <Field label="Password" error={f.password}>{(p) => <input {...p} name="password" type="password" autoComplete="current-password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} required />}</Field>
        {error && error.status === 401
          ? <div className="error-box" role="alert">That email and password do not match an account. Check them, or ask a Workspace Owner to invite you again.</div>
          : <ErrorBox error={error && Object.keys(f).length === 0 ? error : undefined} what="Could not sign in" />}
        <button type="submit" className="btn primary wide" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
      <p className="muted small">Lost access? Whoever runs the server can create an owner token with <code>npx switchyard tokens create --role owner</code>.</p>
    </AuthCard>
  );
}

export function AcceptInvitePage({ token, onDone }: { token: string; onDone: () => void }) {
  const [form, setForm] = useState({ name: '', password: '' });
  const { busy, error, run } = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const res = await run(() => api.post<AuthResult>('/auth/accept-invite', { token, ...form }));
    if (res) {
      setCsrfToken(res.data.csrfToken);
      window.location.hash = '/sources';
      onDone();
    }
  };
  const f = error?.fields ?? {};
  if (!token) return <AuthCard title="Invitation link incomplete" intro="This link has no invitation token. Open the full link from your invitation, or ask for a new one." >{null}</AuthCard>;
  return (
    <AuthCard title="Join the workspace" intro="You were invited to this Switchyard. Choose your name and a password.">
      <form onSubmit={(e) => void submit(e)} noValidate>
        <Field label="Your name" error={f.name}>{(p) => <input {...p} name="name" autoComplete="name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} required />}</Field>
        <Field label="Password" error={f.password} hint="At least 8 characters.">{(p) => <input {...p} name="password" type="password" autoComplete="new-password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} required />}</Field>
        <ErrorBox error={error && !f.name && !f.password ? error : undefined} what={error?.status === 404 || error?.status === 410 ? 'This invitation is no longer valid: ask for a new one' : 'Could not accept the invitation'} />
        <button type="submit" className="btn primary wide" disabled={busy}>{busy ? 'Joining…' : 'Join'}</button>
      </form>
    </AuthCard>
  );
}
