import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { catalogEntries } from '../destinations/actions/index.js';
import { describeActionsType } from '../destinations/actions/describe.js';
import { webhook } from '../destinations/webhook/index.js';

/**
 * The destination catalog: native destinations and every destination of Segment's
 * Actions catalog. The list is built from the catalog's index without loading any
 * destination's code; `GET /api/v1/catalog/destinations/:type` loads that one and
 * describes it (settings with which are secret, actions with their fields, presets).
 */
export function registerCatalog(app: FastifyInstance): void {
  const native = [
    {
      type: webhook.type,
      name: webhook.name,
      slug: webhook.type,
      kind: 'native',
      supportedTypes: webhook.supportedTypes,
      settings: z.toJSONSchema(webhook.settingsSchema, { io: 'input' }),
      secretSettings: webhook.secretSettings,
    },
  ];

  app.get('/api/v1/catalog/destinations', async () => {
    const actions = [...catalogEntries().values()].map((e) => ({ type: e.type, name: e.name, metadataId: e.id, slug: e.slug, kind: 'actions' }));
    const all = [...native.map(({ type, name, slug, kind }) => ({ type, name, slug, kind })), ...actions];
    return { data: { destinations: all, pagination: { current: 'MA==', next: null, previous: null, totalEntries: all.length } } };
  });

  app.get<{ Params: { type: string } }>('/api/v1/catalog/destinations/:type', async (req, reply) => {
    const own = native.find((d) => d.type === req.params.type);
    if (own) return { data: { destination: own } };
    const described = describeActionsType(req.params.type);
    if (!described) return reply.code(404).send({ errors: [{ type: 'not-found', message: `no destination type ${req.params.type}` }] });
    return { data: { destination: { ...described, kind: 'actions', metadataId: described.id } } };
  });
}
