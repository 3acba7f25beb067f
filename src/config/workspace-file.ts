import fs from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import type { Result } from '../protocol/types.js';
import { checkDestinationSettings, isRecord, list, requiredMessage, zodErrors } from './settings-check.js';
import { validateFilters, type DestinationFilter } from '../core/filters.js';
import type { PlannedDataLake, PlannedDestination, PlannedSource, PlannedWarehouse, WorkspacePlan } from '../store/plan.js';
import { CONNECTION_MODE_KEY, CONNECTION_MODES, type ConnectionMode } from '../core/route.js';
import { catalogEntries } from '../destinations/actions/catalog.js';
import { BUILT_IN_TYPES, defaultIdentityRules, defaultLimit, FREQUENCIES, type Frequency, type UnifySpace } from '../unify/config.js';
import { resolveReverseEtl, reverseEtlFileSchema, type RetlConfig } from '../retl/config.js';

export { watchWorkspaceFile } from './watch-file.js';

/**
 * The workspace file: config-as-code for the control plane (YAML or JSON).
 *
 *   workspace: { slug: acme }
 *   sources:
 *     - slug: web-prod
 *       writeKey: wk_web_prod
 *   destinations:
 *     - name: Orders webhook
 *       type: webhook
 *       sources: [web-prod]
 *       settings: { urls: [http://127.0.0.1:9999/hook] }
 *
 * Derivations (ids are what the Public API and the log use, so they must be stable):
 * - workspace id = `id` or else the slug; name = `name` or else the slug; rateLimit absent = 0 (off).
 * - source id = `id` or else the slug; name = `name` or else the slug; enabled defaults to true;
 *   write keys = `writeKey` plus `writeKeys` (at least one; unique across all sources).
 * - destination id = `id` or else the slugified name (`Orders webhook` -> `orders-webhook`).
 *   Two destinations with the same name on different sources would derive the same id:
 *   then each needs an explicit `id`. `sources` names sources by slug or id.
 * Unknown fields are errors: a typo (`writekey:`) must not be silently ignored.
 */
export interface ConfigError {
  /** Where in the file, e.g. `destinations[0].settings.urls[1]`; empty for the whole file. */
  path: string;
  message: string;
}

/**
 * Destination types the file may use: the real destination registry satisfies this.
 * `connectionModes`: what a type declares it can run as; when absent, see `connectionModesOf`.
 */
export type DestinationTypes = ReadonlyMap<string, { name?: string; settingsSchema: z.ZodType; secretSettings: readonly string[]; connectionModes?: readonly ConnectionMode[] }>;

const slug = z.string().regex(/^[a-z0-9_-]+$/, 'must be lowercase letters, digits, "-" or "_"');
const id = z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be letters, digits, "-" or "_"');
// No ":" (the SDKs send the key as the Basic auth user) and nothing that needs
// escaping in /v1/projects/:writeKey/settings.
const writeKey = z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be letters, digits, "_", "-" or "."');
const name = z.string().trim().min(1, 'must not be empty');

