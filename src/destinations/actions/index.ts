import { z } from 'zod';
import { capturing, RedactSet, type RequestFn } from '../../core/request.js';
import type { DeliveryOutcome } from '../../core/result.js';
import { EVENT_TYPES, type SegmentMessage } from '../../protocol/types.js';
import type { DestinationDefinition } from '../types.js';
import { actionsCore, catalogEntries, loadDefinition, type CatalogEntry } from './catalog.js';
import type { EngineDestination } from './engine-types.js';
import { installFetchHook } from './http.js';
import { deliverBatch } from './batch.js';
import { buildPlan, fold, matches, redactSecrets, runAction, type Plan } from './plan.js';
import { ACTIONS_SECRET_KEYS, instanceSettingsSchema, isSecretField, type ActionsInstanceSettings } from './settings.js';

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
 * An event no enabled subscription matches is skipped (`no_matching_subscription`):
 * counted as filtered at the destination, not as a failure.
 * When several subscriptions match, they run concurrently; the event is delivered
 * when all succeed, retried (all of them) when any asks for a retry, otherwise
 * discarded with the first reason.
 *
 * OAuth (scheme oauth2 / oauth-managed): tokens come from the instance's `oauth`
 * settings; on a 401 the definition's `refreshAccessToken` runs once (one refresh
 * in flight per instance) and the action is retried with the new token. The new
 * tokens are used from memory at once and handed to `persist` (DeliverInput; the
 * router writes them, encrypted, to the control plane, which rebuilds the
 * instance's runner from them). The workspace file stays the source of truth: a
 * later apply of the file (an edit, a restart) puts the file's tokens back, and
 * the next 401 refreshes again.
 */
/** Several events of one instance at once: one outcome per message, in order. */
export interface BatchDeliverInput {
  settings: ActionsInstanceSettings;
  messages: readonly SegmentMessage[];
  request: RequestFn;
  persist?: (key: string, value: unknown) => Promise<void>;
}

/**
 * An Actions destination type. `deliverBatch` is an addition to the native
 * DestinationDefinition: the lane runner may hand it several events so actions
 * with `performBatch` (and batching enabled in their mapping) send them in one call.
 */
export interface ActionsDestinationType extends DestinationDefinition<ActionsInstanceSettings> {
  deliverBatch(input: BatchDeliverInput): Promise<DeliveryOutcome[]>;
}

export function createActionsDestination(entry: CatalogEntry): ActionsDestinationType {
  const def = loadDefinition(entry);
  // Made once per destination type: capturing() needs it for every event.
  const secretFields = new RedactSet(Object.entries(def.authentication?.fields ?? {}).filter(([, f]) => isSecretField(f)).map(([k]) => k));
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
    async deliver({ settings, message, request: base, persist }) {
      const plan = planFor(settings);
      if (persist) plan.persist = persist;
      const matched = plan.subscriptions.filter((s) => matches(s.predicate, message));
      if (matched.length === 0) return { kind: 'skip', reason: 'no_matching_subscription', exchanges: [] };
      const { request, exchanges } = capturing(base, secretFields);
      const verdicts = await Promise.all(matched.map((s) => runAction(plan, s, message, request)));
      return redactSecrets(fold(verdicts, exchanges), plan.secretValues());
    },
    deliverBatch({ settings, messages, request, persist }) {
      const plan = planFor(settings);
      if (persist) plan.persist = persist;
      return deliverBatch(plan, messages, request, secretFields);
    },
  };
}

/**
 * Stands in for a catalog destination whose code fails to load (a missing optional
 * dependency, say): its settings never validate, with the load error as the reason,
 * so the workspace file names the problem instead of the server crashing.
 */
export function unloadableActionsDestination(entry: CatalogEntry, err: unknown): DestinationDefinition<never> {
  const message = `the ${entry.type} destination code failed to load: ${err instanceof Error ? err.message : String(err)}`;
  return {
    type: entry.type,
    name: entry.slug,
    settingsSchema: z.never({ error: message }),
    supportedTypes: EVENT_TYPES,
    secretSettings: ACTIONS_SECRET_KEYS,
    deliver: () => Promise.resolve({ kind: 'discard', reason: message, exchanges: [] }),
  };
}

/** The catalog as Switchyard types, without loading any destination. */
export function actionsTypeNames(): string[] {
  return [...catalogEntries().keys()];
}
export { describeActionsType, type ActionsCatalogItem, type FieldInfo } from './describe.js';
