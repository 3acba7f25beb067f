import type { FastifyInstance } from 'fastify';
import type { DestinationFilter, FilterAction } from '../core/filters.js';
import { splitConnectionMode } from '../core/route.js';
import { catalogEntries } from '../destinations/actions/catalog.js';
import { parseFql, parseFqlPath, type FqlExpr } from '../protocol/fql/index.js';
import type { ControlPlaneStore, DestinationInstance, Source } from '../store/types.js';

export interface SettingsApiDeps {
  store: ControlPlaneStore & { sourceByWriteKey(key: string): Source | undefined };
  /** Destination types by name: their display name (the key analytics.js knows them by) and secret settings. */
  types: ReadonlyMap<string, { name: string; secretSettings: readonly string[] }>;
}

/**
 * The settings analytics.js loads at start (`cdnURL/v1/projects/<writeKey>/settings`),
 * in the shape of Segment's CDN settings:
 * - `integrations["Segment.io"]` points the library at this server;
 * - each enabled device-mode instance connected to the source is listed under its
 *   destination's name with its non-secret settings and
 *   `versionSettings.componentTypes: []`, as Segment lists Actions destinations.
 *   analytics.js then loads nothing by itself (Switchyard serves no destination
 *   code); a page that brings the destination's browser code (a classic
 *   integration passed to `AnalyticsBrowser.load`'s `classicIntegrations`) gets these
 *   settings and the routing rules below;
 * - `Segment.io.unbundledIntegrations` names the destinations connected in cloud mode
 *   only (the router sends to them; analytics.js reports them in `_metadata.unbundled`);
 * - `middlewareSettings.routingRules`: the device-mode instances' destination
 *   filters, translated for analytics-next's routing middleware (`@segment/tsub`).
 */
export function registerSettings(app: FastifyInstance, deps: SettingsApiDeps): void {
  app.get<{ Params: { writeKey: string } }>('/v1/projects/:writeKey/settings', async (req, reply) => {
    const source = deps.store.sourceByWriteKey(req.params.writeKey);
    if (!source || !source.enabled) return reply.code(404).send({ success: false, error: 'invalid write key' });
    const host = req.headers.host ?? `localhost`;
    const { destinations, unbundledIntegrations, routingRules } = sourceSettings(deps, source.id);
    const integrations = {
      'Segment.io': { apiKey: req.params.writeKey, apiHost: `${host}/v1`, protocol: req.protocol, unbundledIntegrations, addBundledMetadata: true },
      ...destinations,
    };
    return {
      integrations,
      plan: { track: { __default: { enabled: true, integrations: {} } }, identify: { __default: { enabled: true } }, group: { __default: { enabled: true } } },
      edgeFunction: {},
      analyticsNextEnabled: true,
      middlewareSettings: { routingRules },
      enabledMiddleware: {},
      metrics: { sampleRate: 0 },
      legacyVideoPluginsEnabled: false,
      remotePlugins: [],
    };
  });
}

interface SourceSettings {
  destinations: Record<string, unknown>;
  unbundledIntegrations: string[];
  routingRules: TsubRule[];
}

/** Per control-plane snapshot (the store keeps one per version) and source: every page load asks. */
const computed = new WeakMap<object, Map<string, SourceSettings>>();

function sourceSettings(deps: SettingsApiDeps, sourceId: string): SourceSettings {
  const snapshot = deps.store.snapshot();
  let bySource = computed.get(snapshot);
  if (!bySource) computed.set(snapshot, (bySource = new Map()));
  let out = bySource.get(sourceId);
  if (out) return out;
  out = { destinations: {}, unbundledIntegrations: [], routingRules: [] };
  const cloud = new Set<string>();
  for (const d of snapshot.destinations) {
    if (!d.enabled || !d.sourceIds.includes(sourceId)) continue;
    const { connectionMode, settings } = splitConnectionMode(d.settings);
    if (connectionMode === 'cloud') {
      // The catalog's name is read as text: no destination code is loaded on this thread for it.
      cloud.add(catalogEntries().get(d.type)?.name ?? deps.types.get(d.type)?.name ?? d.type);
      continue;
    }
    const type = deps.types.get(d.type);
    const name = type?.name ?? d.type;
    out.destinations[name] = { ...browserSettings(d, settings, type?.secretSettings ?? []), versionSettings: { componentTypes: [] } };
    out.routingRules.push(...routingRulesFor(name, d.filters));
  }
  out.unbundledIntegrations = [...cloud].filter((n) => !(n in out.destinations)).sort();
  bySource.set(sourceId, out);
  return out;
}

/**
 * What the browser may see of an instance's settings: never the type's secret
 * settings. Actions instances keep their destination settings under `settings`
 * (secrets already apart, under `secrets`); those are listed flat, as Segment
 * lists a destination's settings.
 */
function browserSettings(d: DestinationInstance, settings: Record<string, unknown>, secret: readonly string[]): Record<string, unknown> {
  const open = Object.fromEntries(Object.entries(settings).filter(([k]) => !secret.includes(k)));
  if (d.type.startsWith('actions-') && isRecord(open.settings)) return { ...open.settings };
  return open;
}

