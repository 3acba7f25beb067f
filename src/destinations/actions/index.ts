import { capturing, type RequestFn } from '../../core/request.js';
import type { DeliveryOutcome, Exchange } from '../../core/result.js';
import { compileFql, type FqlPredicate } from '../../protocol/fql/index.js';
import { EVENT_TYPES, type SegmentMessage } from '../../protocol/types.js';
import type { DestinationDefinition } from '../types.js';
import { actionsCore, catalogEntries, loadDefinition, type CatalogEntry } from './catalog.js';
import type { ActionsDefinition, EngineAction, EngineDestination, JsonMap, OAuthTokens } from './engine-types.js';
import { verdictFromError, type ErrorVerdict } from './errors.js';
import { installFetchHook, withRequestFn } from './http.js';
import { ACTIONS_SECRET_KEYS, instanceSettingsSchema, isOAuth, isSecretField, type ActionsInstanceSettings } from './settings.js';

export type { ActionsInstanceSettings, ActionsSubscription } from './settings.js';
export { catalogEntries, typeNameForSlug } from './catalog.js';

/**
 * Runs a destination of Segment's Actions catalog as a Switchyard destination type.
 *
 * Per event: the instance's subscriptions (or the definition's automatic presets)
 * are matched with Switchyard's FQL; each matching action runs through the engine's
 * `Action.execute` (mapping-kit transform, empty-value removal, payload schema
 * validation, `perform`). We do not call `Destination.onEvent`: it matches with
 * `@segment/destination-subscriptions` (drops `not`), retries in-process (our lanes
 * retry), and appends every response to a list that never shrinks.
 *
 * Mappings: a preset's mapping is used as the catalog gives it (Segment builds
 * presets from the fields' defaults already). A user subscription's mapping is
 * laid over the action fields' `default`s, as Segment's editor pre-fills them;
 * a key mapped to `null` removes that field's default.
 *
 * An event no enabled subscription matches is discarded with reason
 * `no matching subscription` (not an error; the lead may make it "filtered").
 * When several subscriptions match, they run concurrently; the event is delivered
 * when all succeed, retried (all of them) when any asks for a retry, otherwise
 * discarded with the first reason.
 *
 * OAuth (scheme oauth2 / oauth-managed): tokens come from the instance's `oauth`
 * settings; on a 401 the definition's `refreshAccessToken` runs once (one refresh
 * in flight per instance) and the action is retried with the new token. New tokens
 * live in memory for the life of the instance's runner; they are not yet written
 * back to the store.
 */
export function createActionsDestination(entry: CatalogEntry): DestinationDefinition<ActionsInstanceSettings> {
  const def = loadDefinition(entry);
  const secretFields = Object.entries(def.authentication?.fields ?? {}).filter(([, f]) => isSecretField(f)).map(([k]) => k);
  let engine: EngineDestination | undefined;
  const plans = new WeakMap<ActionsInstanceSettings, Plan>();

  const planFor = (settings: ActionsInstanceSettings): Plan => {
    let plan = plans.get(settings);
    if (!plan) {
      installFetchHook();
      engine ??= new (actionsCore().Destination)(def);
      plan = buildPlan(def, engine, settings);
      plans.set(settings, plan);
    }
    return plan;
  };

  return {
    type: entry.type,
    name: def.name,
    settingsSchema: instanceSettingsSchema(def),
    // Which events an action takes is decided by its subscription, not by type.
    supportedTypes: EVENT_TYPES,
    secretSettings: ACTIONS_SECRET_KEYS,
    async deliver({ settings, message, request: base }) {
      const plan = planFor(settings);
      const matched = plan.subscriptions.filter((s) => matches(s.predicate, message));
      if (matched.length === 0) return { kind: 'discard', reason: 'no matching subscription', exchanges: [] };
      const { request, exchanges } = capturing(base, secretFields);
      const verdicts = await Promise.all(matched.map((s) => runAction(plan, s, message, request)));
      return redactSecrets(fold(verdicts, exchanges), plan.secretValues());
    },
  };
}

interface CompiledSubscription {
  partnerAction: string;
  action: EngineAction;
  predicate: FqlPredicate;
  mapping: JsonMap;
}

interface Plan {
  def: ActionsDefinition;
  engine: EngineDestination;
  /** Destination settings with secrets merged back: what actions see as `settings`. */
  settings: JsonMap;
  subscriptions: CompiledSubscription[];
  oauth: JsonMap | undefined;
  refreshing: Promise<void> | null;
  secretValues(): string[];
}

function buildPlan(def: ActionsDefinition, engine: EngineDestination, s: ActionsInstanceSettings): Plan {
  const fromUser = s.subscriptions !== undefined;
  const subs = fromUser
    ? s.subscriptions!.filter((x) => x.enabled).map((x) => ({ partnerAction: x.partnerAction, subscribe: x.subscribe, mapping: x.mapping }))
    : (def.presets ?? [])
        .filter((p) => (p.type ?? 'automatic') === 'automatic' && typeof p.subscribe === 'string')
        .map((p) => ({ partnerAction: p.partnerAction, subscribe: p.subscribe!, mapping: p.mapping ?? {} }));
  const subscriptions: CompiledSubscription[] = [];
  for (const sub of subs) {
    const action = engine.actions[sub.partnerAction];
    const compiled = compileFql(sub.subscribe);
    // Settings were validated (unknown actions and bad FQL are refused there); a
    // preset the catalog ships broken is skipped rather than failing every event.
    if (!action || !compiled.ok) continue;
    const mapping = fromUser ? withFieldDefaults(def, sub.partnerAction, sub.mapping) : sub.mapping;
    subscriptions.push({ partnerAction: sub.partnerAction, action, predicate: compiled.value, mapping });
  }
  const oauth = s.oauth ? { ...s.oauth } : undefined;
  const settings = { ...s.settings, ...s.secrets };
  return {
    def,
    engine,
    settings,
    subscriptions,
    oauth,
    refreshing: null,
    secretValues() {
      const values = [...Object.values(s.secrets), ...(oauth ? [oauth.access_token, oauth.refresh_token, oauth.clientSecret] : [])];
      return values.filter((v): v is string => typeof v === 'string' && v.length >= 4);
    },
  };
}

