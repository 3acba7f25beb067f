import { buildAllowTree, compileFql, compilePath, keepOnly, parseFqlPath, withoutPath } from '../protocol/fql/index.js';
import type { JsonObject, SegmentMessage } from '../protocol/types.js';

/**
 * Destination filters, in the shape of Segment's Public API
 * (`DestinationFilterV1`, `DestinationFilterActionV1`). Sources for the rules
 * below: segment.com/docs/connections/destinations/destination-filters/ and
 * docs.segmentapis.com/tag/Destination-Filters.
 *
 * How a list of filters applies to one event:
 * - Enabled filters only, one at a time in list order (Segment: "one at a
 *   time in the order that they appear").
 * - Every filter's `if` is evaluated against the event as it reached the
 *   filter step, not as earlier filters edited it. Segment resolves drops
 *   before property edits ("Sample, Drop, Drop Properties, Allow
 *   Properties"), so a drop condition always sees `properties.email` even if
 *   another filter removes it; property edits commute, so the payload that
 *   leaves does not depend on the order either. Within one filter the actions
 *   run in that same documented order.
 * - `if: "all"` matches every event (what Segment stores for "no condition").
 * - Fail closed: a filter that throws (a type error in FQL, an invalid stored
 *   filter) drops the event with `filter_error`, as Segment does "to prevent
 *   sensitive information, like a PII filter, from getting through".
 */

export { FILTER_FIELD_OBJECTS, MAX_FILTERS_PER_DESTINATION, validateFilter, validateFilters } from './filters-validate.js';

export interface DestinationFilter {
  id: string;
  sourceId: string;
  destinationId: string;
  if: string;
  actions: FilterAction[];
  title: string;
  description?: string;
  enabled: boolean;
}

/**
 * `fields` maps an object (`properties`, `context.page`, or `""` for the top
 * level of the event, DROP_PROPERTIES only) to paths inside it
 * (`["email", "products.price"]`). SAMPLE's `percent` is a fraction in [0, 1]
 * (Segment's own example samples 5% with `percent: 0.05`).
 */
export type FilterAction =
  | { type: 'DROP' }
  | { type: 'DROP_PROPERTIES'; fields: Record<string, string[]> }
  | { type: 'ALLOW_PROPERTIES'; fields: Record<string, string[]> }
  | { type: 'SAMPLE'; percent: number; path?: string };

export type FilterDropReason = 'filter_drop' | 'filter_sample' | 'filter_error';

export type FilterResult =
  | { kind: 'keep'; message: SegmentMessage }
  | { kind: 'drop'; filterId: string; reason: FilterDropReason; detail?: string };

const ACTION_ORDER: Readonly<Record<FilterAction['type'], number>> = {
  SAMPLE: 0,
  DROP: 1,
  DROP_PROPERTIES: 2,
  ALLOW_PROPERTIES: 3,
};

type Step =
  | { kind: 'drop' }
  | { kind: 'sample'; percent: number; key: ((m: JsonObject) => unknown) | null }
  | { kind: 'edit'; apply: (m: JsonObject) => JsonObject };

interface CompiledFilter {
  id: string;
  matches: (m: JsonObject) => boolean;
  steps: Step[];
}

/** A stored filter that no longer compiles must not let events through unfiltered. */
function failing(message: string): () => never {
  return () => {
    throw new Error(message);
  };
}

function pathOrThrow(source: string): string[] {
  const parsed = parseFqlPath(source);
  if (!parsed.ok) throw new Error(`invalid field path ${JSON.stringify(source)}: ${parsed.error.message}`);
  return parsed.value;
}

function compileCondition(source: string): (m: JsonObject) => boolean {
  if (source.trim() === 'all') return () => true;
  const compiled = compileFql(source);
  return compiled.ok ? compiled.value : failing(`invalid FQL at position ${compiled.error.position}: ${compiled.error.message}`);
}

