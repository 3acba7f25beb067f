import type { FunctionLookup } from '../destinations/registry.js';
import { withInsertFunction } from '../destinations/function/index.js';
import type { DestinationDefinition } from '../destinations/types.js';
import { functionIdOfType } from '../functions/types.js';
import { ControlPlaneEmptyError } from '../store/control-plane.js';
import type { ControlPlaneSnapshot, ControlPlaneStore, DestinationInstance } from '../store/types.js';

/** Where the destination registry finds destination functions: this thread's snapshot of the control plane. */
export function functionLookup(store: ControlPlaneStore): FunctionLookup {
  return (functionId) => {
    let snap: ControlPlaneSnapshot;
    try {
      snap = store.snapshot();
    } catch (err) {
      if (err instanceof ControlPlaneEmptyError) return undefined;
      throw err;
    }
    const spec = snap.functions.find((f) => f.id === functionId);
    return spec ? { spec, workspaceName: snap.workspace.name } : undefined;
  };
}

/** The enabled insert function of a destination instance, with its function's deployed version. */
function insertFor(snap: ControlPlaneSnapshot, destinationId: string) {
  const instance = snap.insertFunctions.find((i) => i.destinationId === destinationId && i.enabled);
  const spec = instance && snap.functions.find((f) => f.id === instance.functionId && f.deployed !== null);
  return instance && spec ? { instance, spec } : undefined;
}

/**
 * What else a runner depends on besides the instance itself: the deployed version
 * of its destination function and its insert function (and that one's settings).
 * A deploy or an insert-function change rebuilds the runner on the same lane.
 */
export function functionRevision(snap: ControlPlaneSnapshot, d: DestinationInstance): unknown[] {
  const own = functionIdOfType(d.type);
  const ownVersion = own === undefined ? null : (snap.functions.find((f) => f.id === own)?.deployed?.version ?? null);
  const insert = insertFor(snap, d.id);
  return [ownVersion, insert ? [insert.instance.id, insert.spec.deployed!.version, insert.instance.settings] : null];
}

/** The instance's definition with its insert function in front, when it has an enabled one. */
export function withInsert<S>(snap: ControlPlaneSnapshot, d: DestinationInstance, definition: DestinationDefinition<S>): DestinationDefinition<S> {
  const insert = insertFor(snap, d.id);
  return insert ? withInsertFunction(definition, insert.spec, insert.instance.settings) : definition;
}
