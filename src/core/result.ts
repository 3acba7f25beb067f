/**
 * Pipeline results as data, not exceptions. Every way an event can stop names
 * its step and reason; these become Delivery Overview's steps and discard reasons.
 */

/** One HTTP exchange with a destination, truncated, secrets redacted. */
export interface Exchange {
  request: { method: string; url: string; headers: Record<string, string>; body: string };
  response?: { status: number; headers: Record<string, string>; body: string };
  /** Network error or timeout, when there was no response. */
  error?: string;
  durationMs: number;
}

/**
 * `logs`: what a function's code printed (destination and insert functions): kept with
 * a failure's sample, as Segment's Event Delivery shows them, and shown by the Event Tester.
 */
export type DeliveryOutcome =
  | { kind: 'delivered'; status?: number; exchanges: Exchange[]; logs?: string[] }
  | { kind: 'retry'; reason: string; status?: number; retryAfterMs?: number; exchanges: Exchange[]; logs?: string[] }
  | { kind: 'discard'; reason: string; status?: number; exchanges: Exchange[]; logs?: string[] }
  /** Nothing to send for this event (e.g. no Actions subscription matches it): filtered, not failed. */
  | { kind: 'skip'; reason: string; exchanges: Exchange[] };

/** Why the router did not send an event to a destination (not a failure). */
export type SkipReason =
  | 'integrations_all_false'
  | 'integrations_disabled'
  | 'unsupported_event_type'
  | 'source_not_connected';

export type RouteDecision = { kind: 'send'; options?: Record<string, unknown> } | { kind: 'skip'; reason: SkipReason };