// ---------------------------------------------------------------------------
// Destination filters as @segment/tsub routing rules (analytics-next 1.84,
// src/vendor/tsub/types.ts and the routing middleware):
//   { scope, target_type, matchers: [{type: 'fql' | 'all', ir}], transformers: [[...]], destinationName }
// Matcher `ir` is FQL's intermediate representation as JSON text: an array
// `[op, ...args]`, a string for a path (dot-separated), `{value}` for a literal.
// Transformers: `drop`, `sample_event` ({sample: {percent, path?}}),
// `drop_properties` ({drop: {<object path>: [keys]}}),
// `allow_properties` ({allow: {<object path>: [keys]}}); a path that is a list
// applies to each element.

export interface TsubRule {
  scope: 'destinations';
  target_type: 'workspace::project::destination::config';
  matchers: { type: 'fql' | 'all'; ir: string }[];
  transformers: TsubTransformer[][];
  destinationName: string;
}

type TsubTransformer =
  | { type: 'drop' }
  | { type: 'sample_event'; config: { sample: { percent: number; path?: string } } }
  | { type: 'drop_properties'; config: { drop: Record<string, string[]> } }
  | { type: 'allow_properties'; config: { allow: Record<string, string[]> } };

/** A filter tsub cannot express exactly. */
class Untranslatable extends Error {}

/**
 * One destination's filters as routing rules. Our filters evaluate every `if`
 * against the event as it reached the filter step and resolve sampling and drops
 * before property edits; tsub applies rules in order to the event as edited so
 * far. So every filter's gates (sample, drop) come first, in list order, then
 * every filter's property edits: drops and samples see the unedited event, as on
 * the server. A filter tsub cannot express (see `conditionIr`) fails closed, as a
 * filter that cannot be evaluated does on the server: a rule that drops every
 * event for the destination.
 */
export function routingRulesFor(destinationName: string, filters: readonly DestinationFilter[]): TsubRule[] {
  const gates: TsubRule[] = [];
  const edits: TsubRule[] = [];
  const rule = (matcher: TsubRule['matchers'][number], transformers: TsubTransformer[]): TsubRule => ({
    scope: 'destinations',
    target_type: 'workspace::project::destination::config',
    matchers: [matcher],
    transformers: [transformers],
    destinationName,
  });
  for (const f of filters) {
    if (!f.enabled) continue;
    try {
      const matcher = f.if.trim() === 'all' ? { type: 'all' as const, ir: '' } : { type: 'fql' as const, ir: JSON.stringify(conditionIr(parsed(f.if))) };
      const ordered = [...f.actions].sort((a, b) => ACTION_ORDER[a.type] - ACTION_ORDER[b.type]);
      const g = ordered.filter((a) => a.type === 'SAMPLE' || a.type === 'DROP').map(transformer);
      const e = ordered.filter((a) => a.type === 'DROP_PROPERTIES' || a.type === 'ALLOW_PROPERTIES').map(transformer);
      if (g.length > 0) gates.push(rule(matcher, g));
      if (e.length > 0) edits.push(rule(matcher, e));
    } catch {
      gates.push(rule({ type: 'all', ir: '' }, [{ type: 'drop' }]));
    }
  }
  return [...gates, ...edits];
}

const ACTION_ORDER: Readonly<Record<FilterAction['type'], number>> = { SAMPLE: 0, DROP: 1, DROP_PROPERTIES: 2, ALLOW_PROPERTIES: 3 };

function parsed(source: string): FqlExpr {
  const r = parseFql(source);
  if (!r.ok) throw new Untranslatable(r.error.message);
  return r.value;
}

function fieldPath(source: string): string[] {
  const r = parseFqlPath(source);
  if (!r.ok) throw new Untranslatable(r.error.message);
  return r.value;
}

/** tsub reads paths with dlv (dot-separated): a segment containing a dot cannot be written. */
function dotted(segments: readonly string[]): string {
  if (segments.some((s) => s === '' || s.includes('.'))) throw new Untranslatable('a path segment contains "."');
  return segments.join('.');
}