const fileSchema = z.strictObject({
  workspace: z.strictObject({
    id: id.optional(),
    slug,
    name: name.optional(),
    rateLimit: z.number().int().min(0).optional(),
  }),
  sources: z
    .array(
      z.strictObject({
        id: id.optional(),
        slug,
        name: name.optional(),
        enabled: z.boolean().default(true),
        writeKey: writeKey.optional(),
        writeKeys: z.array(writeKey).optional(),
        labels: z.array(z.strictObject({ key: z.string().min(1).max(100), value: z.string().min(1).max(100) })).default([]),
      }),
    )
    .default([]),
  destinations: z
    .array(
      z.strictObject({
        id: id.optional(),
        name,
        type: z.string().min(1),
        enabled: z.boolean().default(true),
        sources: z.array(z.string().min(1)).min(1, 'connect at least one source'),
        settings: z.record(z.string(), z.unknown()).default({}),
        // Segment's connection mode: `cloud` (the router delivers) or `device` (the
        // browser does; only for types with browser code, see connectionModesOf).
        connectionMode: z.enum(CONNECTION_MODES as [ConnectionMode, ...ConnectionMode[]]).default('cloud'),
        // Destination filters (Public API shape); `id`, `title`, `enabled`, `sourceId`
        // and `destinationId` may be left out: see resolveFilters.
        filters: z.array(z.record(z.string(), z.unknown())).default([]),
      }),
    )
    .default([]),
  // Warehouses (issue #6): Segment's schema in DuckDB (embedded, the default file
  // DATA_DIR/warehouse.duckdb) or PostgreSQL (`url`). `sources` by slug or id.
  warehouses: z
    .array(
      z.strictObject({
        id,
        type: z.enum(['duckdb', 'postgres']),
        enabled: z.boolean().default(true),
        sources: z.array(z.string().min(1)).min(1, 'connect at least one source'),
        settings: z
          .strictObject({
            path: z.string().min(1).optional(),
            url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL').optional(),
            syncIntervalSeconds: z.number().positive().optional(),
            // Segment's advanced sync schedule: syncs at these hours (HH:00) in this time zone.
            schedule: z
              .strictObject({
                timezone: z.string().refine(isTimeZone, 'must be an IANA time zone such as UTC or America/New_York'),
                hours: z.array(z.number().int().min(0).max(23)).max(24),
              })
              .optional(),
          })
          .default({}),
        // Selective sync, in the Public API's `syncOverrides` shape; `source` by slug or id.
        syncOverrides: z
          .array(z.strictObject({ source: z.string().min(1), collection: z.string().min(1).optional(), property: z.string().min(1).optional(), enabled: z.boolean() }))
          .default([]),
      }),
    )
    .default([]),
  // Data lakes (issue #6): Parquet in Segment's layout, in a local directory
  // (`path`, default DATA_DIR/datalake) or an S3 bucket (`s3`). `sources` by slug or id.
  dataLakes: z
    .array(
      z.strictObject({
        id,
        enabled: z.boolean().default(true),
        sources: z.array(z.string().min(1)).min(1, 'connect at least one source'),
        settings: z
          .strictObject({
            path: z.string().min(1).optional(),
            s3: z
              .strictObject({
                bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (3-63 lowercase letters, digits, "." or "-")'),
                region: z.string().min(1),
                endpoint: z.string().regex(/^https?:\/\//, 'must be an http:// or https:// URL').optional(),
                accessKeyId: z.string().min(1).optional(),
                secretAccessKey: z.string().min(1).optional(),
                prefix: z.string().optional(),
              })
              .optional(),
            syncIntervalSeconds: z.number().positive().optional(),
            // Segment's date partition options: Day/Hour (default), Year/Month/Day/Hour, Year/Month/Day, Day.
            partitioning: z.enum(['day/hr', 'year/month/day/hr', 'year/month/day', 'day']).optional(),
          })
          .default({}),
      }),
    )
    .default([]),
  // Unify (identity resolution and the Profile API): resolved by resolveUnify.
  unify: z
    .strictObject({
      space: z.strictObject({ id: id.optional(), slug, name: name.optional() }),
      sources: z.array(z.string().min(1)).default([]),
      // The Profile API secret, sent as the HTTP Basic username: no ':' and no spaces.
      accessToken: z.string().regex(/^[\x21-\x39\x3b-\x7e]{16,}$/, 'must be at least 16 printable characters, without ":" or spaces'),
      // Ordered: the first rule has priority 1. Absent: Segment's 11 defaults.
      identityRules: z
        .array(z.strictObject({
          type: z.string().regex(/^[a-z0-9_.]+$/, 'must be lowercase letters, digits, "_" or "."'),
          limit: z.number().int().min(1).optional(),
          // Segment's "5 Weekly": the limit counts values seen within this window.
          frequency: z.enum(FREQUENCIES as unknown as [Frequency, ...Frequency[]]).optional(),
          key: z.string().min(1).optional(),
        }))
        .min(1, 'list at least one identifier, or leave `identityRules` out for Segment\'s defaults')
        .optional(),
      blockedValues: z.array(z.string().min(1)).default([]),
    })
    .optional(),
  // Reverse ETL (warehouse → destinations): held in memory, see retl/config.ts.
  reverseEtl: reverseEtlFileSchema.optional(),
});
type FileShape = z.infer<typeof fileSchema>;

/** The plan plus what the file holds in memory only (not in the control plane): Unify's space, Reverse ETL. */
export type FilePlan = WorkspacePlan & { unify?: UnifySpace; reverseEtl?: RetlConfig };

/** Parses and validates a workspace file; `fileName` picks the format by extension. */
export function parseWorkspaceFile(text: string, fileName: string, types: DestinationTypes): Result<FilePlan, ConfigError[]> {
  const raw = parseText(text, fileName);
  if (!raw.ok) return raw;
  if (raw.value === null || raw.value === undefined) {
    return fail([{ path: '', message: 'the file is empty; expected `workspace`, `sources` and `destinations`' }]);
  }
  const shape = fileSchema.safeParse(raw.value, { error: requiredMessage });
  if (!shape.success) {
    // Still check destination settings where possible, so one edit round fixes all errors.
    const errors = zodErrors(shape.error.issues, []);
    const rawDestinations = isRecord(raw.value) && Array.isArray(raw.value.destinations) ? raw.value.destinations : [];
    rawDestinations.forEach((d: unknown, i) => {
      if (!isRecord(d) || typeof d.type !== 'string') return;
      const settings = d.settings ?? {};
      if (isRecord(settings)) checkSettings(d.type, settings, i, types, errors);
    });
    return fail(errors);
  }
  return resolve(shape.data, types);
}

/** Reads and parses the file; a read failure is a ConfigError too, so callers handle one kind of failure. */
export function readWorkspaceFile(filePath: string, types: DestinationTypes): Result<FilePlan, ConfigError[]> {
  let text: string;
  try {
    text = fs.readFileSync(filePath, 'utf8');
  } catch (err) {
    return fail([{ path: '', message: `cannot read ${filePath}: ${(err as Error).message}` }]);
  }
  return parseWorkspaceFile(text, filePath, types);
}

/** One line per error, for logs and the CLI: `workspace.yaml: destinations[0].type: ...`. */
export function formatConfigErrors(fileName: string, errors: readonly ConfigError[]): string {
  return errors.map((e) => `${fileName}: ${e.path ? `${e.path}: ` : ''}${e.message}`).join('\n');
}

function parseText(text: string, fileName: string): Result<unknown, ConfigError[]> {
  const ext = path.extname(fileName).toLowerCase();
  if (ext === '.json') {
    try {
      return { ok: true, value: JSON.parse(text) as unknown };
    } catch (err) {
      return fail([{ path: '', message: `JSON syntax error: ${jsonPosition(text, (err as Error).message)}` }]);
    }
  }
  if (ext === '.yaml' || ext === '.yml') {
    const doc = parseDocument(text, { prettyErrors: true });
    if (doc.errors.length > 0) {
      // The pretty message starts with "... at line L, column C:" and then quotes the source lines.
      return fail(doc.errors.map((e) => ({ path: '', message: `YAML syntax error: ${e.message.split('\n')[0]!.replace(/:$/, '')}` })));
    }
    return { ok: true, value: doc.toJS() as unknown };
  }
  return fail([{ path: '', message: `unsupported file extension "${ext}": use .yaml, .yml or .json` }]);
}

/** V8 reports "at position N"; people look for line and column. */
function jsonPosition(text: string, message: string): string {
  const m = /at position (\d+)/.exec(message);
  if (!m) return message;
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `${message.replace(/\s*\(line \d+ column \d+\)$/, '')} (line ${line}, column ${column})`;
}

/** Checks that need the whole file: references, uniqueness, destination types and settings. */
function resolve(file: FileShape, types: DestinationTypes): Result<FilePlan, ConfigError[]> {
  const errors: ConfigError[] = [];
  const w = file.workspace;

  const sources: PlannedSource[] = [];
  const sourceRef = new Map<string, string>(); // slug or id -> id
  const keyOwner = new Map<string, number>();
  file.sources.forEach((s, i) => {
    const sid = s.id ?? s.slug;
    if (sources.some((o) => o.slug === s.slug)) errors.push({ path: `sources[${i}].slug`, message: `slug "${s.slug}" is used by another source` });
    if (sources.some((o) => o.id === sid)) errors.push({ path: `sources[${i}].${s.id ? 'id' : 'slug'}`, message: `source id "${sid}" is used by another source` });
    const keys = [
      ...(s.writeKey ? [{ key: s.writeKey, path: `sources[${i}].writeKey` }] : []),
      ...(s.writeKeys ?? []).map((key, k) => ({ key, path: `sources[${i}].writeKeys[${k}]` })),
    ];
    if (keys.length === 0) errors.push({ path: `sources[${i}]`, message: 'needs at least one write key (`writeKey` or `writeKeys`)' });
    for (const { key, path: p } of keys) {
      const owner = keyOwner.get(key);
      if (owner !== undefined && owner !== i) {
        errors.push({ path: p, message: `write key "${key}" is already used by sources[${owner}] ("${file.sources[owner]!.slug}"); a write key identifies exactly one source` });
      }
      keyOwner.set(key, owner ?? i);
    }
    sourceRef.set(sid, sid);
    sourceRef.set(s.slug, sid);
    const labels = [...new Map(s.labels.map((l) => [`${l.key}:${l.value}`, { key: l.key, value: l.value }])).values()];
    sources.push({ id: sid, slug: s.slug, name: s.name ?? s.slug, enabled: s.enabled, writeKeys: [...new Set(keys.map((k) => k.key))], labels });
  });

  const destinations: PlannedDestination[] = [];
  const instanceNames = new Map<string, number>(); // `${sourceId}\0${name}` -> destination index
  const idOwner = new Map<string, number>();
  const deviceOwner = new Map<string, number>(); // `${sourceId}\0${type}` -> destination index
  file.destinations.forEach((d, i) => {
    const at = `destinations[${i}]`;
    const sourceIds: string[] = [];
    let nameClash = false;
    d.sources.forEach((ref, j) => {
      const sid = sourceRef.get(ref);
      if (sid === undefined) {
        errors.push({ path: `${at}.sources[${j}]`, message: `unknown source "${ref}"; known sources: ${list(sources.map((s) => s.slug))}` });
      } else if (sourceIds.includes(sid)) {
        errors.push({ path: `${at}.sources[${j}]`, message: `source "${ref}" is listed twice` });
      } else {
        sourceIds.push(sid);
        const other = instanceNames.get(`${sid}\0${d.name}`);
        if (other !== undefined) {
          nameClash = true;
          errors.push({ path: `${at}.name`, message: `instance name "${d.name}" is already used on source "${ref}" by destinations[${other}]; instance names are unique per source` });
        } else instanceNames.set(`${sid}\0${d.name}`, i);
      }
    });

    const did = d.id ?? slugify(d.name);
    const other = idOwner.get(did);
    if (!did) {
      errors.push({ path: `${at}.id`, message: `cannot derive an id from the name "${d.name}"; give an explicit \`id\`` });
    } else if (other !== undefined && !nameClash) {
      errors.push({
        path: `${at}.id`,
        message: d.id
          ? `id "${did}" is already used by destinations[${other}]`
          : `derived id "${did}" collides with destinations[${other}] ("${file.destinations[other]!.name}"); destinations with the same name need an explicit \`id\``,
      });
    } else idOwner.set(did, i);

    const filters = resolveFilters(d.filters, did, sourceIds, at, errors);
    const checked = checkSettings(d.type, d.settings, i, types, errors);
    if (!checked) return;
    if (d.connectionMode === 'device' && !checkDeviceMode(d.type, sourceIds, file.sources, i, types, deviceOwner, errors)) return;
    // The mode rides in the stored settings under a reserved key (absent = cloud), so
    // the store needs no column for it; the router strips it (core/route.ts).
    const settings = d.connectionMode === 'device' ? { ...checked.settings, [CONNECTION_MODE_KEY]: 'device' } : checked.settings;
    destinations.push({ id: did, name: d.name, type: d.type, enabled: d.enabled, sourceIds, filters, ...checked, settings });
  });

  const warehouses: PlannedWarehouse[] = [];
  file.warehouses.forEach((wh, i) => {
    const at = `warehouses[${i}]`;
    if (warehouses.some((o) => o.id === wh.id)) errors.push({ path: `${at}.id`, message: `id "${wh.id}" is used by another warehouse` });
    if (wh.type === 'postgres' && !wh.settings.url) errors.push({ path: `${at}.settings.url`, message: 'required for a postgres warehouse' });
    if (wh.type === 'duckdb' && wh.settings.url) errors.push({ path: `${at}.settings.url`, message: 'a duckdb warehouse takes `path`, not `url`' });
    const sourceIds: string[] = [];
    wh.sources.forEach((ref, j) => {
      const sid = sourceRef.get(ref);
      if (sid === undefined) errors.push({ path: `${at}.sources[${j}]`, message: `unknown source "${ref}"; known sources: ${list(sources.map((s) => s.slug))}` });
      else if (sourceIds.includes(sid)) errors.push({ path: `${at}.sources[${j}]`, message: `source "${ref}" is listed twice` });
      else sourceIds.push(sid);
    });
    const syncOverrides: PlannedWarehouse['syncOverrides'] = [];
    wh.syncOverrides.forEach((o, j) => {
      const sid = sourceRef.get(o.source);
      if (sid === undefined || !sourceIds.includes(sid)) {
        errors.push({ path: `${at}.syncOverrides[${j}].source`, message: `source "${o.source}" is not connected to this warehouse` });
      } else if (o.property && !o.collection) {
        errors.push({ path: `${at}.syncOverrides[${j}].collection`, message: 'required with `property`' });
      } else {
        syncOverrides.push({ sourceId: sid, ...(o.collection ? { collection: o.collection } : {}), ...(o.property ? { property: o.property } : {}), enabled: o.enabled });
      }
    });
    warehouses.push({ id: wh.id, type: wh.type, enabled: wh.enabled, sourceIds, settings: wh.settings, syncOverrides });
  });

  const dataLakes: PlannedDataLake[] = [];
  const lakeOfSource = new Map<string, number>();
  file.dataLakes.forEach((dl, i) => {
    const at = `dataLakes[${i}]`;
    if (dataLakes.some((o) => o.id === dl.id)) errors.push({ path: `${at}.id`, message: `id "${dl.id}" is used by another data lake` });
    if (dl.settings.path && dl.settings.s3) errors.push({ path: `${at}.settings.s3`, message: 'a data lake takes either `path` (a local directory) or `s3`, not both' });
    const s3 = dl.settings.s3;
    if (s3 && (s3.accessKeyId === undefined) !== (s3.secretAccessKey === undefined)) {
      errors.push({ path: `${at}.settings.s3.${s3.accessKeyId === undefined ? 'accessKeyId' : 'secretAccessKey'}`, message: 'required with `accessKeyId`/`secretAccessKey` (give both, or neither to use the AWS default credentials)' });
    }
    const sourceIds: string[] = [];
    dl.sources.forEach((ref, j) => {
      const sid = sourceRef.get(ref);
      if (sid === undefined) errors.push({ path: `${at}.sources[${j}]`, message: `unknown source "${ref}"; known sources: ${list(sources.map((s) => s.slug))}` });
      else if (sourceIds.includes(sid)) errors.push({ path: `${at}.sources[${j}]`, message: `source "${ref}" is listed twice` });
      else if (lakeOfSource.has(sid)) {
        // Seed: "Segment does not support connecting a single source to multiple instances of a Data Lakes destination."
        errors.push({ path: `${at}.sources[${j}]`, message: `source "${ref}" is already connected to dataLakes[${lakeOfSource.get(sid)}]; a source connects to one data lake` });
      } else {
        sourceIds.push(sid);
        if (dl.enabled) lakeOfSource.set(sid, i);
      }
    });
    dataLakes.push({ id: dl.id, enabled: dl.enabled, sourceIds, settings: dl.settings });
  });

  const unify = file.unify ? resolveUnify(file.unify, sourceRef, sources, errors) : undefined;
  const reverseEtl = file.reverseEtl ? resolveReverseEtl(file.reverseEtl, file.destinations.map((d) => d.id ?? slugify(d.name)), errors) : undefined;

  if (errors.length > 0) return fail(errors);
  const workspace = { id: w.id ?? w.slug, slug: w.slug, name: w.name ?? w.slug, rateLimitPerSecond: w.rateLimit ?? 0 };
  return {
    ok: true,
    value: {
      workspace, sources, destinations,
      ...(warehouses.length > 0 ? { warehouses } : {}), ...(dataLakes.length > 0 ? { dataLakes } : {}), ...(unify ? { unify } : {}),
      ...(reverseEtl ? { reverseEtl } : {}),
    },
  };
}

/**
 * Unify's space: id = `id` or else the slug, name = `name` or else the slug; sources by
 * slug or id; identity rules in priority order (first = 1), each limit defaulting to
 * Segment's (user_id 1, others 5); absent rules = Segment's 11 defaults.
 */
function resolveUnify(u: NonNullable<FileShape['unify']>, sourceRef: Map<string, string>, sources: PlannedSource[], errors: ConfigError[]): UnifySpace {
  const sourceIds: string[] = [];
  u.sources.forEach((ref, j) => {
    const sid = sourceRef.get(ref);
    if (sid === undefined) errors.push({ path: `unify.sources[${j}]`, message: `unknown source "${ref}"; known sources: ${list(sources.map((s) => s.slug))}` });
    else if (sourceIds.includes(sid)) errors.push({ path: `unify.sources[${j}]`, message: `source "${ref}" is listed twice` });
    else sourceIds.push(sid);
  });
  const rules = u.identityRules
    ? u.identityRules.map((r, i) => ({
      type: r.type, limit: r.limit ?? defaultLimit(r.type), priority: i + 1,
      ...(r.frequency && r.frequency !== 'ever' ? { frequency: r.frequency } : {}), ...(r.key ? { key: r.key } : {}),
    }))
    : defaultIdentityRules();
  (u.identityRules ?? []).forEach((r, i) => {
    if (u.identityRules!.findIndex((o) => o.type === r.type) !== i) errors.push({ path: `unify.identityRules[${i}].type`, message: `"${r.type}" is listed twice` });
    if (r.type === 'segment_id') errors.push({ path: `unify.identityRules[${i}].type`, message: 'segment_id is the profile\'s own id, not an identifier to resolve on' });
    if (r.key && BUILT_IN_TYPES.has(r.type)) errors.push({ path: `unify.identityRules[${i}].key`, message: `"${r.type}" is one of Segment's default identifiers, found where Segment looks for it; \`key\` is for custom identifiers` });
  });
  u.blockedValues.forEach((b, i) => {
    const m = /^\/(.*)\/$/.exec(b);
    if (!m) return;
    try {
      new RegExp(m[1]!);
    } catch (err) {
      errors.push({ path: `unify.blockedValues[${i}]`, message: `not a valid regular expression: ${(err as Error).message}` });
    }
  });
  return {
    id: u.space.id ?? u.space.slug, slug: u.space.slug, name: u.space.name ?? u.space.slug,
    sourceIds, accessToken: u.accessToken, rules, blockedValues: u.blockedValues,
  };
}

/**
 * Filters in the file may omit what the file already says: `id` defaults to
 * `<destination id>-filter-<n>` (stable while the list keeps its order),
 * `destinationId` to the destination, `sourceId` to its first source (a filter
 * applies to the instance whatever the source), `title` to `Filter <n>`,
 * `enabled` to true. Errors keep the file's path: `destinations[0].filters[1].if`.
 */
function resolveFilters(
  raw: Record<string, unknown>[], destinationId: string, sourceIds: string[], at: string, errors: ConfigError[],
): DestinationFilter[] {
  const filled = raw.map((f, k) => ({
    id: `${destinationId}-filter-${k + 1}`,
    title: `Filter ${k + 1}`,
    enabled: true,
    ...f,
    destinationId,
    sourceId: typeof f.sourceId === 'string' ? f.sourceId : (sourceIds[0] ?? ''),
  }));
  const checked = validateFilters(filled);
  if (checked.ok) return checked.value;
  for (const e of checked.error) errors.push({ path: `${at}.${e.field}`, message: e.limit ? `${e.message} (limit: ${e.limit})` : e.message });
  return [];
}

/**
 * Segment metadata ids of catalog destinations that upstream also builds for the
 * browser: they are registered under the same id in
 * `segmentio/action-destinations` `packages/destinations-manifest/src/index.ts`
 * (the browser destinations' manifest). `@segment/action-destinations` itself
 * marks every definition `mode: 'cloud'` and ships no browser code, so this list
 * is the only marker there is (checked against catalog 3.497: these 9 ids are
 * the intersection of the two registers).
 */
const BROWSER_COUNTERPARTS: ReadonlySet<string> = new Set([
  '5f7dd6d21ad74f3842b1fc47', // Amplitude (Actions) / amplitude-plugins
  '60f9d0d048950c356be2e4da', // Braze Cloud Mode (Actions) / braze-cloud-plugins
  '649adeaa719bd3f55fe81bef', // DevRev / devrev
  '6261a8b6cb4caa70e19116e8', // Snap Conversions API / snap-plugins
  '63e52bea7747fbc311d5b872', // Algolia Insights (Actions) / algolia-plugins
  '66cc766ef4b1c152177239a0', // Reddit Conversions API / reddit-plugins
  '66cc76e29693c9e5591bf029', // Nextdoor CAPI / nextdoor-plugins
  '682db6914f35aafb2757ef24', // Dub / dub-plugins
  '68b82be249b48bae343517c7', // Microsoft Bing CAPI / ms-bing-capi-plugins
]);

/**
 * The connection modes a destination type allows: what the type declares, else
 * `cloud` and `device` for a catalog destination with a browser counterpart,
 * else `cloud` only (the native webhook and every other type: their code runs
 * on the server only).
 */
export function connectionModesOf(typeName: string, types: DestinationTypes): readonly ConnectionMode[] {
  const declared = types.get(typeName)?.connectionModes;
  if (declared) return declared;
  const entry = catalogEntries().get(typeName);
  return entry && BROWSER_COUNTERPARTS.has(entry.id) ? CONNECTION_MODES : ['cloud'];
}

/**
 * `connectionMode: device` needs a type that can run in the browser, and a source
 * connects to one device-mode instance of a destination (seed 001, "Non-mobile
 * sources can only connect to one device-mode instance of a destination").
 */
function checkDeviceMode(
  typeName: string, sourceIds: string[], sources: FileShape['sources'], i: number, types: DestinationTypes,
  deviceOwner: Map<string, number>, errors: ConfigError[],
): boolean {
  const at = `destinations[${i}].connectionMode`;
  if (!connectionModesOf(typeName, types).includes('device')) {
    const capable = [...types.keys()].filter((t) => t.startsWith('actions-') && connectionModesOf(t, types).includes('device'));
    errors.push({
      path: at,
      message: `"${typeName}" runs in cloud mode only: device mode needs a destination that has browser code (here: ${list(capable)})`,
    });
    return false;
  }
  let ok = true;
  for (const sid of sourceIds) {
    const other = deviceOwner.get(`${sid}\0${typeName}`);
    if (other !== undefined) {
      const slugOf = sources.find((s) => (s.id ?? s.slug) === sid)?.slug ?? sid;
      errors.push({ path: at, message: `source "${slugOf}" already has a device-mode instance of "${typeName}" (destinations[${other}]); a source connects to one device-mode instance of a destination` });
      ok = false;
    } else deviceOwner.set(`${sid}\0${typeName}`, i);
  }
  return ok;
}

/** Validates settings against the type's schema; returns them with defaults applied, or pushes errors. */
function checkSettings(
  typeName: string, raw: Record<string, unknown>, i: number, types: DestinationTypes, errors: ConfigError[],
): { settings: Record<string, unknown>; secretSettings: string[] } | undefined {
  const checked = checkDestinationSettings(types, typeName, raw, ['destinations', i, 'settings'], `destinations[${i}].type`);
  if (checked.ok) return checked.value;
  errors.push(...checked.error);
  return undefined;
}

/** `Orders webhook` -> `orders-webhook`. */
export function slugify(text: string): string {
  return text.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

function fail<T>(error: ConfigError[]): Result<T, ConfigError[]> {
  return { ok: false, error };
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
