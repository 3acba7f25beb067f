import type { DestinationFilter } from '../core/filters.js';
import type { Origin } from './plan.js';

/**
 * The control-plane store: workspace, sources, destination instances.
 * One implementation over two databases (./control-plane.ts): SQLite (embedded) and PostgreSQL.
 */
export interface Workspace {
  id: string;
  slug: string;
  name: string;
  /** Events per second routed for this workspace; 0 = unlimited (the default). */
  rateLimitPerSecond: number;
}

export interface Source {
  id: string;
  workspaceId: string;
  slug: string;
  name: string;
  enabled: boolean;
  writeKeys: string[];
  /** The catalog source it was made from (Public API `metadataId`). */
  metadataId: string;
  settings: Record<string, unknown>;
  labels: Label[];
  /** Who owns it: the workspace file or the Public API (the file wins for what it defines). */
  origin: Origin;
}

export interface Label {
  key: string;
  value: string;
}

export interface DestinationInstance {
  id: string;
  workspaceId: string;
  /** Instance name, unique per source. */
  name: string;
  /** Destination type, e.g. `webhook`. */
  type: string;
  enabled: boolean;
  sourceIds: string[];
  /** Decrypted settings (secrets are encrypted at rest). */
  settings: Record<string, unknown>;
  /** Destination filters in order, each with when it was last saved. */
  filters: SavedFilter[];
  origin: Origin;
}

/** A filter applies only to events received after it was saved (`savedAt`, epoch ms). */
export type SavedFilter = DestinationFilter & { savedAt: number };

/** Selective sync (Public API `WarehouseSyncOverrideV1`): a source, a collection (table) or a property (column) turned on or off. */
export interface WarehouseSyncOverride {
  sourceId: string;
  collection?: string;
  property?: string;
  enabled: boolean;
}

/** Public API advanced sync schedule: hours of the day (in `timezone`) when syncs run. */
export interface WarehouseSchedule {
  enabled: boolean;
  timezone: string;
  times: { hourOfDay: number; enabled: boolean }[];
}

/**
 * A warehouse created through the Public API. Warehouses declared in the workspace
 * file are not stored here: the server holds them from the file (always `file`).
 */
export interface StoredWarehouse {
  id: string;
  workspaceId: string;
  name: string;
  type: 'duckdb' | 'postgres';
  enabled: boolean;
  sourceIds: string[];
  /** Decrypted settings as the API took them (secrets are encrypted at rest). */
  settings: Record<string, unknown>;
  syncOverrides: WarehouseSyncOverride[];
  /** The advanced sync schedule, or null when none was set. */
  schedule: WarehouseSchedule | null;
  origin: Origin;
}

export interface ControlPlaneSnapshot {
  /** Increases on every change; readers in other threads/processes poll it. */
  version: number;
  workspace: Workspace;
  sources: Source[];
  destinations: DestinationInstance[];
  /** Warehouses created through the Public API. */
  warehouses: StoredWarehouse[];
}

export interface ControlPlaneStore {
  snapshot(): ControlPlaneSnapshot;
  /** The cached snapshot's version (no I/O). */
  version(): number;
  /** Re-reads the version and reloads the snapshot when it changed (other threads and processes write too). */
  refresh(): Promise<void>;
}