function transformer(action: FilterAction): TsubTransformer {
  switch (action.type) {
    case 'DROP':
      return { type: 'drop' };
    case 'SAMPLE':
      return { type: 'sample_event', config: { sample: { percent: action.percent, ...(action.path ? { path: dotted(fieldPath(action.path)) } : {}) } } };
    case 'DROP_PROPERTIES': {
      const drop: Record<string, string[]> = {};
      for (const [object, relative] of Object.entries(action.fields)) {
        const base = object === '' ? [] : fieldPath(object);
        for (const rel of relative) {
          const full = [...base, ...fieldPath(rel)];
          const parent = dotted(full.slice(0, -1));
          (drop[parent] ??= []).push(full[full.length - 1]!);
        }
      }
      return { type: 'drop_properties', config: { drop } };
    }
    case 'ALLOW_PROPERTIES': {
      // Nested paths (`address.city`) keep `address` at the object and `city` inside it.
      const allow: Record<string, string[]> = {};
      for (const [object, relative] of Object.entries(action.fields)) {
        const root: Trie = new Map();
        for (const rel of relative) {
          let node = root;
          const segs = fieldPath(rel);
          segs.forEach((s, k) => {
            let child = node.get(s);
            if (!child) node.set(s, (child = { whole: false, children: new Map() }));
            if (k === segs.length - 1) child.whole = true;
            node = child.children;
          });
        }
        const emit = (node: Trie, at: string[]): void => {
          const key = dotted(at);
          allow[key] = [...new Set([...(allow[key] ?? []), ...node.keys()])];
          for (const [s, child] of node) if (!child.whole && child.children.size > 0) emit(child.children, [...at, s]);
        };
        emit(root, object === '' ? [] : fieldPath(object));
      }
      return { type: 'allow_properties', config: { allow } };
    }
  }
}

type Trie = Map<string, { whole: boolean; children: Trie }>;

type Ir = string | { value: unknown } | Ir[];

/** `p` is missing or null: tsub reads a missing field as undefined, which `= null` does not match. */
function nullish(p: Ir): Ir {
  return ['or', ['=', p, { value: null }], ['=', ['typeof', p], { value: 'undefined' }]];
}

/** Our typeof names (Segment's) as JavaScript's; `list` and `object` have no exact counterpart. */
const TYPEOF_JS: Readonly<Record<string, string>> = { string: 'string', number: 'number', bool: 'boolean' };

/**
 * A condition as tsub IR, with Switchyard's semantics where tsub's differ:
 * a missing field equals null, `exists`, and `typeof` names. Refused (the filter
 * then fails closed): `uppercase()`, `typeof()` compared with `list`/`object`,
 * `in` over a field (tsub would read its items as paths), functions nested in
 * function arguments, non-boolean literals as conditions, and path segments
 * containing a dot. Known difference kept: `length()` of a string counts UTF-16
 * units in the browser, UTF-8 bytes on the server (equal for ASCII).
 */
function conditionIr(e: FqlExpr): Ir {
  switch (e.kind) {
    case 'literal':
      if (e.value !== null && typeof e.value !== 'boolean') throw new Untranslatable('a literal used as a condition');
      return { value: e.value };
    case 'path':
      return dotted(e.segments);
    case 'not':
      return ['!', conditionIr(e.operand)];
    case 'and':
    case 'or':
      return [e.kind, conditionIr(e.left), conditionIr(e.right)];
    case 'exists':
      return ['!', nullish(operandIr(e.operand))];
    case 'in': {
      if (e.haystack.kind !== 'list') throw new Untranslatable('`in` over a field');
      return ['in', argIr(e.needle), e.haystack.items.map((value) => ({ value }))];
    }
    case 'call':
      if (e.name !== 'contains' && e.name !== 'match') throw new Untranslatable(`${e.name}() used as a condition`);
      return callIr(e);
    case 'compare':
      return compareIr(e);
    case 'list':
      throw new Untranslatable('a list used as a condition');
  }
}

function compareIr(e: FqlExpr & { kind: 'compare' }): Ir {
  const eq = e.op === '=' || e.op === '!=';
  const wrap = (ir: Ir): Ir => (e.op === '!=' ? ['!', ir] : ir);
  for (const [a, b] of [[e.left, e.right], [e.right, e.left]] as const) {
    if (eq && b.kind === 'literal' && b.value === null && a.kind !== 'literal') return wrap(nullish(operandIr(a)));
    if (a.kind === 'call' && a.name === 'typeof') {
      if (!eq || b.kind !== 'literal' || typeof b.value !== 'string') throw new Untranslatable('typeof() compared with something else than a type name');
      const arg = argIr(a.args[0]!);
      if (b.value === 'null') return wrap(nullish(arg));
      const js = TYPEOF_JS[b.value];
      if (!js) throw new Untranslatable(`typeof() = "${b.value}"`);
      return wrap(['=', ['typeof', arg], { value: js }]);
    }
  }
  return [e.op, operandIr(e.left), operandIr(e.right)];
}

function operandIr(e: FqlExpr): Ir {
  if (e.kind === 'literal') return { value: e.value };
  if (e.kind === 'path') return dotted(e.segments);
  if (e.kind === 'call') return callIr(e);
  throw new Untranslatable(`${e.kind} used as a value`);
}

function callIr(e: FqlExpr & { kind: 'call' }): Ir {
  if (e.name === 'uppercase') throw new Untranslatable('uppercase() is not in tsub');
  return [e.name, ...e.args.map(argIr)];
}

/** tsub evaluates function arguments as paths or literals only. */
function argIr(e: FqlExpr): Ir {
  if (e.kind === 'literal') return { value: e.value };
  if (e.kind === 'path') return dotted(e.segments);
  throw new Untranslatable('a function argument that is not a field or a literal');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
