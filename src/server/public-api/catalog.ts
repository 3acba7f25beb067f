import type { FastifyInstance } from 'fastify';
import { catalogEntries } from '../../destinations/actions/index.js';
import { webhook } from '../../destinations/webhook/index.js';
import { pageOf, readPage } from './http.js';

/**
 * The catalogs in the Public API's shapes (`CatalogApi`): the sources a user can
 * create (Segment's libraries that speak the Tracking API) and every destination
 * type (native ones, then Segment's Actions catalog, listed without loading any
 * destination's code).
 */
export interface SourceCatalogEntry { id: string; slug: string; name: string; description: string; categories: string[] }

export const SOURCE_CATALOG: readonly SourceCatalogEntry[] = [
  { id: 'javascript', slug: 'javascript', name: 'Javascript', description: 'analytics.js (@segment/analytics-next) in the browser.', categories: ['Website'] },
  { id: 'node-js', slug: 'node-js', name: 'Node.js', description: '@segment/analytics-node on your servers.', categories: ['Server'] },
  { id: 'http-api', slug: 'http-api', name: 'HTTP Tracking API', description: 'Any client posting to the Tracking API (/v1/track, /v1/batch, ...).', categories: ['Server'] },
  { id: 'python', slug: 'python', name: 'Python', description: 'analytics-python on your servers.', categories: ['Server'] },
  { id: 'go', slug: 'go', name: 'Go', description: 'analytics-go on your servers.', categories: ['Server'] },
  { id: 'java', slug: 'java', name: 'Java', description: 'analytics-java on your servers.', categories: ['Server'] },
  { id: 'ios', slug: 'ios', name: 'iOS', description: 'analytics-swift in iOS apps.', categories: ['Mobile'] },
  { id: 'android', slug: 'android', name: 'Android', description: 'analytics-kotlin in Android apps.', categories: ['Mobile'] },
  { id: 'react-native', slug: 'react-native', name: 'React Native', description: 'analytics-react-native in mobile apps.', categories: ['Mobile'] },
];

export function sourceMetadata(id: string) {
  const e = SOURCE_CATALOG.find((s) => s.id === id) ?? { id, slug: id, name: id, description: '', categories: [] };
  return { ...e, logos: { default: '' }, options: [], isCloudEventSource: false };
}

interface DestinationCatalogItem { type: string; id: string; name: string; slug: string; kind: 'native' | 'actions' }

function destinationCatalog(): DestinationCatalogItem[] {
  return [
    { type: webhook.type, id: webhook.type, name: webhook.name, slug: 'webhooks', kind: 'native' },
    ...[...catalogEntries().values()].map((e) => ({ type: e.type, id: e.id, name: e.name, slug: e.slug, kind: 'actions' as const })),
  ];
}

/** The catalog entry for a Public API `metadataId` (Segment's id, the slug, or a Switchyard type such as `webhook`). */
export function destinationTypeFor(metadataId: string): DestinationCatalogItem | undefined {
  return destinationCatalog().find((d) => d.type === metadataId || d.id === metadataId || d.slug === metadataId);
}

/** DestinationMetadataV1 without loading the destination (actions and presets: see /api/v1/catalog/destinations/:type). */
export function destinationMetadata(type: string) {
  const d = destinationCatalog().find((x) => x.type === type) ?? { type, id: type, name: type, slug: type, kind: 'native' as const };
  return {
    id: d.id, name: d.name, slug: d.slug, description: d.kind === 'actions' ? `${d.name} (Actions), from @segment/action-destinations` : `${d.name} (native to Switchyard)`,
    logos: { default: '' }, options: [], status: 'PUBLIC', previousNames: [], categories: [], website: '', components: [],
    supportedFeatures: {}, supportedMethods: {}, supportedPlatforms: { server: true }, actions: [], presets: [],
    // Switchyard's own type name, what the workspace file calls `type`.
    type: d.type,
  };
}

export function registerCatalogApi(app: FastifyInstance): void {
  app.get('/catalog/sources', async (req, reply) => {
    const p = readPage(req, reply);
    if (!p) return reply;
    const page = pageOf(SOURCE_CATALOG.map((s) => sourceMetadata(s.id)), p);
    return { data: { sourcesCatalog: page.items, pagination: page.pagination } };
  });
  app.get('/catalog/destinations', async (req, reply) => {
    const p = readPage(req, reply);
    if (!p) return reply;
    const page = pageOf(destinationCatalog(), p);
    return { data: { destinationsCatalog: page.items.map((d) => destinationMetadata(d.type)), pagination: page.pagination } };
  });
}
