import { z } from 'zod';
import type { StoredWarehouse, WarehouseSchedule } from '../store/types.js';
import type { SyncSchedule } from '../storage/scheduled-sync.js';
import type { WarehouseConfig } from '../storage/warehouse/types.js';

/**
 * Warehouses created through the Public API (`WarehousesApi`): the catalog of
 * warehouse types, their settings (declared once: validation, the catalog's
 * options and what is secret come from here), and how stored settings become the
 * loader's `WarehouseConfig` settings (the shape the workspace file declares).
 */
export type WarehouseType = 'duckdb' | 'postgres';

interface Option { name: string; type: 'string' | 'number' | 'boolean'; required: boolean; description: string; defaultValue?: unknown }
export interface WarehouseCatalogEntry { id: string; slug: string; name: string; type: WarehouseType; description: string; options: Option[] }

const common: Option[] = [
  { name: 'name', type: 'string', required: false, description: 'A name for this warehouse (also the top-level `name` of createWarehouse).' },
  { name: 'syncIntervalSeconds', type: 'number', required: false, description: 'Seconds between syncs (DuckDB default 60, PostgreSQL 3600). An enabled advanced sync schedule replaces it (syncs at its hours), unless this is under 3600.' },
];

/** Metadata ids are the slugs (as the source catalog's are). */
export const WAREHOUSE_CATALOG: readonly WarehouseCatalogEntry[] = [
  {
    id: 'duckdb', slug: 'duckdb', name: 'DuckDB', type: 'duckdb',
    description: 'An embedded DuckDB file written by Switchyard\'s loader thread; released between syncs so any DuckDB client can open it.',
    options: [{ name: 'path', type: 'string', required: true, description: 'The DuckDB file, absolute or relative to DATA_DIR (e.g. warehouse.duckdb).' }, ...common],
  },
  {
    id: 'postgres', slug: 'postgres', name: 'PostgreSQL', type: 'postgres',
    description: 'A PostgreSQL database: one schema per source, Segment\'s tables and column types (varchar(512)).',
    options: [
      { name: 'hostname', type: 'string', required: false, description: 'Server host name (or give `url` instead of hostname/port/database/username/password).' },
      { name: 'port', type: 'number', required: false, description: 'Server port.', defaultValue: 5432 },
      { name: 'database', type: 'string', required: false, description: 'Database name (required with hostname).' },
      { name: 'username', type: 'string', required: false, description: 'User name.' },
      { name: 'password', type: 'string', required: false, description: 'Password (encrypted at rest, never returned).' },
      { name: 'ssl', type: 'boolean', required: false, description: 'Require TLS (sslmode=require).', defaultValue: false },
      { name: 'url', type: 'string', required: false, description: 'A postgres:// URL instead of the fields above (encrypted at rest; its password is never returned).' },
      ...common,
    ],
  },
];

/** The catalog entry for a `metadataId` (its id or slug). */
export function warehouseTypeFor(metadataId: string): WarehouseCatalogEntry | undefined {
  return WAREHOUSE_CATALOG.find((w) => w.id === metadataId || w.slug === metadataId);
}

/** Settings keys encrypted at rest (a URL may carry a password). */
export const WAREHOUSE_SECRET_SETTINGS: Readonly<Record<WarehouseType, readonly string[]>> = { duckdb: [], postgres: ['password', 'url'] };

const interval = z.number().positive();
const SCHEMAS: Record<WarehouseType, z.ZodType<Record<string, unknown>>> = {
  duckdb: z.strictObject({ name: z.string().min(1).max(200).optional(), path: z.string().min(1), syncIntervalSeconds: interval.optional() }),
  postgres: z.strictObject({
    name: z.string().min(1).max(200).optional(),
    url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL').optional(),
    hostname: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    database: z.string().min(1).optional(),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    ssl: z.boolean().optional(),
    syncIntervalSeconds: interval.optional(),
  }).superRefine((s, ctx) => {
    const fields = (['hostname', 'port', 'database', 'username', 'password', 'ssl'] as const).filter((k) => s[k] !== undefined);
    if (s.url !== undefined && fields.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: `give either url or ${fields.join('/')}, not both` });
    } else if (s.url === undefined && s.hostname === undefined) {
      ctx.addIssue({ code: 'custom', path: ['hostname'], message: 'required (or give url)' });
    } else if (s.url === undefined && s.database === undefined) {
      ctx.addIssue({ code: 'custom', path: ['database'], message: 'required with hostname' });
    }
  }),
};

export type SettingsCheck = { ok: true; value: Record<string, unknown> } | { ok: false; errors: { field: string; message: string }[] };

