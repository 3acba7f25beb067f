import type { EventType, SegmentMessage } from '../protocol/types.js';
import type { RouteDecision } from './result.js';

export interface RouteTarget {
  /** Destination display name (e.g. `Webhooks`), matched in the integrations object. */
  destinationName: string;
  /** Instance name (e.g. `Orders webhook`), also matched. */
  instanceName: string;
  supportedTypes: ReadonlySet<EventType>;
}

/**
 * Classic routing rules, in Segment's order: the integrations object first
 * (`All: false` turns everything off unless a destination is named true or with
 * options; a destination named false is off), then the destination's supported
 * event types. The instance name is matched as well as the destination name, so
 * one instance of a multi-instance destination can be turned off on its own.
 */
export function decideRoute(message: SegmentMessage, target: RouteTarget): RouteDecision {
  const integrations = message.integrations;
  if (integrations) {
    const named = integrations[target.instanceName] ?? integrations[target.destinationName];
    if (named === false) return { kind: 'skip', reason: 'integrations_disabled' };
    if (named === undefined && integrations.All === false) return { kind: 'skip', reason: 'integrations_all_false' };
    if (!target.supportedTypes.has(message.type)) return { kind: 'skip', reason: 'unsupported_event_type' };
    if (named !== null && typeof named === 'object' && !Array.isArray(named)) {
      return { kind: 'send', options: named as Record<string, unknown> };
    }
    return { kind: 'send' };
  }
  if (!target.supportedTypes.has(message.type)) return { kind: 'skip', reason: 'unsupported_event_type' };
  return { kind: 'send' };
}
