import type { FastifyInstance } from 'fastify';
import { registerAccess } from './access.js';
import { registerAuth } from './auth.js';
import { registerCatalogApi } from './catalog.js';
import { audit, currentSnapshot, type PublicApiDeps } from './context.js';
import { registerDestinationsApi } from './destinations.js';
import { registerFunctionsApi } from './functions.js';
import { registerExport, registerIamApi, workspaceJson } from './iam.js';
import { registerSourcesApi } from './sources.js';
import { allWarehouses, registerWarehousesApi } from './warehouses.js';

export type { PublicApiDeps } from './context.js';

/**
 * Segment's Public API on this server's root (`SourcesApi`, `DestinationsApi`,
 * `DestinationFiltersApi` writes, `CatalogApi`, `IAMUsersApi`, `IAMRolesApi`,
 * `LabelsApi`, `AuditTrailApi`, `WorkspacesApi`, `WarehousesApi`, `SelectiveSyncApi`, `FunctionsApi`), the console's sign-in under
 * `/auth/*`, and the access hook that guards every non-public route.
 * Returns the handler for `GET /` from API clients (the workspace).
 */
export function registerPublicApi(app: FastifyInstance, given: PublicApiDeps & { adminToken?: string; secureCookies: boolean }) {
  const wh = given.warehouses;
  // A source's connected warehouses: the file's and the API's (listConnectedWarehousesFromSource).
  const deps = wh
    ? {
      ...given,
      warehousesOfSource: (sourceId: string) => allWarehouses({ ...given, warehouses: wh })
        .filter((w) => w.sourceIds.includes(sourceId)).map((w) => ({ id: w.id, type: w.type, enabled: w.enabled })),
    }
    : given;
  registerAccess(app, {
    iam: deps.iam,
    adminToken: deps.adminToken,
    sourceLabels: async () => (await currentSnapshot(deps)).sources,
    // Writes on routes that do not audit themselves (alerts, syncs, log collection, ...).
    onWrite: (req, status) => audit(req, deps, `${req.method} ${req.routeOptions.url ?? req.url}`, {
      id: req.url.split('?', 1)[0]!, type: 'api-call', name: `${req.method} ${req.url.split('?', 1)[0]!} → ${status}`,
    }),
  });
  registerAuth(app, { iam: deps.iam, workspaceId: async () => (await currentSnapshot(deps)).workspace.id, secureCookies: deps.secureCookies });
  registerCatalogApi(app);
  registerSourcesApi(app, deps);
  registerDestinationsApi(app, deps);
  registerFunctionsApi(app, deps);
  if (wh) registerWarehousesApi(app, { ...deps, warehouses: wh });
  registerIamApi(app, deps);
  registerExport(app, deps);
  return workspaceJson(deps);
}