function withFieldDefaults(def: ActionsDefinition, actionKey: string, mapping: JsonMap): JsonMap {
  const out: JsonMap = {};
  for (const [k, f] of Object.entries(def.actions[actionKey]?.fields ?? {})) if (f.default !== undefined) out[k] = f.default;
  for (const [k, v] of Object.entries(mapping)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

function matches(predicate: FqlPredicate, message: SegmentMessage): boolean {
  try {
    return predicate(message);
  } catch {
    return false; // a subscription that cannot be evaluated on this event does not match it
  }
}

async function runAction(plan: Plan, sub: CompiledSubscription, message: SegmentMessage, request: RequestFn): Promise<ErrorVerdict | null> {
  const oauth = isOAuth(plan.def) && plan.oauth !== undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      await withRequestFn(request, () =>
        sub.action.execute({ mapping: sub.mapping, data: message, settings: plan.settings, auth: authOf(plan), features: {} }),
      );
      return null;
    } catch (err) {
      if (oauth && attempt === 1 && statusOf(err) === 401) {
        const refreshed = await refreshTokens(plan, request).then(() => true, () => false);
        if (refreshed) continue;
      }
      return verdictFromError(err, Date.now());
    } finally {
      // The engine records every response on the Destination; we capture our own.
      plan.engine.responses.length = 0;
    }
  }
}

function authOf(plan: Plan): OAuthTokens | undefined {
  const o = plan.oauth;
  if (!o) return undefined;
  return { accessToken: str(o.access_token), refreshToken: str(o.refresh_token), refreshTokenUrl: str(o.refresh_token_url) };
}

/** One refresh in flight per instance: concurrent 401s wait for the same new token. */
function refreshTokens(plan: Plan, request: RequestFn): Promise<void> {
  plan.refreshing ??= (async () => {
    try {
      const o = plan.oauth!;
      const tokens = await withRequestFn(request, () =>
        plan.engine.refreshAccessToken(plan.settings, {
          accessToken: str(o.access_token),
          refreshToken: str(o.refresh_token),
          clientId: str(o.clientId),
          clientSecret: str(o.clientSecret),
          refreshTokenUrl: str(o.refresh_token_url),
        }),
      );
      if (!tokens?.accessToken) throw new Error('the destination returned no access token');
      o.access_token = tokens.accessToken;
      if (tokens.refreshToken) o.refresh_token = tokens.refreshToken;
    } finally {
      plan.refreshing = null;
    }
  })();
  return plan.refreshing;
}

function statusOf(err: unknown): number | undefined {
  const e = err as { status?: unknown; response?: { status?: unknown } } | null;
  const s = e?.response?.status ?? e?.status;
  return typeof s === 'number' ? s : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function fold(verdicts: (ErrorVerdict | null)[], exchanges: Exchange[]): DeliveryOutcome {
  const retries = verdicts.filter((v): v is Extract<ErrorVerdict, { kind: 'retry' }> => v?.kind === 'retry');
  if (retries.length > 0) {
    const after = Math.max(...retries.map((r) => r.retryAfterMs ?? -1));
    const first = retries[0]!;
    return { kind: 'retry', reason: first.reason, ...(first.status !== undefined ? { status: first.status } : {}), ...(after >= 0 ? { retryAfterMs: after } : {}), exchanges };
  }
  const discard = verdicts.find((v) => v?.kind === 'discard');
  if (discard) return { kind: 'discard', reason: discard.reason, ...(discard.status !== undefined ? { status: discard.status } : {}), exchanges };
  const last = exchanges.at(-1)?.response?.status;
  return { kind: 'delivered', ...(last !== undefined ? { status: last } : {}), exchanges };
}

/**
 * Credentials often travel in bodies and URLs (Amplitude's `api_key`, Slack's
 * webhook path): captured exchanges are kept for failure samples, so the secret
 * values themselves are blanked wherever they appear.
 */
function redactSecrets(outcome: DeliveryOutcome, secrets: string[]): DeliveryOutcome {
  if (secrets.length === 0) return outcome;
  const blank = (s: string): string => secrets.reduce((acc, v) => acc.split(v).join('[redacted]'), s);
  for (const x of outcome.exchanges) {
    x.request.url = blank(x.request.url);
    x.request.body = blank(x.request.body);
    for (const k of Object.keys(x.request.headers)) x.request.headers[k] = blank(x.request.headers[k]!);
    if (x.response) x.response.body = blank(x.response.body);
  }
  return outcome;
}

/** The catalog as Switchyard types, without loading any destination. */
export function actionsTypeNames(): string[] {
  return [...catalogEntries().keys()];
}
