/**
 * Segment Data Lakes (issue #6, seeds 000 and 001 "Data Lakes"): Parquet files in
 * Segment's layout, a Glue-like schema catalog per source, and sync reports.
 * The loader reads the event log through the same structural lane the warehouse
 * loader uses (storage never imports the log).
 */
export type { LoaderLane, LoaderMessage } from '../warehouse/types.js';

/**
 * A data lake's runs go into the warehouses' sync history under `datalake:<id>`. Kept
 * here, not in loader.ts: the API reads it without loading DuckDB and the S3 client.
 */
export const LAKE_HISTORY_PREFIX = 'datalake:';

/**
 * The date partition layouts Segment offers at setup (seed 001, "S3 partition
 * structure"; the option list is cut from the crawl, these are the four Segment's
 * setup screen offers): Day/Hour (default), Year/Month/Day/Hour, Year/Month/Day, Day.
 */
export type Partitioning = 'day/hr' | 'year/month/day/hr' | 'year/month/day' | 'day';
export const PARTITIONINGS: readonly Partitioning[] = ['day/hr', 'year/month/day/hr', 'year/month/day', 'day'];

export interface LakeS3Settings {
  bucket: string;
  region: string;
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Key prefix inside the bucket; `segment-data/` goes under it. */
  prefix?: string;
}

export interface LakeConfig {
  id: string;
  /** The workspace id written into every sync report (`workspace_id`). */
  workspaceId: string;
  /** Sources to load, with the slug that names their Glue database. */
  sources: { id: string; slug: string }[];
  settings: {
    /** Local root directory (default DATA_DIR/datalake); exclusive with `s3`. */
    path?: string;
    s3?: LakeS3Settings;
    syncIntervalSeconds?: number;
    partitioning?: Partitioning;
  };
}

/** Glue/Athena column types Segment Data Lakes infers (seed 001, "Data types"). */
export type LakeType = 'bigint' | 'decimal(38,6)' | 'boolean' | 'string' | 'timestamp';

export const SEGMENT_DATALAKE_DB = '__segment_datalake';
