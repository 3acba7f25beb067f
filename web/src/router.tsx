import { useEffect, useState, type AnchorHTMLAttributes, type ReactNode } from 'react';

/**
 * Hash routing: `#/sources/src_1?tab=debugger`. The server serves only `/` and
 * `/assets/*`, so a reload or a shared link lands on the same page.
 */
export interface Route { path: string; parts: string[]; query: URLSearchParams }

function current(): Route {
  const raw = window.location.hash.replace(/^#/, '') || '/';
  const [p, q] = raw.split('?', 2) as [string, string | undefined];
  const path = p.startsWith('/') ? p : `/${p}`;
  return { path, parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(q ?? '') };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const on = () => setRoute(current());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  const hash = `#${to}`;
  if (opts.replace) {
    window.history.replaceState(null, '', hash);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else window.location.hash = to;
}

export function href(to: string): string {
  return `#${to}`;
}

export function Link({ to, children, ...rest }: { to: string; children: ReactNode } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const active = current().path === to.split('?')[0];
  return (
    <a href={href(to)} aria-current={active ? 'page' : undefined} {...rest}>
      {children}
    </a>
  );
}