/** Validates API settings for a type; errors name `settings.<key>`. A null value removes a key (updates). */
export function checkWarehouseSettings(type: WarehouseType, settings: Record<string, unknown>): SettingsCheck {
  const present = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== null && v !== undefined));
  const parsed = SCHEMAS[type].safeParse(present);
  if (parsed.success) return { ok: true, value: parsed.data };
  return {
    ok: false,
    errors: parsed.error.issues.map((i) => ({
      field: ['settings', ...i.path.map(String)].join('.'),
      message: i.code === 'invalid_type' && (i as { input?: unknown }).input === undefined ? 'required'
        : i.code === 'unrecognized_keys' ? `${i.message}; ${type} takes ${WAREHOUSE_CATALOG.find((w) => w.type === type)!.options.map((o) => o.name).join(', ')}`
        : i.message,
    })),
  };
}

/** Validates an advanced sync schedule (Public API `ReplaceAdvancedSyncScheduleForWarehouseV1Input`). */
export const scheduleInput = z.object({
  enabled: z.boolean(),
  schedule: z.object({
    times: z.array(z.object({ hourOfDay: z.number().int().min(0).max(23), enabled: z.boolean() })).max(24),
    timezone: z.string().refine((tz) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, 'must be a TZ database time zone, e.g. Europe/Paris or UTC'),
  }).optional(),
}).superRefine((s, ctx) => {
  if (!s.schedule) {
    if (s.enabled) ctx.addIssue({ code: 'custom', path: ['schedule'], message: 'required when enabled is true' });
    return;
  }
  const hours = s.schedule.times.map((t) => t.hourOfDay);
  const dup = hours.find((h, i) => hours.indexOf(h) !== i);
  if (dup !== undefined) ctx.addIssue({ code: 'custom', path: ['schedule', 'times'], message: `hourOfDay ${dup} is listed twice` });
  if (s.enabled && !s.schedule.times.some((t) => t.enabled)) {
    ctx.addIssue({ code: 'custom', path: ['schedule', 'times'], message: 'enable at least one hour, or set enabled to false' });
  }
});

/**
 * The loader's schedule for an advanced sync schedule: its enabled hours in its time
 * zone (`nextRunAt` in ../storage/scheduled-sync.ts places the syncs), or undefined
 * when the schedule is absent or disabled (the interval applies). A stored schedule
 * that no longer passes `scheduleInput` (e.g. a time zone this runtime lacks) is
 * ignored rather than stopping the loader.
 */
export function loaderSchedule(s: WarehouseSchedule | null): SyncSchedule | undefined {
  if (!s?.enabled) return undefined;
  if (!scheduleInput.safeParse({ enabled: s.enabled, schedule: { times: s.times, timezone: s.timezone } }).success) return undefined;
  return { timezone: s.timezone, hours: s.times.filter((t) => t.enabled).map((t) => t.hourOfDay).sort((a, b) => a - b) };
}

/** A postgres:// URL from the separate fields (or the given url). */
export function postgresUrl(s: Record<string, unknown>): string {
  if (typeof s.url === 'string') return s.url;
  const auth = s.username === undefined ? '' : `${encodeURIComponent(String(s.username))}${s.password === undefined ? '' : `:${encodeURIComponent(String(s.password))}`}@`;
  return `postgres://${auth}${String(s.hostname)}:${Number(s.port ?? 5432)}/${encodeURIComponent(String(s.database))}${s.ssl ? '?sslmode=require' : ''}`;
}

/** Host, port and database of a PostgreSQL URL, for messages (never the credentials). */
export function describePostgres(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'the given URL';
  }
}

const targetOf = (w: Pick<StoredWarehouse, 'type' | 'settings'>) => (w.type === 'duckdb' ? { path: String(w.settings.path) } : { url: postgresUrl(w.settings) });

/**
 * An API warehouse's settings as the loader thread takes them and as the workspace
 * file declares them (export, validation): the target, the interval the user set, and
 * the enabled advanced schedule as `{timezone, hours}` (`syncTiming` picks: the
 * schedule, unless the interval asks faster than hourly).
 */
export function loaderThreadSettings(w: Pick<StoredWarehouse, 'type' | 'settings' | 'schedule'>): WarehouseConfig['settings'] {
  const every = w.settings.syncIntervalSeconds as number | undefined;
  const schedule = loaderSchedule(w.schedule);
  return { ...targetOf(w), ...(every === undefined ? {} : { syncIntervalSeconds: every }), ...(schedule ? { schedule } : {}) };
}

/** Enabled API warehouses as the loader thread takes them (schemas named after the sources' slugs). */
export function apiWarehouseConfigs(warehouses: readonly StoredWarehouse[], slugOf: (sourceId: string) => string): WarehouseConfig[] {
  return warehouses.filter((w) => w.enabled).map((w) => ({
    id: w.id, type: w.type, settings: loaderThreadSettings(w),
    syncOverrides: w.syncOverrides.map((o) => ({ ...o })),
    sources: w.sourceIds.map((id) => ({ id, slug: slugOf(id) })),
  }));
}
