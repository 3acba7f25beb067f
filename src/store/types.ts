import type { DestinationFilter } from '../core/filters.js';
import type { FunctionSpec, InsertFunctionInstance } from '../functions/types.js';
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
  /** Functions (Public API only); destination-function instances are `destinations` of type `function-<id>`. */
  functions: FunctionSpec[];
  /** Insert functions connected to destinations, one at most per destination. */
  insertFunctions: InsertFunctionInstance[];
}

/** Whether an alert's condition held at the last check. */
export type AlertState = 'ok' | 'firing';

/**
 * An alert rule as the API took it (src/observability/alerts.ts `AlertRule`); the
 * store keeps it as JSON and needs only its id.
 */
export type AlertRuleBody = { id: string } & Record<string, unknown>;

/** An alert rule as stored (`cp_alert_rules`): its body and its state. */
export interface StoredAlertRule<R extends AlertRuleBody = AlertRuleBody> {
  rule: R;
  state: AlertState;
}

/** An in-app alert notification (`cp_alert_notifications`); `at` in epoch ms. */
export interface StoredAlertNotification {
  id: number;
  alertId: string;
  at: number;
  status: 'firing' | 'resolved';
  message: string;
}

/** Failure log collection of one destination (`cp_failure_log_collections`); `updatedAt` in epoch ms. */
export interface FailureLogCollection {
  destinationId: string;
  collectionId: string;
  enabled: boolean;
  updatedAt: number;
}

export interface ControlPlaneStore {
  snapshot(): ControlPlaneSnapshot;
  /** The cached snapshot's version (no I/O). */
  version(): number;
  /** Re-reads the version and reloads the snapshot when it changed (other threads and processes write too). */
  refresh(): Promise<void>;

  // Alerts and failure-log collection: read from the database on each call (no
  // cache, no version bump: they are not routing configuration), so every process
  // on the store sees the same rules and settings.
  /** Ordered by id. */
  listAlertRules(): Promise<StoredAlertRule[]>;
  getAlertRule(id: string): Promise<StoredAlertRule | undefined>;
  /** Creates or replaces the rule `rule.id`: a new one starts `ok`, an edited one keeps its state. */
  putAlertRule(rule: AlertRuleBody): Promise<void>;
  /** False when there was no such rule. */
  deleteAlertRule(id: string): Promise<boolean>;
  setAlertRuleState(id: string, state: AlertState): Promise<void>;
  /** Resolves to the new notification's id. */
  addAlertNotification(n: Omit<StoredAlertNotification, 'id'>): Promise<number>;
  /** The latest `limit` notifications, newest first. */
  listAlertNotifications(limit: number): Promise<StoredAlertNotification[]>;
  getFailureLogCollection(destinationId: string): Promise<FailureLogCollection | undefined>;
  /**
   * Turns a destination's collection on or off. A destination that has one keeps
   * its collection id (`c.collectionId` is used only for a new one). Resolves to what is stored.
   */
  putFailureLogCollection(c: FailureLogCollection): Promise<FailureLogCollection>;
  failureLogCollectionById(collectionId: string): Promise<FailureLogCollection | undefined>;
  /** Collection ids of the destinations with collection on (destination id → collection id). */
  enabledFailureLogCollections(): Promise<Map<string, string>>;
}
