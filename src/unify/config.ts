/**
 * Unify (Segment's identity resolution and Profile API): what a space is configured
 * with. The workspace file (config/workspace-file.ts) validates the `unify:` block and
 * resolves it into a `UnifySpace`; the server hands that to the consumer thread and
 * the Profile API. Pure data and functions: this layer imports protocol/core only.
 */

/** One identifier type the graph promotes and resolves on (Segment's "Identity Resolution settings"). */
export interface IdentityRule {
  /** External ID type, lower-case: `user_id`, `email`, `anonymous_id`, `ios.idfa`, or a custom one (`phone`). */
  type: string;
  /** How many values of this type one profile may hold (within `frequency`). */
  limit: number;
  /**
   * The limit's sliding window (Segment: "5 Weekly"): only values seen on an event
   * received within it count. Absent: `ever`.
   */
  frequency?: Frequency;
  /** 1 is the highest. When a merge would break a limit, the event's lowest-priority identifiers are demoted first. */
  priority: number;
  /**
   * Custom identifiers only: the trait / property key to match on (default: the type).
   * Segment accepts it in camelCase and snake_case in traits, context.traits and properties.
   */
  key?: string;
}

export const FREQUENCIES = ['ever', 'daily', 'weekly', 'monthly', 'annually'] as const;
export type Frequency = (typeof FREQUENCIES)[number];

/** Each window's length in ms (a month is 30 days, a year 365); `ever` has none. */
export const WINDOW_MS: Record<Frequency, number> = {
  ever: Infinity, daily: 86_400_000, weekly: 7 * 86_400_000, monthly: 30 * 86_400_000, annually: 365 * 86_400_000,
};

export interface UnifySpace {
  /** The space id in Profile API paths (`/v1/spaces/<id>/...`): `id`, else the slug. */
  id: string;
  slug: string;
  name: string;
  /** Source ids (resolved from slugs) that feed the space. */
  sourceIds: string[];
  /** The Profile API secret (HTTP Basic username). Never logged. */
  accessToken: string;
  /** Ordered by priority (highest first). */
  rules: IdentityRule[];
  /**
   * Values never promoted to identifiers (Segment's "Blocked values"): exact strings,
   * or `/pattern/` for a regular expression. Segment suggests opting into
   * `/^[0-]*$/`, `-1`, `null` and `anonymous`; like Segment, none are blocked unless listed.
   */
  blockedValues: string[];
}

/**
 * The external ID types Segment promotes out of the box ("Segment's 11 default"),
 * with its default limits ("user_id 1, all other identifiers 5") and priorities
 * ("user_id and email as rank 1 and 2 ... all other identifiers in alphabetical
 * order beginning from rank 3"). The seed's tables were cut from the crawl; these
 * follow segment-docs' identity-resolution-onboarding page. `group_id` links a user
 * to an account and never matches users to each other (graph.ts), so its limit and
 * priority do not come into play; listing it (or not) switches the links on (or off).
 */
export const DEFAULT_RULE_TYPES = [
  'user_id', 'email',
  'android.id', 'android.idfa', 'android.push_token', 'anonymous_id', 'ga_client_id', 'group_id', 'ios.id', 'ios.idfa', 'ios.push_token',
] as const;

export function defaultIdentityRules(): IdentityRule[] {
  return DEFAULT_RULE_TYPES.map((type, i) => ({ type, limit: type === 'user_id' ? 1 : 5, priority: i + 1 }));
}

/** Segment's default limit for a type the file lists without one. */
export function defaultLimit(type: string): number {
  return type === 'user_id' ? 1 : 5;
}

/** Types the graph knows where to find on a message; any other type is custom (traits, properties, context.externalIds). */
export const BUILT_IN_TYPES: ReadonlySet<string> = new Set(DEFAULT_RULE_TYPES);

/** How many events the graph keeps per profile (the newest); the Profile API pages through them. */
export const EVENTS_PER_PROFILE = 1000;

/** Matches a value against the blocked values (exact, or `/regex/`). */
export function blockedMatcher(blocked: readonly string[]): (value: string) => boolean {
  const exact = new Set<string>();
  const patterns: RegExp[] = [];
  for (const b of blocked) {
    const m = /^\/(.*)\/$/.exec(b);
    if (m) patterns.push(new RegExp(m[1]!));
    else exact.add(b);
  }
  if (exact.size === 0 && patterns.length === 0) return () => false;
  return (value) => exact.has(value) || patterns.some((p) => p.test(value));
}
