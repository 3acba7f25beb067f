import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { RequestFn } from '../core/request.js';
import { splitConnectionMode } from '../core/route.js';
import type { DestinationDefinition } from '../destinations/types.js';
import { MAX_PROPERTIES } from '../protocol/limits.js';
import { enrichMessage } from '../protocol/normalize.js';
import { validateMessage } from '../protocol/validate.js';
import type { ControlPlaneStore } from '../store/types.js';

export interface EventTesterDeps {
  store: ControlPlaneStore;
  types: ReadonlyMap<string, DestinationDefinition<never>>;
  request: RequestFn;
}

/**
 * The Event Tester: send one event to one destination instance now and show the
 * request made and the response received. As in Segment, it bypasses destination
 * filters and the integrations object, makes exactly one attempt (no retries), and
 * is not counted in delivery metrics. The event goes through the same validation
 * and enrichment as the Tracking API, so what is tested is what would be sent.
 */
export function registerEventTester(app: FastifyInstance, deps: EventTesterDeps): void {
  app.post<{ Params: { id: string } }>('/api/v1/destinations/:id/test', async (req, reply) => {
    let destinations: readonly { id: string; type: string; settings: Record<string, unknown> }[] = [];
    try {
      destinations = deps.store.snapshot().destinations;
    } catch {
      // No workspace applied yet: no destination to test.
    }
    const destination = destinations.find((d) => d.id === req.params.id);
    if (!destination) return reply.code(404).send({ errors: [{ type: 'not-found', message: `no destination ${req.params.id}` }] });
    const definition = deps.types.get(destination.type) as DestinationDefinition<unknown> | undefined;
    if (!definition) return reply.code(400).send({ errors: [{ type: 'validation', message: `unknown destination type ${destination.type}` }] });
    let body: unknown;
    try {
      body = JSON.parse(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : String(req.body ?? ''));
    } catch (err) {
      return reply.code(400).send({ errors: [{ type: 'validation', message: `malformed JSON: ${(err as Error).message}`, field: 'body' }] });
    }
    const valid = validateMessage(body, 'event');
    if (!valid.ok) return reply.code(400).send({ errors: [{ type: 'validation', message: valid.error.message, field: valid.error.field }] });
    const { message } = enrichMessage(valid.value, {
      receivedAt: Date.now(),
      ip: req.ip,
      channel: 'server',
      maxProperties: MAX_PROPERTIES,
      newMessageId: randomUUID,
    });
    if (!definition.supportedTypes.includes(message.type)) {
      return reply.code(400).send({ errors: [{ type: 'validation', message: `${definition.name} does not accept ${message.type} events`, field: 'event.type' }] });
    }
    const { connectionMode, settings: stored } = splitConnectionMode(destination.settings);
    if (connectionMode === 'device') {
      return reply.code(409).send({ errors: [{ type: 'conflict', message: `${destination.id} is in device mode: the browser sends its events, so the Event Tester (which sends from the server) cannot test it` }] });
    }
    const settings = definition.settingsSchema.safeParse(stored);
    if (!settings.success) {
      const issue = settings.error.issues[0];
      const field = issue ? `settings.${issue.path.join('.')}` : 'settings';
      return reply.code(409).send({ errors: [{ type: 'validation', message: `the destination settings are invalid: ${field}: ${issue?.message ?? 'invalid'}`, field }] });
    }
    const outcome = await definition.deliver({ settings: settings.data, message, payload: JSON.stringify(message), request: deps.request });
    return {
      data: {
        outcome: outcome.kind,
        ...('reason' in outcome ? { reason: outcome.reason } : {}),
        event: message,
        exchanges: outcome.exchanges,
        // A destination function's console output: the Event Tester doubles as its tester.
        ...('logs' in outcome && outcome.logs ? { logs: outcome.logs } : {}),
      },
    };
  });
}
