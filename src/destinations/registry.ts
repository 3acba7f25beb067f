import type { DestinationDefinition } from './types.js';
import { webhook } from './webhook/index.js';
import { catalogEntries, createActionsDestination, unloadableActionsDestination } from './actions/index.js';

type AnyDefinition = DestinationDefinition<never>;

/**
 * Destination types by name: the native ones (webhook), then every destination of
 * Segment's Actions catalog as `actions-<slug>`.
 *
 * It is a ReadonlyMap so callers look types up synchronously, but catalog types
 * are made on first `get`: the catalog's list of names is read as text (no
 * destination code runs), and a destination's code is loaded only when a type is
 * asked for, i.e. when an instance of it exists. Iterating `values()`/`entries()`
 * loads every destination (~150 MB): listing names uses `keys()`.
 */
class DestinationTypeRegistry implements ReadonlyMap<string, AnyDefinition> {
  private readonly made = new Map<string, AnyDefinition>();

  constructor(private readonly native: ReadonlyMap<string, AnyDefinition>) {}

  get(type: string): AnyDefinition | undefined {
    const n = this.native.get(type);
    if (n) return n;
    let d = this.made.get(type);
    if (d) return d;
    const entry = catalogEntries().get(type);
    if (!entry) return undefined;
    try {
      d = createActionsDestination(entry) as unknown as AnyDefinition;
    } catch (err) {
      d = unloadableActionsDestination(entry, err);
    }
    this.made.set(type, d);
    return d;
  }

  has(type: string): boolean {
    return this.native.has(type) || catalogEntries().has(type);
  }

  get size(): number {
    return [...this.keys()].length;
  }

  *keys(): MapIterator<string> {
    yield* this.native.keys();
    for (const k of catalogEntries().keys()) if (!this.native.has(k)) yield k;
  }

  *values(): MapIterator<AnyDefinition> {
    for (const k of this.keys()) yield this.get(k)!;
  }

  *entries(): MapIterator<[string, AnyDefinition]> {
    for (const k of this.keys()) yield [k, this.get(k)!];
  }

  [Symbol.iterator](): MapIterator<[string, AnyDefinition]> {
    return this.entries();
  }

  forEach(cb: (value: AnyDefinition, key: string, map: ReadonlyMap<string, AnyDefinition>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this);
  }
}

export const destinationTypes: ReadonlyMap<string, AnyDefinition> = new DestinationTypeRegistry(
  new Map([webhook].map((d) => [d.type, d as unknown as AnyDefinition])),
);
