import { nextAttempt, type RetryPolicy } from '../core/retry.js';
import type { DeliveryOutcome } from '../core/result.js';
import type { RequestFn } from '../core/request.js';
import { splitConnectionMode } from '../core/route.js';
import type { SegmentMessage } from '../protocol/types.js';
import type { DestinationDefinition } from '../destinations/types.js';
import type { DestinationInstance } from '../store/types.js';

/**
 * Load: hands one Reverse ETL event to one destination instance.
 *
 * Why not the event log and the router: a lane delivers every event of the sources
 * the destination is connected to, and connections live in the control plane. An
 * internal source per mapping would need control-plane entities the file does not
 * declare (and the Public API would show), and the snapshot could only advance
 * once the router settled the event, which the sync would have to wait for across
 * threads. Calling the destination's `deliver` here, with the router's retry
 * classification (`core/retry.ts`), keeps the event to exactly the mapping's
 * destination, and the sync knows each event's outcome before it advances the
 * snapshot: durability comes from the snapshot, not the log (a record whose event
 * did not get through keeps its old hash, so the next sync sends it again, with the
 * same messageId). Retries within a sync are short (RETL_RETRY_POLICY); what still
 * fails is retried by the next sync, as Segment's "automatic retry handling" does.
 */
export type DeliveryResult = { ok: true } | { ok: false; reason: string };
export type Deliver = (destinationId: string, message: SegmentMessage) => Promise<DeliveryResult>;

/** Within one sync: a few quick retries; the next sync is the long-term retry. */
export const RETL_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({ maxRetries: 4, windowMs: 2 * 60_000, baseDelayMs: 1000, maxDelayMs: 30_000 });

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
  random(): number;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

/** Attempts until delivered, discarded, or the policy gives up. A throw counts as a retryable failure. */
export async function withRetries(attempt: () => Promise<DeliveryOutcome>, policy: RetryPolicy, clock: Clock, signal?: AbortSignal): Promise<DeliveryResult> {
  const first = clock.now();
  for (let n = 1; ; n++) {
    let outcome: DeliveryOutcome;
    try {
      outcome = await attempt();
    } catch (err) {
      outcome = { kind: 'retry', reason: (err as Error).message, exchanges: [] };
    }
    if (outcome.kind === 'delivered') return { ok: true };
    // Nothing to send for this event (e.g. no Actions subscription matches it): settled, as the router counts it.
    if (outcome.kind === 'skip') return { ok: true };
    if (outcome.kind === 'discard') return { ok: false, reason: outcome.reason };
    const next = nextAttempt({ attempt: n, firstAttemptAt: first, now: clock.now(), retryAfterMs: outcome.retryAfterMs ?? null }, policy, clock.random);
    if (next.kind === 'fail') return { ok: false, reason: `${outcome.reason} (${next.reason.replace(/_/g, ' ')})` };
    // Stopping: no more retries; the record keeps its old snapshot and the next sync sends it.
    if (signal?.aborted) return { ok: false, reason: `${outcome.reason} (not retried: Switchyard is stopping)` };
    await clock.sleep(Math.max(0, next.at - clock.now()));
    if (signal?.aborted) return { ok: false, reason: `${outcome.reason} (not retried: Switchyard is stopping)` };
  }
}

export interface DestinationDeliverDeps {
  /** The control plane's destination instances (decrypted settings), read at each delivery. */
  destinations: () => readonly DestinationInstance[];
  types: ReadonlyMap<string, DestinationDefinition<never>>;
  request: RequestFn;
  policy?: RetryPolicy;
  clock?: Clock;
  /** Aborted when the process stops: retries end at once. */
  signal?: AbortSignal;
}

export function destinationDeliverer(deps: DestinationDeliverDeps): Deliver {
  return async (destinationId, message) => {
    const instance = deps.destinations().find((d) => d.id === destinationId);
    if (!instance) return { ok: false, reason: `destination "${destinationId}" does not exist` };
    if (!instance.enabled) return { ok: false, reason: `destination "${destinationId}" is disabled` };
    const definition = deps.types.get(instance.type) as DestinationDefinition<unknown> | undefined;
    if (!definition) return { ok: false, reason: `unknown destination type "${instance.type}"` };
    if (!definition.supportedTypes.includes(message.type)) return { ok: false, reason: `${definition.name} does not accept ${message.type} events` };
    const { settings: stored } = splitConnectionMode(instance.settings);
    const settings = definition.settingsSchema.safeParse(stored);
    if (!settings.success) return { ok: false, reason: `the destination's settings are invalid: ${settings.error.issues[0]?.message ?? 'invalid'}` };
    const payload = JSON.stringify(message);
    return withRetries(() => definition.deliver({ settings: settings.data, message, payload, request: deps.request }), deps.policy ?? RETL_RETRY_POLICY, deps.clock ?? realClock, deps.signal);
  };
}
