import type { DestinationFilter } from '../core/filters.js';

/**
 * What the workspace file (config-as-code) asks the control plane to hold.
 * The config layer validates and resolves it (ids derived, source references
 * resolved, settings checked against the destination type); the store only
 * makes its tables match, so it never needs to know destination types.
 */
export interface WorkspacePlan {
  workspace: { id: string; slug: string; name: string; rateLimitPerSecond: number };
  sources: PlannedSource[];
  destinations: PlannedDestination[];
  /**
   * Warehouses (issue #6). Not stored in control.db yet: the server hands them
   * to the warehouse loader thread as the file declares them.
   */
  warehouses?: PlannedWarehouse[];
  /** Data lakes (issue #6): like warehouses, held in memory from the file and handed to the loader thread. */
  dataLakes?: PlannedDataLake[];
}

export interface PlannedWarehouse {
  id: string;
  type: 'duckdb' | 'postgres';
  enabled: boolean;
  sourceIds: string[];
  /** `schedule`: syncs at these hours in this time zone (the advanced sync schedule). */
  settings: { path?: string; url?: string; syncIntervalSeconds?: number; schedule?: { timezone: string; hours: number[] } };
  /** Selective sync, as the Public API's `syncOverrides`: a source, a collection (table) or a property (column) turned off. */
  syncOverrides: { sourceId: string; collection?: string; property?: string; enabled: boolean }[];
}

/** A Segment Data Lake: Parquet in a local directory (`path`) or an S3 bucket (`s3`). */
export interface PlannedDataLake {
  id: string;
  enabled: boolean;
  sourceIds: string[];
  settings: {
    path?: string;
    s3?: { bucket: string; region: string; endpoint?: string; accessKeyId?: string; secretAccessKey?: string; prefix?: string };
    syncIntervalSeconds?: number;
    partitioning?: 'day/hr' | 'year/month/day/hr' | 'year/month/day' | 'day';
  };
}

export interface PlannedSource {
  id: string;
  slug: string;
  name: string;
  enabled: boolean;
  /** Unique across all sources: a write key identifies exactly one source. */
  writeKeys: string[];
  /** Labels (label-based access); one the workspace does not have yet is created. */
  labels: { key: string; value: string }[];
}

export interface PlannedDestination {
  id: string;
  /** Instance name, unique per source. */
  name: string;
  type: string;
  enabled: boolean;
  sourceIds: string[];
  /** Validated settings, secrets in plaintext (the store encrypts them). */
  settings: Record<string, unknown>;
  /** Top-level setting keys whose values are encrypted at rest. */
  secretSettings: string[];
  /** Destination filters, validated, in the order they apply. */
  filters: DestinationFilter[];
}

/** Ids touched by one apply, per entity kind. */
export interface EntityIds {
  workspaces: string[];
  sources: string[];
  destinations: string[];
}

export interface ApplyReport {
  /** False when the store already matched the plan (the version was not bumped). */
  changed: boolean;
  /** The control-plane version after the apply. */
  version: number;
  created: EntityIds;
  updated: EntityIds;
  deleted: EntityIds;
}

/**
 * Who created an entity. The workspace file only deletes what it created;
 * entities created through the Public API (`api`) survive a file apply.
 */
export type Origin = 'file' | 'api';
