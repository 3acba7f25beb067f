import { z } from 'zod';
import type { RequestFn } from '../../core/request.js';
import type { DeliveryOutcome, Exchange } from '../../core/result.js';
import { classifyStatus } from '../../core/retry.js';
import { deployedFunction as compiled } from '../../functions/deployed.js';
import type { CompiledFunction } from '../../functions/sandbox.js';
import {
  EVENT_HANDLERS, functionType, type FunctionSetting, type FunctionSpec, type InvokeResult,
} from '../../functions/types.js';
import { EVENT_TYPES, type SegmentMessage } from '../../protocol/types.js';
import type { DestinationDefinition } from '../types.js';

/**
 * Destination functions and insert functions as the router sees them: a
 * destination function is a destination type (`function-<id>`) whose `deliver`
 * runs the function's handler for the event in its sandbox; an insert function
 * wraps another destination's `deliver`, after its filters (Segment: filters and
 * the integrations object apply before insert functions).
 *
 * Outcomes follow Segment's error types: `RetryError`, a timeout (and the memory
 * limit) are retried with the lane's backoff; `DropEvent` filters the event out;
 * `EventNotSupported` (also: no handler for the type), `ValidationError`,
 * `InvalidEventPayload` and any other error discard it with the error as reason.
 */

/** A reason is a Delivery Overview group and a failure-log line: the error's first 300 characters. */
const REASON_CHARS = 300;

/** Settings of an instance, checked against what the function declares (names, types, required). */
export function functionSettingsSchema(declared: readonly FunctionSetting[]): z.ZodType<Record<string, unknown>> {
  const valueSchema = (s: FunctionSetting): z.ZodType => {
    switch (s.type) {
      case 'BOOLEAN': return z.boolean();
      case 'ARRAY': return z.array(z.string());
      case 'TEXT_MAP': return z.record(z.string(), z.string());
      default: return z.string();
    }
  };
  return z.strictObject(Object.fromEntries(declared.map((s) => [s.name, s.required ? valueSchema(s) : valueSchema(s).optional()]))) as z.ZodType<Record<string, unknown>>;
}

const cut = (s: string) => (s.length > REASON_CHARS ? `${s.slice(0, REASON_CHARS)}…` : s);

/** The code's fetches as Event Delivery shows exchanges (bodies are not kept). */
function exchangesOf(r: InvokeResult): Exchange[] {
  return r.fetches.map((f) => ({
    request: { method: f.method, url: f.url, headers: {}, body: '' },
    ...(f.status === undefined ? {} : { response: { status: f.status, headers: {}, body: '' } }),
    ...(f.error === undefined ? {} : { error: f.error }),
    durationMs: f.durationMs,
  }));
}

/** A failed invocation as a delivery outcome, by Segment's error types. */
function failureOutcome(r: Extract<InvokeResult, { ok: false }>): DeliveryOutcome {
  const exchanges = exchangesOf(r);
  const reason = cut(`${r.error.name}: ${r.error.message}`);
  // What the code printed goes with the failure's sample (Segment shows logs of failed events only).
  const logs = r.logs.length > 0 ? { logs: r.logs } : {};
  switch (r.error.kind) {
    case 'RetryError':
    case 'Timeout':
    case 'MemoryLimit':
      return { kind: 'retry', reason, exchanges, ...logs };
    case 'DropEvent':
      return { kind: 'skip', reason: cut(`Filtered at function: ${r.error.message}`), exchanges };
    default:
      return { kind: 'discard', reason, exchanges, ...logs };
  }
}

/** One entry of what `onBatch` may return: `{ status, errormessage }` per event, in order. */
function batchEntryOutcome(entry: unknown, exchanges: Exchange[]): DeliveryOutcome {
  const e = (typeof entry === 'object' && entry !== null ? entry : {}) as { status?: unknown; errormessage?: unknown; errorMessage?: unknown; message?: unknown };
  const status = typeof e.status === 'number' ? e.status : 200;
  const message = [e.errormessage, e.errorMessage, e.message].find((m) => typeof m === 'string') as string | undefined;
  const cls = classifyStatus(status);
  if (cls === 'success') return { kind: 'delivered', status, exchanges };
  const reason = cut(message ? `HTTP ${status}: ${message}` : `HTTP ${status}`);
  return cls === 'retry' ? { kind: 'retry', reason, status, exchanges } : { kind: 'discard', reason, status, exchanges };
}

