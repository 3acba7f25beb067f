import { ControlPlaneEmptyError } from '../store/control-plane.js';
import type { ControlPlaneSnapshot, ControlPlaneStore, DestinationInstance, Source } from '../store/types.js';

/** The current configuration, or null before any workspace was applied. */
export function snapshotOrNull(store: ControlPlaneStore): ControlPlaneSnapshot | null {
  try {
    return store.snapshot();
  } catch (err) {
    if (err instanceof ControlPlaneEmptyError) return null;
    throw err;
  }
}

export function findDestination(store: ControlPlaneStore, id: string): DestinationInstance | undefined {
  return snapshotOrNull(store)?.destinations.find((d) => d.id === id);
}

export function findSource(store: ControlPlaneStore, id: string): Source | undefined {
  return snapshotOrNull(store)?.sources.find((s) => s.id === id);
}
