import { z } from 'zod';

/**
 * Reverse ETL (seed 001, "Reverse ETL"): sources (warehouses read from), models (a
 * query and its unique identifier column), mappings (a model's changed records as
 * Segment events to one destination instance). Declared in the workspace file under
 * `reverseEtl:` and held in memory, like the file's warehouses.
 *
 *   reverseEtl:
 *     sources:  [{ id: dwh, type: postgres, settings: { url: postgres://… } }]
 *     models:   [{ id: users, source: dwh, query: "SELECT …", primaryKey: id, schedule: manual }]
 *     mappings: [{ id: users-hook, model: users, destination: orders-webhook,
 *                  action: { type: identify, userIdColumn: id } }]
 */
const id = z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be letters, digits, "-" or "_"');

export const TRIGGERS = ['added', 'updated', 'deleted'] as const;
export type Trigger = (typeof TRIGGERS)[number];

export const reverseEtlFileSchema = z.strictObject({
  sources: z
    .array(z.strictObject({
      id,
      // The same settings as the file's warehouses: a postgres:// URL, or a DuckDB file
      // (absolute or relative to DATA_DIR), opened read-only.
      type: z.enum(['postgres', 'duckdb']),
      settings: z.strictObject({
        url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL').optional(),
        path: z.string().min(1).optional(),
      }).default({}),
    }))
    .default([]),
  models: z
    .array(z.strictObject({
      id,
      name: z.string().trim().min(1).optional(),
      source: z.string().min(1),
      query: z.string().trim().min(1, 'must not be empty'),
      primaryKey: z.string().min(1),
      schedule: z.union([z.literal('manual'), z.strictObject({ intervalSeconds: z.number().int().min(1) })]).default('manual'),
      enabled: z.boolean().default(true),
    }))
    .default([]),
  mappings: z
    .array(z.strictObject({
      id,
      model: z.string().min(1),
      destination: z.string().min(1),
      enabled: z.boolean().default(true),
      trigger: z.array(z.enum(TRIGGERS)).min(1, 'list at least one of added, updated, deleted').default(['added', 'updated']),
      action: z.strictObject({
        type: z.enum(['track', 'identify']),
        event: z.string().trim().min(1).optional(),
        userIdColumn: z.string().min(1).optional(),
        anonymousIdColumn: z.string().min(1).optional(),
      }),
    }))
    .default([]),
});
export type ReverseEtlFile = z.infer<typeof reverseEtlFileSchema>;

export type RetlSource =
  | { id: string; type: 'postgres'; url: string }
  | { id: string; type: 'duckdb'; path?: string };

export interface RetlModel {
  id: string;
  name: string;
  sourceId: string;
  query: string;
  primaryKey: string;
  /** Seconds between syncs; absent: manual only. */
  intervalSeconds?: number;
  enabled: boolean;
}

export interface RetlMapping {
  id: string;
  modelId: string;
  destinationId: string;
  enabled: boolean;
  triggers: Trigger[];
  action: { type: 'track' | 'identify'; event?: string; userIdColumn?: string; anonymousIdColumn?: string };
}

export interface RetlConfig {
  sources: RetlSource[];
  models: RetlModel[];
  mappings: RetlMapping[];
}

export interface RetlConfigError { path: string; message: string }

const quoted = (items: readonly string[]) => (items.length ? items.map((x) => `"${x}"`).join(', ') : '(none)');

/** Cross-references (model → source, mapping → model and destination) and uniqueness; errors name the file's path. */
export function resolveReverseEtl(file: ReverseEtlFile, destinationIds: readonly string[], errors: RetlConfigError[]): RetlConfig {
  const at = 'reverseEtl';
  const sources: RetlSource[] = [];
  file.sources.forEach((s, i) => {
    const p = `${at}.sources[${i}]`;
    if (sources.some((o) => o.id === s.id)) errors.push({ path: `${p}.id`, message: `id "${s.id}" is used by another Reverse ETL source` });
    if (s.type === 'postgres') {
      if (!s.settings.url) errors.push({ path: `${p}.settings.url`, message: 'required for a postgres source' });
      if (s.settings.path) errors.push({ path: `${p}.settings.path`, message: 'a postgres source takes `url`, not `path`' });
      sources.push({ id: s.id, type: 'postgres', url: s.settings.url ?? '' });
    } else {
      if (s.settings.url) errors.push({ path: `${p}.settings.url`, message: 'a duckdb source takes `path`, not `url`' });
      sources.push({ id: s.id, type: 'duckdb', ...(s.settings.path ? { path: s.settings.path } : {}) });
    }
  });
  const models: RetlModel[] = [];
  file.models.forEach((m, i) => {
    const p = `${at}.models[${i}]`;
    if (models.some((o) => o.id === m.id)) errors.push({ path: `${p}.id`, message: `id "${m.id}" is used by another model` });
    if (!sources.some((s) => s.id === m.source)) {
      errors.push({ path: `${p}.source`, message: `unknown Reverse ETL source "${m.source}"; known sources: ${quoted(sources.map((s) => s.id))}` });
    }
    models.push({
      id: m.id, name: m.name ?? m.id, sourceId: m.source, query: m.query, primaryKey: m.primaryKey, enabled: m.enabled,
      ...(m.schedule === 'manual' ? {} : { intervalSeconds: m.schedule.intervalSeconds }),
    });
  });
  const mappings: RetlMapping[] = [];
  file.mappings.forEach((m, i) => {
    const p = `${at}.mappings[${i}]`;
    if (mappings.some((o) => o.id === m.id)) errors.push({ path: `${p}.id`, message: `id "${m.id}" is used by another mapping` });
    if (!models.some((o) => o.id === m.model)) errors.push({ path: `${p}.model`, message: `unknown model "${m.model}"; known models: ${quoted(models.map((o) => o.id))}` });
    if (!destinationIds.includes(m.destination)) {
      errors.push({ path: `${p}.destination`, message: `unknown destination "${m.destination}"; known destinations (by id): ${quoted(destinationIds)}` });
    }
    if (m.action.type === 'track' && !m.action.event) errors.push({ path: `${p}.action.event`, message: 'required for a track action (the event name)' });
    if (m.action.type === 'identify' && m.action.event) errors.push({ path: `${p}.action.event`, message: 'only a track action takes an event name' });
    if (!m.action.userIdColumn && !m.action.anonymousIdColumn) {
      errors.push({ path: `${p}.action.userIdColumn`, message: 'give `userIdColumn` or `anonymousIdColumn`: every Segment event needs a userId or an anonymousId' });
    }
    mappings.push({ id: m.id, modelId: m.model, destinationId: m.destination, enabled: m.enabled, triggers: [...new Set(m.trigger)], action: m.action });
  });
  return { sources, models, mappings };
}
