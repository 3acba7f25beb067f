import type { JsonObject } from '../types.js';

/**
 * Copy-on-write edits of an event by field path, for destination filters'
 * DROP_PROPERTIES and ALLOW_PROPERTIES. Paths use FQL's syntax (parsed by
 * `parseFqlPath`). The input is never changed: only the objects on the way to
 * an edit are copied, everything else is shared, and an edit that finds
 * nothing returns the very same object (so callers can tell "unchanged" by `===`).
 *
 * A list met in the middle of a path applies the rest of the path to every
 * element: `properties.products.price` removes `price` from each product, as
 * Segment documents ("you can't filter properties out of a single object in an
 * array"). A list at the end of a path is removed or kept whole.
 */

/** An allow-list as a tree: `true` keeps the whole value, a subtree keeps only its named children. */
export type AllowTree = Map<string, AllowTree | true>;

const REMOVE = Symbol('remove');
type Edit = (value: unknown) => unknown;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `out[key] = value` that also works for a key named `__proto__` (JSON.parse makes those own keys). */
function setOwn(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

/** A shallow copy with `key` replaced, or removed when `value` is REMOVE; key order is kept. */
function replaceKey(obj: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(obj)) {
    if (k !== key) setOwn(out, k, obj[k]);
    else if (value !== REMOVE) setOwn(out, k, value);
  }
  return out;
}

function updateAt(value: unknown, path: readonly string[], i: number, edit: Edit): unknown {
  if (Array.isArray(value)) {
    let out: unknown[] | null = null;
    for (let k = 0; k < value.length; k++) {
      const next = updateAt(value[k], path, i, edit);
      if (next !== value[k]) (out ??= value.slice())[k] = next;
    }
    return out ?? value;
  }
  if (!isPlainObject(value)) return value;
  const key = path[i];
  if (!Object.hasOwn(value, key)) return value;
  const child = value[key];
  const next = i === path.length - 1 ? edit(child) : updateAt(child, path, i + 1, edit);
  return next === child ? value : replaceKey(value, key, next);
}

/** The event without the field at `path` (in every element of lists along the way). */
export function withoutPath(root: JsonObject, path: readonly string[]): JsonObject {
  if (path.length === 0) return root;
  return updateAt(root, path, 0, () => REMOVE) as JsonObject;
}

/**
 * Inside the object at `objectPath`, keep only what `tree` names. An empty
 * `objectPath` is the event itself. A missing object stays missing; a value
 * there that is not an object or list is removed, since none of it was allowed.
 */
export function keepOnly(root: JsonObject, objectPath: readonly string[], tree: AllowTree): JsonObject {
  if (objectPath.length === 0) return (allowIn(root, tree) ?? {}) as JsonObject;
  return updateAt(root, objectPath, 0, (value) => allowIn(value, tree) ?? REMOVE) as JsonObject;
}

/** Build the tree from relative paths; `a` next to `a.b` keeps all of `a`. */
export function buildAllowTree(paths: readonly (readonly string[])[]): AllowTree {
  const root: AllowTree = new Map();
  for (const path of paths) {
    let node = root;
    for (let i = 0; i < path.length; i++) {
      const key = path[i];
      const existing = node.get(key);
      if (existing === true) break;
      if (i === path.length - 1) {
        node.set(key, true);
        break;
      }
      let child = existing;
      if (child === undefined) {
        child = new Map();
        node.set(key, child);
      }
      node = child;
    }
  }
  return root;
}

/**
 * Returns the allowed part of `value`, the same reference when all of it is
 * allowed, or undefined when nothing of it is. In a list, objects are
 * filtered one by one and other elements (which cannot hold a named field)
 * are left out: an allow-list only ever lets through what it names.
 */
function allowIn(value: unknown, tree: AllowTree): unknown {
  if (Array.isArray(value)) {
    let changed = false;
    const out: unknown[] = [];
    for (const element of value) {
      const kept = allowIn(element, tree);
      if (kept === undefined) changed = true;
      else {
        if (kept !== element) changed = true;
        out.push(kept);
      }
    }
    return changed ? out : value;
  }
  if (!isPlainObject(value)) return undefined;
  const out: Record<string, unknown> = {};
  let changed = false;
  for (const key of Object.keys(value)) {
    const rule = tree.get(key);
    const child = value[key];
    if (rule === undefined) {
      changed = true;
      continue;
    }
    const kept = rule === true ? child : allowIn(child, rule);
    if (kept === undefined) {
      changed = true;
      continue;
    }
    if (kept !== child) changed = true;
    setOwn(out, key, kept);
  }
  return changed ? out : value;
}
