import { parseFql, parseFqlPath } from '../protocol/fql/index.js';
import type { FieldError, Result } from '../protocol/types.js';
import type { DestinationFilter, FilterAction } from './filters.js';

/**
 * Validation of destination filters as the Public API receives them. Split from
 * filters.ts (which re-exports it) to keep each file readable in one sitting.
 * Every error names the field (`filters[2].actions[0].percent`) and, for FQL
 * and field paths, the position of the mistake.
 */

export const MAX_FILTERS_PER_DESTINATION = 10;
/** The objects ALLOW_PROPERTIES / DROP_PROPERTIES may edit (Segment: properties, context, traits). */
export const FILTER_FIELD_OBJECTS: readonly string[] = ['properties', 'traits', 'context'];
/** Top-level fields no filter may remove: routing needs `type`, dedupe and delivery records need `messageId`. */
const PROTECTED_TOP_LEVEL = new Set(['type', 'messageId']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function absent(v: unknown): boolean {
  // Public API clients and Terraform send explicit nulls for unused action fields.
  return v === undefined || v === null;
}

function requireString(obj: Record<string, unknown>, key: string, at: string, errors: FieldError[]): string {
  const v = obj[key];
  if (typeof v === 'string' && v.trim() !== '') return v;
  errors.push({ field: `${at}.${key}`, message: 'must be a non-empty string' });
  return '';
}

function validateFields(raw: unknown, type: string, at: string, errors: FieldError[]): Record<string, string[]> {
  const fields: Record<string, string[]> = {};
  if (!isRecord(raw) || Object.keys(raw).length === 0) {
    errors.push({ field: `${at}.fields`, message: `${type} needs fields, e.g. { "properties": ["email"] }` });
    return fields;
  }
  for (const [object, paths] of Object.entries(raw)) {
    const where = `${at}.fields[${JSON.stringify(object)}]`;
    if (object === '') {
      if (type === 'ALLOW_PROPERTIES') {
        errors.push({ field: where, message: 'ALLOW_PROPERTIES applies inside properties, traits or context, not to the whole event' });
      }
    } else {
      const parsed = parseFqlPath(object);
      if (!parsed.ok) errors.push({ field: where, message: `invalid object path at position ${parsed.error.position}: ${parsed.error.message}` });
      else if (!FILTER_FIELD_OBJECTS.includes(parsed.value[0])) {
        errors.push({ field: where, message: `must be inside ${FILTER_FIELD_OBJECTS.join(', ')} (or "" for top-level fields)` });
      }
    }
    if (!Array.isArray(paths) || paths.length === 0) {
      errors.push({ field: where, message: 'must be a non-empty list of field paths' });
      continue;
    }
    paths.forEach((path, j) => {
      const parsed = typeof path === 'string' ? parseFqlPath(path) : null;
      if (!parsed || !parsed.ok) {
        const why = parsed ? ` at position ${parsed.error.position}: ${parsed.error.message}` : '';
        errors.push({ field: `${where}[${j}]`, message: `must be a field path${why}` });
      } else if (object === '' && PROTECTED_TOP_LEVEL.has(parsed.value[0])) {
        errors.push({ field: `${where}[${j}]`, message: `${parsed.value[0]} cannot be removed from an event` });
      }
    });
    fields[object] = paths.filter((p): p is string => typeof p === 'string');
  }
  return fields;
}

function validateAction(raw: unknown, at: string, errors: FieldError[]): FilterAction | null {
  if (!isRecord(raw)) {
    errors.push({ field: at, message: 'must be an object' });
    return null;
  }
  const { type } = raw;
  const forbid = (...keys: string[]): void => {
    for (const key of keys) {
      if (!absent(raw[key])) errors.push({ field: `${at}.${key}`, message: `not allowed for ${String(type)}` });
    }
  };
  switch (type) {
    case 'DROP':
      forbid('fields', 'percent', 'path');
      return { type };
    case 'DROP_PROPERTIES':
    case 'ALLOW_PROPERTIES':
      forbid('percent', 'path');
      return { type, fields: validateFields(raw.fields, type, at, errors) };
    case 'SAMPLE': {
      forbid('fields');
      const { percent, path } = raw;
      if (typeof percent !== 'number' || !Number.isFinite(percent) || percent < 0 || percent > 1) {
        errors.push({ field: `${at}.percent`, message: 'must be a fraction between 0 and 1 (0.1 keeps 10%)' });
      }
      const action: FilterAction = { type, percent: typeof percent === 'number' ? percent : 0 };
      if (!absent(path)) {
        const parsed = typeof path === 'string' ? parseFqlPath(path) : null;
        if (!parsed || !parsed.ok) errors.push({ field: `${at}.path`, message: 'must be a field path such as userId' });
        else action.path = path as string;
      }
      return action;
    }
    default:
      errors.push({ field: `${at}.type`, message: 'must be one of DROP, DROP_PROPERTIES, ALLOW_PROPERTIES, SAMPLE' });
      return null;
  }
}

/** One filter as the Public API receives it; `at` prefixes every error's field. */
export function validateFilter(raw: unknown, at = 'filter'): Result<DestinationFilter, FieldError[]> {
  const errors: FieldError[] = [];
  if (!isRecord(raw)) return { ok: false, error: [{ field: at, message: 'must be an object' }] };
  const id = requireString(raw, 'id', at, errors);
  const sourceId = requireString(raw, 'sourceId', at, errors);
  const destinationId = requireString(raw, 'destinationId', at, errors);
  const title = requireString(raw, 'title', at, errors);
  const condition = requireString(raw, 'if', at, errors);
  if (condition && condition.trim() !== 'all') {
    const parsed = parseFql(condition);
    if (!parsed.ok) {
      errors.push({ field: `${at}.if`, message: `invalid FQL at position ${parsed.error.position}: ${parsed.error.message}` });
    }
  }
  if (typeof raw.enabled !== 'boolean') errors.push({ field: `${at}.enabled`, message: 'must be true or false' });
  if (!absent(raw.description) && typeof raw.description !== 'string') {
    errors.push({ field: `${at}.description`, message: 'must be a string' });
  }
  const actions: FilterAction[] = [];
  if (!Array.isArray(raw.actions) || raw.actions.length === 0) {
    errors.push({ field: `${at}.actions`, message: 'must be a non-empty list' });
  } else {
    raw.actions.forEach((action, j) => {
      const valid = validateAction(action, `${at}.actions[${j}]`, errors);
      if (valid) actions.push(valid);
    });
  }
  if (errors.length > 0) return { ok: false, error: errors };
  const filter: DestinationFilter = { id, sourceId, destinationId, if: condition, actions, title, enabled: raw.enabled === true };
  if (typeof raw.description === 'string') filter.description = raw.description;
  return { ok: true, value: filter };
}

/** A list of filters: each valid, ids unique, at most 10 per destination instance (Segment's limit). */
export function validateFilters(filters: unknown): Result<DestinationFilter[], FieldError[]> {
  if (!Array.isArray(filters)) return { ok: false, error: [{ field: 'filters', message: 'must be a list' }] };
  const errors: FieldError[] = [];
  const valid: DestinationFilter[] = [];
  const ids = new Set<string>();
  const perDestination = new Map<string, number>();
  filters.forEach((raw, i) => {
    const result = validateFilter(raw, `filters[${i}]`);
    if (!result.ok) {
      errors.push(...result.error);
      return;
    }
    const filter = result.value;
    if (ids.has(filter.id)) errors.push({ field: `filters[${i}].id`, message: `duplicate filter id ${filter.id}` });
    ids.add(filter.id);
    const count = (perDestination.get(filter.destinationId) ?? 0) + 1;
    perDestination.set(filter.destinationId, count);
    if (count === MAX_FILTERS_PER_DESTINATION + 1) {
      errors.push({
        field: `filters[${i}]`,
        message: `destination ${filter.destinationId} has more than ${MAX_FILTERS_PER_DESTINATION} filters`,
        limit: `${MAX_FILTERS_PER_DESTINATION} filters per destination`,
      });
    }
    valid.push(filter);
  });
  return errors.length > 0 ? { ok: false, error: errors } : { ok: true, value: valid };
}

