import type { z } from 'zod';
import type { EventType, SegmentMessage } from '../protocol/types.js';
import type { DeliveryOutcome } from '../core/result.js';
import type { RequestFn } from '../core/request.js';

/**
 * A native destination: one folder under src/destinations/<type>/.
 * Settings are declared once, as a zod schema: it validates the workspace file
 * and the API, and gives the TypeScript type.
 */
export interface DestinationDefinition<S = unknown> {
  /** Stable type id used in the workspace file, e.g. `webhook`. */
  type: string;
  /** Display name; also the key matched in the integrations object, e.g. `Webhooks`. */
  name: string;
  settingsSchema: z.ZodType<S>;
  supportedTypes: readonly EventType[];
  /** Setting keys whose values are secrets: encrypted at rest, redacted in output. */
  secretSettings: readonly string[];
  deliver(input: DeliverInput<S>): Promise<DeliveryOutcome>;
  /**
   * Optional: several events at once (Actions destinations with performBatch). The
   * lane runner then hands over what it fetched together; one outcome per message,
   * in order.
   */
  deliverBatch?(input: { settings: S; messages: readonly SegmentMessage[]; request: RequestFn; persist?: PersistSecret }): Promise<DeliveryOutcome[]>;
}

export interface DeliverInput<S> {
  settings: S;
  message: SegmentMessage;
  /** The message as stored, serialized once; send it as-is when the wire format is the event JSON. */
  payload: string;
  request: RequestFn;
  /** Writes a new value of one of this instance's secret settings (refreshed OAuth tokens) to the store. */
  persist?: PersistSecret;
}

/**
 * Given by the router per instance. Best effort: it resolves even when the write
 * failed (the router logs it). The store re-encrypts the value and bumps its
 * version, so the instance's runner is rebuilt from the new settings.
 */
export type PersistSecret = (key: string, value: unknown) => Promise<void>;
