import { lazy, Suspense, useCallback, useEffect, useState, type ReactNode } from 'react';
import { ApiError, api, request, setCsrfToken, setOnUnauthorized } from './api';
import { AcceptInvitePage, LoginPage, SetupPage } from './auth';
import { asApiError } from './hooks';
import { Link, navigate, useRoute } from './router';
import { ErrorBoundary } from './boundary';
import { SessionContext, type SessionValue } from './session';
import type { Session } from './types';
import { ErrorBox, Loading, Page } from './ui';

// Each area is its own chunk: the first load carries only the shell and the sign-in pages.
const Sources = lazy(() => import('./pages/Sources'));
const SourceDetail = lazy(() => import('./pages/SourceDetail'));
const Destinations = lazy(() => import('./pages/Destinations'));
const DestinationDetail = lazy(() => import('./pages/DestinationDetail'));
const Functions = lazy(() => import('./pages/Functions'));
const Profiles = lazy(() => import('./pages/Profiles'));
const Storage = lazy(() => import('./pages/Storage'));
const Settings = lazy(() => import('./pages/Settings'));

type State =
  | { kind: 'loading' }
  | { kind: 'error'; error: ApiError }
  | { kind: 'ready'; session: Session; open: boolean };

export function App() {
  const [state, setState] = useState<State>({ kind: 'loading' });
  const route = useRoute();

  const load = useCallback(async () => {
    try {
      const res = await request<{ data: Session }>('GET', '/auth/session', undefined, { quiet401: true });
      setCsrfToken(res.data.csrfToken);
      setState({ kind: 'ready', session: res.data, open: false });
    } catch (e) {
      const err = asApiError(e);
      // A server without access control yet (no /auth endpoints) answers everyone: run open.
      if (err.status === 404) setState({ kind: 'ready', session: { needsSetup: false, user: null, csrfToken: null }, open: true });
      else setState({ kind: 'error', error: err });
    }
  }, []);
  useEffect(() => {
    setOnUnauthorized(() => void load());
    void load();
  }, [load]);

  const signOut = useCallback(async () => {
    try {
      await api.post('/auth/logout');
    } finally {
      setCsrfToken(null);
      navigate('/sources', { replace: true });
      await load();
    }
  }, [load]);

  if (state.kind === 'loading') return <main id="main" className="auth"><Loading label="Connecting to Switchyard…" /></main>;
  if (state.kind === 'error') {
    return <main id="main" className="auth"><div className="auth-card"><h1>Switchyard</h1><ErrorBox error={state.error} what="Cannot load the console" onRetry={() => void load()} /></div></main>;
  }
  const { session, open } = state;
  if (route.parts[0] === 'accept-invite' || route.parts[0] === 'invite') {
    return <AcceptInvitePage token={route.query.get('token') ?? route.parts[1] ?? ''} onDone={() => void load()} />;
  }
  if (session.needsSetup) return <SetupPage onDone={() => void load()} />;
  if (!session.user && !open) return <LoginPage onDone={() => void load()} />;

  const value: SessionValue = { user: session.user, open, refresh: () => void load(), signOut };
  return (
    <SessionContext.Provider value={value}>
      <Shell>
        <ErrorBoundary resetKey={route.path}><Suspense fallback={<Loading />}>{page(route.parts, route.query)}</Suspense></ErrorBoundary>
      </Shell>
    </SessionContext.Provider>
  );
}

function page(parts: string[], query: URLSearchParams): ReactNode {
  const [area, id, sub] = parts;
  const tab = query.get('tab') ?? undefined;
  switch (area) {
    case undefined:
    case 'sources':
      if (id === undefined) return <Sources key="list" mode="list" />;
      if (id === 'new') return <Sources key="new" mode="new" />;
      return <SourceDetail key={id} id={id} tab={tab} />;
    case 'destinations':
      if (id === undefined) return <Destinations key="list" mode="list" />;
      if (id === 'catalog') return <Destinations key="catalog" mode="catalog" sourceId={query.get('sourceId') ?? undefined} />;
      if (id === 'new') return <Destinations key={`new-${sub}`} mode="new" type={sub} sourceId={query.get('sourceId') ?? undefined} />;
      return <DestinationDetail key={id} id={id} tab={tab} />;
    case 'functions':
      return <Functions key={id ?? 'list'} id={id} tab={tab} kind={query.get('kind') ?? undefined} />;
    case 'profiles':
      return <Profiles key="profiles" identifier={query.get('identifier') ?? undefined} />;
    case 'storage':
      return <Storage key={`${id}-${sub}`} kind={id} id={sub} tab={tab} />;
    case 'settings':
      return <Settings key="settings" tab={id ?? 'users'} />;
    default:
      return <Page title="Page not found"><p>There is no page at <code>#{parts.join('/')}</code>. <Link to="/sources">Go to Sources</Link>.</p></Page>;
  }
}

function Shell({ children }: { children: ReactNode }) {
  return (
    <SessionContext.Consumer>
      {(s) => (
        <div className="shell">
          <a className="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
          <header className="topbar">
            <Link to="/sources" className="brand">Switchyard</Link>
            <nav className="mainnav" aria-label="Main">
              <NavLink to="/sources">Sources</NavLink>
              <NavLink to="/destinations">Destinations</NavLink>
              <NavLink to="/functions">Functions</NavLink>
              <NavLink to="/profiles">Profiles</NavLink>
              <NavLink to="/storage">Storage</NavLink>
              <NavLink to="/settings">Settings</NavLink>
            </nav>
            <div className="who">
              {s.user ? <span className="user" title={s.user.email}>{s.user.name}</span> : <span className="badge warn" title="No account exists yet, or this server has no access control: anyone who reaches it can change it.">Open access</span>}
              {s.user && <button type="button" className="btn small ghost" onClick={() => void s.signOut()}>Sign out</button>}
            </div>
          </header>
          <main id="main" tabIndex={-1}>{children}</main>
        </div>
      )}
    </SessionContext.Consumer>
  );
}

function NavLink({ to, children }: { to: string; children: ReactNode }) {
  const route = useRoute();
  const active = route.path === to || route.path.startsWith(`${to}/`) || (to === '/sources' && route.path === '/');
  return <a href={`#${to}`} aria-current={active ? 'page' : undefined}>{children}</a>;
}
