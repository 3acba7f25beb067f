import type { EventType, SegmentMessage } from '../protocol/types.js';
import type { RouteDecision } from './result.js';

/**
 * How events reach a destination instance (Segment's "connection mode"):
 * - `cloud`: Switchyard's router delivers them (server-side);
 * - `device`: the browser sends to the destination directly (analytics.js loads
 *   the destination's code from the settings endpoint's list); the router never does.
 */
export type ConnectionMode = 'cloud' | 'device';
export const CONNECTION_MODES: readonly ConnectionMode[] = ['cloud', 'device'];

/**
 * Where an instance's connection mode is kept: a reserved key of its stored
 * settings object (written only for `device`; absent means `cloud`), so the
 * control-plane store carries it without a column of its own. Whoever parses
 * stored settings with the destination's schema strips it first
 * (`splitConnectionMode`).
 */
export const CONNECTION_MODE_KEY = '__connectionMode';

/** Why the router did not send an event to a device-mode instance (Delivery Overview's discard reason). */
export const DEVICE_MODE_CLIENT_REASON = 'device-mode destination: the browser sends to it';
export const DEVICE_MODE_SERVER_REASON = 'device-mode destination: server events need a cloud-mode instance';
export type ConnectionModeSkipReason = typeof DEVICE_MODE_CLIENT_REASON | typeof DEVICE_MODE_SERVER_REASON;

/** The connection mode kept in stored settings, and the settings without it (what the destination's schema expects). */
export function splitConnectionMode(stored: Record<string, unknown>): { connectionMode: ConnectionMode; settings: Record<string, unknown> } {
  if (!(CONNECTION_MODE_KEY in stored)) return { connectionMode: 'cloud', settings: stored };
  const { [CONNECTION_MODE_KEY]: mode, ...settings } = stored;
  return { connectionMode: mode === 'device' ? 'device' : 'cloud', settings };
}

export interface RouteTarget {
  /** Destination display name (e.g. `Webhooks`), matched in the integrations object. */
  destinationName: string;
  /** Instance name (e.g. `Orders webhook`), also matched. */
  instanceName: string;
  supportedTypes: ReadonlySet<EventType>;
  /** Absent: `cloud`. */
  connectionMode?: ConnectionMode;
}

export type RouteResult = RouteDecision | { kind: 'skip'; reason: ConnectionModeSkipReason };

/**
 * Classic routing rules, in Segment's order (seed 004, "Integrations-consumer"):
 *
 * 1. Connection mode and channel. A device-mode instance is never delivered by
 *    the router: analytics.js (channel `client`) sends to it from the browser, so
 *    sending it again would double-publish ("data already sent by the client?");
 *    server-channel events (server libraries, the HTTP API, and mobile SDKs,
 *    which Segment also marks `server`) have no browser to send them, and a
 *    device-mode instance is only the browser's, so they are skipped too, with
 *    their own reason. A cloud-mode instance takes both channels: every
 *    destination Switchyard runs supports `client` and `server`.
 * 2. The integrations object (`All: false` turns everything off unless a
 *    destination is named true or with options; a destination named false is
 *    off). The instance name is matched as well as the destination name, so one
 *    instance of a multi-instance destination can be turned off on its own.
 * 3. The destination's supported event types.
 *
 * Destination filters come after these (in the lane runner).
 */
export function decideRoute(message: SegmentMessage, target: RouteTarget): RouteResult {
  if (target.connectionMode === 'device') {
    return { kind: 'skip', reason: message.channel === 'client' ? DEVICE_MODE_CLIENT_REASON : DEVICE_MODE_SERVER_REASON };
  }
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
