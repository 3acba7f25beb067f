/**
 * Parses a query string with bracket keys the way the official Public API SDK
 * sends them (its HTTP client uses `qs`): `pagination[count]=10`,
 * `groupBy[0]=eventName`, `filter[eventName][0]=Order%20Completed`.
 */
export type QueryValue = string | QueryObject | QueryValue[];
export interface QueryObject {
  [key: string]: QueryValue;
}

export function parseBracketQuery(url: string): QueryObject {
  const out: QueryObject = {};
  const q = url.indexOf('?');
  if (q === -1) return out;
  for (const pair of url.slice(q + 1).split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const rawKey = decode(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? '' : decode(pair.slice(eq + 1));
    const path = rawKey.split('[').map((part, i) => (i === 0 ? part : part.replace(/\]$/, '')));
    let node: QueryObject | QueryValue[] = out;
    path.forEach((segment, i) => {
      const last = i === path.length - 1;
      const key = Array.isArray(node) ? (segment === '' ? node.length : Number(segment)) : segment;
      const container = node as Record<string | number, QueryValue>;
      if (last) {
        container[key] = value;
        return;
      }
      const nextIsIndex = /^\d*$/.test(path[i + 1]!);
      if (container[key] === undefined || typeof container[key] === 'string') container[key] = nextIsIndex ? [] : {};
      node = container[key] as QueryObject | QueryValue[];
    });
  }
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** A list from `x[0]=a&x[1]=b`, `x=a` or absent. */
export function listOf(v: QueryValue | undefined): string[] {
  if (v === undefined) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return Object.values(v).filter((x): x is string => typeof x === 'string');
}
