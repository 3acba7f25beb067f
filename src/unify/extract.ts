/**
 * Which external IDs an event carries, as Segment promotes them (segment-docs,
 * "Identity Resolution ExternalIDs" and "Identity Resolution Onboarding"):
 *
 *   user_id            userId
 *   anonymous_id       anonymousId
 *   email              traits.email, context.traits.email or properties.email (lower-cased)
 *   android.id/ios.id  context.device.id when context.device.type is android/ios
 *   *.idfa             context.device.advertisingId when the type matches AND adTrackingEnabled = true
 *   *.push_token       context.device.token when the type matches
 *   ga_client_id       integrations['Google Analytics'].clientId (top level, or under context)
 *   group_id           groupId (a link to an account; see graph.ts)
 *   custom (`phone`)   context.traits / traits / properties under the rule's key (camelCase or
 *                      snake_case), and `context.externalIds` items
 *   any configured     context.externalIds: `{id, type, collection: 'users', encoding: 'none'}`,
 *                      all four required, the type in lower case
 *
 * An alias call's `previousId` is not promoted: Segment documents that alias calls
 * can't merge profiles in Unify (its userId and anonymousId count like any call's).
 *
 * Only types the space's rules list are promoted (a custom type must be configured,
 * as Segment requires). Blocked values are left on the event, not promoted.
 */
import type { IdentityRule } from './config.js';

export interface ExternalId {
  type: string;
  id: string;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Identifier values are strings; numbers are accepted as their decimal text (a numeric userId). */
function text(v: unknown): string | undefined {
  if (typeof v === 'string') {
    const t = v.trim();
    return t === '' ? undefined : t;
  }
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

const camel = (s: string) => s.replace(/[_.]([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
const snake = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toLowerCase();

/** Values of `key` in an object, under the key as written, in camelCase and in snake_case. */
function keyed(obj: unknown, key: string): unknown[] {
  if (!isObj(obj)) return [];
  const keys = [...new Set([key, camel(key), snake(key)])];
  return keys.map((k) => obj[k]).filter((v) => v !== undefined);
}

/**
 * The event's identifiers, in a deterministic order (the order of the rules, then
 * where they were found), without duplicates. `email` values are lower-cased wherever found.
 */
export function extractExternalIds(message: Obj, rules: readonly IdentityRule[], isBlocked: (value: string) => boolean): ExternalId[] {
  const wanted = new Set(rules.map((r) => r.type));
  const found: ExternalId[] = [];
  const seen = new Set<string>();
  const add = (type: string, raw: unknown) => {
    let id = text(raw);
    if (id === undefined || !wanted.has(type)) return;
    if (type === 'email') id = id.toLowerCase();
    if (isBlocked(id)) return;
    const k = `${type}\0${id}`;
    if (seen.has(k)) return;
    seen.add(k);
    found.push({ type, id });
  };

  const context = isObj(message.context) ? message.context : {};
  const device = isObj(context.device) ? context.device : {};
  const platform = typeof device.type === 'string' ? device.type.toLowerCase() : '';
  const externalIds = Array.isArray(context.externalIds) ? context.externalIds : [];

  for (const rule of rules) {
    const t = rule.type;
    switch (t) {
      case 'user_id': add(t, message.userId); break;
      case 'anonymous_id': add(t, message.anonymousId); break;
      case 'email':
        for (const where of [message.traits, context.traits, message.properties]) if (isObj(where)) add(t, where.email);
        break;
      case 'android.id': case 'ios.id':
        if (platform === t.split('.')[0]) add(t, device.id);
        break;
      case 'android.idfa': case 'ios.idfa':
        if (platform === t.split('.')[0] && device.adTrackingEnabled === true) add(t, device.advertisingId);
        break;
      case 'android.push_token': case 'ios.push_token':
        if (platform === t.split('.')[0]) add(t, device.token);
        break;
      case 'ga_client_id':
        for (const where of [message.integrations, context.integrations]) {
          const ga = isObj(where) ? where['Google Analytics'] : undefined;
          if (isObj(ga)) add(t, ga.clientId);
        }
        break;
      case 'group_id': add(t, message.groupId); break;
      default: {
        const key = rule.key ?? t;
        for (const where of [context.traits, message.traits, message.properties]) for (const v of keyed(where, key)) add(t, v);
      }
    }
    // context.externalIds may carry any configured type, built-in ones too.
    for (const item of externalIds) {
      if (!isObj(item) || item.type !== t) continue;
      // All four fields are required; only the users collection and no encoding resolve users.
      if (item.collection !== 'users' || item.encoding !== 'none' || typeof item.type !== 'string') continue;
      add(t, item.id);
    }
  }
  return found;
}

/** An event's timestamp in epoch ms: `timestamp`, else `receivedAt`, else the log's receipt time. */
export function eventTime(message: Obj, receivedAt: number): number {
  for (const k of ['timestamp', 'receivedAt'] as const) {
    const v = message[k];
    if (typeof v === 'string') {
      const t = Date.parse(v);
      if (Number.isFinite(t)) return t;
    }
  }
  return receivedAt;
}
