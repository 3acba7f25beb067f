import { catalogEntries, loadDefinition } from './catalog.js';
import type { ActionsField } from './engine-types.js';
import { isSecretField } from './settings.js';

/**
 * A catalog destination as plain JSON, for a catalog endpoint: metadata id, name,
 * slug, settings (with which are secret), actions with their fields and whether
 * they batch, and presets. Loads that one destination.
 */
export interface ActionsCatalogItem {
  type: string;
  id: string;
  slug: string;
  name: string;
  mode: string;
  description?: string;
  authentication: { scheme: string; fields: Record<string, FieldInfo & { secret: boolean }> };
  actions: { key: string; title: string; description?: string; defaultSubscription?: string; batching: boolean; fields: Record<string, FieldInfo> }[];
  presets: { name?: string; partnerAction: string; subscribe?: string; type: string }[];
}

export interface FieldInfo {
  label?: string;
  description?: string;
  type: string;
  required: boolean;
  multiple?: boolean;
  default?: unknown;
  format?: string;
  choices?: unknown[];
  properties?: Record<string, FieldInfo>;
}

export function describeActionsType(type: string): ActionsCatalogItem | undefined {
  const entry = catalogEntries().get(type);
  if (!entry) return undefined;
  const def = loadDefinition(entry);
  const settings = Object.fromEntries(Object.entries(def.authentication?.fields ?? {}).map(([k, f]) => [k, { ...fieldInfo(f), secret: isSecretField(f) }]));
  return {
    type,
    id: entry.id,
    slug: entry.slug,
    name: def.name,
    mode: def.mode,
    ...(def.description ? { description: def.description } : {}),
    authentication: { scheme: def.authentication?.scheme ?? 'none', fields: settings },
    actions: Object.entries(def.actions).map(([key, a]) => ({
      key,
      title: a.title,
      ...(a.description ? { description: a.description } : {}),
      ...(a.defaultSubscription ? { defaultSubscription: a.defaultSubscription } : {}),
      batching: typeof a.performBatch === 'function',
      fields: Object.fromEntries(Object.entries(a.fields ?? {}).map(([k, f]) => [k, fieldInfo(f)])),
    })),
    presets: (def.presets ?? []).map((p) => ({ ...(p.name ? { name: p.name } : {}), partnerAction: p.partnerAction, ...(p.subscribe ? { subscribe: p.subscribe } : {}), type: p.type ?? 'automatic' })),
  };
}

/** Only the declarative parts: definitions also hold functions (dynamic choices). */
function fieldInfo(f: ActionsField): FieldInfo {
  const info: FieldInfo = { type: f.type, required: f.required === true };
  if (f.label) info.label = f.label;
  if (f.description) info.description = f.description;
  if (f.multiple) info.multiple = true;
  if (f.default !== undefined && typeof f.default !== 'function') info.default = f.default;
  if (f.format) info.format = f.format;
  if (Array.isArray(f.choices)) info.choices = f.choices;
  if (f.properties) info.properties = Object.fromEntries(Object.entries(f.properties).map(([k, p]) => [k, fieldInfo(p)]));
  return info;
}
