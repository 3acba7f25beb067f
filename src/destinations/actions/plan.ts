import type { RequestFn } from '../../core/request.js';
import type { DeliveryOutcome, Exchange } from '../../core/result.js';
import { compileFql, type FqlPredicate } from '../../protocol/fql/index.js';
import type { SegmentMessage } from '../../protocol/types.js';
import type { ActionsDefinition, EngineAction, EngineDestination, JsonMap, OAuthTokens } from './engine-types.js';
import { verdictFromError, type ErrorVerdict } from './errors.js';
import { withRequestFn } from './http.js';
import { isOAuth, type ActionsInstanceSettings } from './settings.js';

/**
 * One instance's compiled configuration: subscriptions with their FQL compiled and
 * mappings resolved, settings with secrets merged back, and its OAuth tokens
 * (refreshed in place). Built once per validated settings object.
 */
export interface CompiledSubscription {
  partnerAction: string;
  action: EngineAction;
  predicate: FqlPredicate;
  mapping: JsonMap;
  /**
   * Events per `performBatch` call, or 0 when this subscription sends one event per
   * call. As in Segment: the action has `performBatch` and its mapping turns
   * `enable_batching` on; the size is the mapping's `batch_size`, else 100.
   */
  batchSize: number;
}

export interface Plan {
  def: ActionsDefinition;
  engine: EngineDestination;
  /** Destination settings with secrets merged back: what actions see as `settings`. */
  settings: JsonMap;
  subscriptions: CompiledSubscription[];
  oauth: JsonMap | undefined;
  refreshing: Promise<void> | null;
  /** Writes refreshed tokens back to the store (DeliverInput.persist of the latest call; none in bare tests). */
  persist?: (key: string, value: unknown) => Promise<void>;
  secretValues(): string[];
}

const DEFAULT_BATCH_SIZE = 100;

export function buildPlan(def: ActionsDefinition, engine: EngineDestination, s: ActionsInstanceSettings): Plan {
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
    const batchable = typeof def.actions[sub.partnerAction]?.performBatch === 'function' && mapping.enable_batching === true;
    const size = typeof mapping.batch_size === 'number' && mapping.batch_size > 0 ? Math.floor(mapping.batch_size) : DEFAULT_BATCH_SIZE;
    subscriptions.push({ partnerAction: sub.partnerAction, action, predicate: compiled.value, mapping, batchSize: batchable ? size : 0 });
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

export function matches(predicate: FqlPredicate, message: SegmentMessage): boolean {
  try {
    return predicate(message);
  } catch {
    return false; // a subscription that cannot be evaluated on this event does not match it
  }
}

export async function runAction(plan: Plan, sub: CompiledSubscription, message: SegmentMessage, request: RequestFn): Promise<ErrorVerdict | null> {
  const oauth = isOAuth(plan.def) && plan.oauth !== undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      await withRequestFn(request, () =>
        sub.action.execute({ mapping: sub.mapping, data: message, settings: plan.settings, auth: authOf(plan), features: {} }),
      );
      return null;
    } catch (err) {
      if (oauth && attempt === 1 && statusOf(err) === 401) {
        const failed = await refreshTokens(plan, request).then(() => null, (e: unknown) => e);
        if (failed === null) continue;
        // The token endpoint being down is worth a retry; a refused refresh is not.
        const v = verdictFromError(failed, Date.now());
        if (v.kind === 'retry') return { ...v, reason: `token refresh failed: ${v.reason}` };
      }
      return verdictFromError(err, Date.now());
    } finally {
      // The engine records every response on the Destination; we capture our own.
      plan.engine.responses.length = 0;
    }
  }
}

export function authOf(plan: Plan): OAuthTokens | undefined {
  const o = plan.oauth;
  if (!o) return undefined;
  return { accessToken: str(o.access_token), refreshToken: str(o.refresh_token), refreshTokenUrl: str(o.refresh_token_url) };
}

/** One refresh in flight per instance: concurrent 401s wait for the same new token. */
export function refreshTokens(plan: Plan, request: RequestFn): Promise<void> {
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
      // The new tokens are used at once from memory; persisting them is best effort
      // (a failure only means the next runner starts from the stored token and
      // refreshes again on its first 401), so it never fails the delivery.
      if (plan.persist) await plan.persist('oauth', { ...o }).catch(() => undefined);
    } finally {
      plan.refreshing = null;
    }
  })();
  return plan.refreshing;
}

export function statusOf(err: unknown): number | undefined {
  const e = err as { status?: unknown; response?: { status?: unknown } } | null;
  const s = e?.response?.status ?? e?.status;
  return typeof s === 'number' ? s : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function fold(verdicts: (ErrorVerdict | null)[], exchanges: Exchange[]): DeliveryOutcome {
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
 * Credentials often travel in bodies and URLs (Amplitude's `api_key`, GA4's
 * `api_secret` query parameter): captured exchanges are kept for failure samples,
 * so the secret values themselves are blanked wherever they appear.
 */
export function redactSecrets(outcome: DeliveryOutcome, secrets: string[]): DeliveryOutcome {
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