function compileStep(action: FilterAction): Step {
  switch (action.type) {
    case 'DROP':
      return { kind: 'drop' };
    case 'SAMPLE':
      return { kind: 'sample', percent: action.percent, key: action.path ? compilePath(pathOrThrow(action.path)) : null };
    case 'DROP_PROPERTIES': {
      const paths: string[][] = [];
      for (const [object, relative] of Object.entries(action.fields)) {
        const base = object === '' ? [] : pathOrThrow(object);
        for (const path of relative) paths.push([...base, ...pathOrThrow(path)]);
      }
      return { kind: 'edit', apply: (m) => paths.reduce(withoutPath, m) };
    }
    case 'ALLOW_PROPERTIES': {
      const objects = Object.entries(action.fields).map(([object, relative]) => ({
        base: pathOrThrow(object),
        tree: buildAllowTree(relative.map(pathOrThrow)),
      }));
      return { kind: 'edit', apply: (m) => objects.reduce((acc, o) => keepOnly(acc, o.base, o.tree), m) };
    }
  }
}

function compileOne(filter: DestinationFilter): CompiledFilter {
  try {
    const ordered = [...filter.actions].sort((a, b) => ACTION_ORDER[a.type] - ACTION_ORDER[b.type]);
    return { id: filter.id, matches: compileCondition(filter.if), steps: ordered.map(compileStep) };
  } catch (error) {
    return { id: filter.id, matches: failing(errorText(error)), steps: [] };
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** FNV-1a over UTF-16 units, continuing from `h`; no string is built per event. */
function fnv1a(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

/**
 * Sampling is a hash, not a coin: the same key always gets the same answer, so
 * with `path: "userId"` a user is always in or always out (Segment: "sample 10%
 * of users by sampling on userId"), and a retried event is decided the same
 * way twice. Without a path, or when the path is missing or null on this event,
 * the key is the messageId (Segment's default samples events, not users). The
 * filter id salts the hash so two sampling filters choose independently.
 */
export function sampleBucket(filterId: string, key: string): number {
  // A 0 unit between the two strings, so ("ab", "c") and ("a", "bc") differ.
  let h = Math.imul(fnv1a(0x811c9dc5, filterId), 0x01000193);
  h = fnv1a(h, key);
  // murmur3's finalizer: FNV's low bits alone are not uniform enough for thresholds.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

function sampleKey(value: unknown, message: JsonObject): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value !== null && value !== undefined) return JSON.stringify(value);
  return typeof message.messageId === 'string' ? message.messageId : '';
}

/** The router's filter step for one destination instance. Never changes `message`. */
export function compileFilters(filters: readonly DestinationFilter[]): (message: SegmentMessage) => FilterResult {
  const compiled = filters.filter((f) => f.enabled).map(compileOne);
  if (compiled.length === 0) return (message) => ({ kind: 'keep', message });
  return (message) => {
    let current: JsonObject = message;
    for (const filter of compiled) {
      try {
        if (!filter.matches(message)) continue;
        for (const step of filter.steps) {
          if (step.kind === 'drop') return { kind: 'drop', filterId: filter.id, reason: 'filter_drop' };
          if (step.kind === 'sample') {
            const key = sampleKey(step.key ? step.key(message) : undefined, message);
            if (sampleBucket(filter.id, key) >= step.percent) {
              return { kind: 'drop', filterId: filter.id, reason: 'filter_sample' };
            }
          } else {
            current = step.apply(current);
          }
        }
      } catch (error) {
        return { kind: 'drop', filterId: filter.id, reason: 'filter_error', detail: errorText(error) };
      }
    }
    return { kind: 'keep', message: current as SegmentMessage };
  };
}

/** The Public API's preview: run one filter (enabled or not) on a sample event. */
export function previewFilter(filter: DestinationFilter, sampleEvent: SegmentMessage): { matched: boolean; result: FilterResult } {
  let matched = false;
  try {
    matched = compileCondition(filter.if)(sampleEvent);
  } catch {
    // An error is not a match; `result` carries the reason, as filter_error.
  }
  return { matched, result: compileFilters([{ ...filter, enabled: true }])(sampleEvent) };
}
