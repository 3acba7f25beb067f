import type { DestinationDefinition } from './types.js';
import { webhook } from './webhook/index.js';
import { catalogEntries, createActionsDestination, unloadableActionsDestination } from './actions/index.js';
import { destinationFunction } from './function/index.js';
import { functionIdOfType, type FunctionSpec } from '../functions/types.js';

type AnyDefinition = DestinationDefinition<never>;

/** Finds a function by id in this thread's control-plane snapshot (set where a store is open). */
export type FunctionLookup = (functionId: string) => { spec: FunctionSpec; workspaceName: string } | undefined;
let lookupFunction: FunctionLookup = () => undefined;
/** Destination functions are types (`function-<id>`) found in the control plane, not in code: this says where to look. */
export function setFunctionLookup(lookup: FunctionLookup): void {
  lookupFunction = lookup;
}

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
  private readonly functions = new Map<string, { key: string; definition: AnyDefinition }>();

  constructor(private readonly native: ReadonlyMap<string, AnyDefinition>) {}

  get(type: string): AnyDefinition | undefined {
    const n = this.native.get(type);
    if (n) return n;
    const functionId = functionIdOfType(type);
    if (functionId !== undefined) return this.destinationFunction(functionId);
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
    const functionId = functionIdOfType(type);
    if (functionId !== undefined) return this.destinationFunction(functionId) !== undefined;
    return this.native.has(type) || catalogEntries().has(type);
  }

  /** A deployed destination function's type, made once per deployed version (and workspace name, part of its integrations key). */
  private destinationFunction(functionId: string): AnyDefinition | undefined {
    const found = lookupFunction(functionId);
    if (!found || found.spec.kind !== 'DESTINATION' || !found.spec.deployed) return undefined;
    const key = `${found.spec.deployed.version}/${found.workspaceName}`;
    const cached = this.functions.get(functionId);
    if (cached?.key === key) return cached.definition;
    const definition = destinationFunction(found.spec, found.workspaceName) as unknown as AnyDefinition;
    this.functions.set(functionId, { key, definition });
    return definition;
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