/** The destination type of a destination function (its deployed version). */
export function destinationFunction(spec: FunctionSpec, workspaceName: string): DestinationDefinition<Record<string, unknown>> {
  const declared = spec.deployed?.settings ?? spec.latest.settings;
  const deliverOne = async (fn: CompiledFunction, message: SegmentMessage, settings: Record<string, unknown>): Promise<DeliveryOutcome> => {
    const handler = EVENT_HANDLERS[message.type as keyof typeof EVENT_HANDLERS];
    const r = await fn.invoke(handler, [message, settings]);
    return r.ok ? { kind: 'delivered', exchanges: exchangesOf(r), ...(r.logs.length > 0 ? { logs: r.logs } : {}) } : failureOutcome(r);
  };
  return {
    type: functionType(spec.id),
    // Segment's integrations object names a destination function "<name> (<workspace name>)".
    name: `${spec.displayName} (${workspaceName})`,
    settingsSchema: functionSettingsSchema(declared),
    supportedTypes: EVENT_TYPES,
    secretSettings: declared.filter((s) => s.sensitive).map((s) => s.name),
    async deliver({ settings, message, request }) {
      return deliverOne(await compiled(spec, request), message, settings);
    },
    async deliverBatch({ settings, messages, request }) {
      const fn = await compiled(spec, request);
      // Without onBatch (or for one event) the single-event handlers run, as Segment falls back to them.
      if (!fn.handlers.has('onBatch') || messages.length === 1) return Promise.all(messages.map((m) => deliverOne(fn, m, settings)));
      const r = await fn.invoke('onBatch', [messages, settings]);
      if (!r.ok) return messages.map(() => failureOutcome(r));
      const exchanges = exchangesOf(r);
      if (!Array.isArray(r.value)) return messages.map(() => ({ kind: 'delivered', exchanges }) as DeliveryOutcome);
      // Partial failure: a status per event; Segment retries only the failed ones.
      const statuses = r.value as unknown[];
      return messages.map((_, i) => batchEntryOutcome(statuses[i], exchanges));
    },
  };
}

/**
 * `inner` with an insert function in front: the function's handler gets the event
 * (after filters) and returns the event to deliver; `DropEvent` filters it out
 * ("Filtered at insert function", as Segment's Event Delivery says).
 */
export function withInsertFunction<S>(
  inner: DestinationDefinition<S>, spec: FunctionSpec, insertSettings: Record<string, unknown>,
): DestinationDefinition<S> {
  type Step = { ok: true; message: SegmentMessage; payload: string } | { ok: false; outcome: DeliveryOutcome };
  const transform = async (message: SegmentMessage, request: RequestFn): Promise<Step> => {
    const fn = await compiled(spec, request);
    const r = await fn.invoke(EVENT_HANDLERS[message.type as keyof typeof EVENT_HANDLERS], [message, insertSettings]);
    if (!r.ok) {
      if (r.error.kind === 'DropEvent') return { ok: false, outcome: { kind: 'skip', reason: 'Filtered at insert function', exchanges: exchangesOf(r) } };
      return { ok: false, outcome: failureOutcome(r) };
    }
    const out = r.value;
    if (typeof out !== 'object' || out === null || Array.isArray(out)) {
      return { ok: false, outcome: { kind: 'discard', reason: 'InvalidEventPayload: the insert function returned no event object', exchanges: exchangesOf(r) } };
    }
    return { ok: true, message: out as SegmentMessage, payload: JSON.stringify(out) };
  };
  const wrapped: DestinationDefinition<S> = {
    ...inner,
    async deliver(input) {
      const step = await transform(input.message, input.request);
      return step.ok ? inner.deliver({ ...input, message: step.message, payload: step.payload }) : step.outcome;
    },
  };
  if (inner.deliverBatch) {
    const batch = inner.deliverBatch.bind(inner);
    wrapped.deliverBatch = async (input) => {
      const steps = await Promise.all(input.messages.map((m) => transform(m, input.request)));
      const passed = steps.flatMap((s) => (s.ok ? [s.message] : []));
      const delivered = passed.length > 0 ? await batch({ ...input, messages: passed }) : [];
      let next = 0;
      return steps.map((s) => (s.ok ? delivered[next++]! : s.outcome));
    };
  }
  return wrapped;
}
