import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DestinationTypes } from '../../config/workspace-file.js';
import type { IamStore } from '../../store/iam.js';
import {
  ControlPlaneConflictError, ControlPlaneFileOwnedError, ControlPlaneNotFoundError, type ControlPlane,
} from '../../store/control-plane.js';
import type { PlannedWarehouse } from '../../store/plan.js';
import type { ControlPlaneSnapshot } from '../../store/types.js';
import type { SyncHistory } from '../../storage/warehouse/history.js';
import { snapshotOrNull } from '../lookup.js';
import { actorName, principalOf } from './access.js';
import { apiError } from './http.js';

export interface PublicApiDeps {
  store: ControlPlane;
  iam: IamStore;
  types: DestinationTypes;
  /** Warehouses a source is connected to (set by registerPublicApi from `warehouses` when given). */
  warehousesOfSource?: (sourceId: string) => { id: string; type: string; enabled: boolean }[];
  /** Warehouses (`WarehousesApi`, `SelectiveSyncApi`); absent: those paths are not served. */
  warehouses?: WarehousesDeps;
  /** Tells the router the configuration changed (it also polls). */
  onChange: () => void;
}

export interface WarehousesDeps {
  /** Where a DuckDB warehouse's relative `path` lives. */
  dataDir: string;
  history: SyncHistory;
  /** The warehouses the workspace file declares (enabled or not); they are file-owned. */
  fileWarehouses: () => readonly PlannedWarehouse[];
  /** Hands file and API warehouses to the loader thread; resolves once it applied them. */
  changed: () => Promise<void>;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** Random base62 ids and write keys, the way Segment's look. */
export function randomToken(length: number): string {
  const bytes = randomBytes(length * 2);
  let out = '';
  for (const b of bytes) {
    if (b < 248) out += ALPHABET[b % 62];
    if (out.length === length) return out;
  }
  return out + randomToken(length - out.length);
}

/** The snapshot, with the API's workspace created first if none exists (no workspace file). */
export async function currentSnapshot(deps: PublicApiDeps): Promise<ControlPlaneSnapshot> {
  const snap = snapshotOrNull(deps.store);
  if (snap) return snap;
  await deps.store.admin.ensureWorkspace({ id: 'default', slug: 'default', name: 'Default workspace' });
  return deps.store.snapshot();
}

/** Runs a store write (undefined when it failed and the answer was sent); turns the store's typed errors into Segment-shaped 404/409 answers. */
export async function attempt<T>(reply: FastifyReply, fn: () => Promise<T>): Promise<{ value: T } | undefined> {
  try {
    return { value: await fn() };
  } catch (err) {
    if (err instanceof ControlPlaneNotFoundError) apiError(reply, 404, 'not-found', err.message);
    else if (err instanceof ControlPlaneFileOwnedError || err instanceof ControlPlaneConflictError) apiError(reply, 409, 'conflict', err.message);
    else throw err;
    return undefined;
  }
}

/** Records who changed what, with before/after views (never secrets: callers pass masked views). */
export async function audit(
  req: FastifyRequest, deps: PublicApiDeps, type: string,
  resource: { id: string; type: string; name: string }, before?: unknown, after?: unknown,
): Promise<void> {
  const p = principalOf(req);
  await deps.iam.audit({
    type, actor: actorName(p), ...(p.email ? { actorEmail: p.email } : {}),
    resourceId: resource.id, resourceType: resource.type, resourceName: resource.name, before, after,
  });
  req.audited = true;
}
