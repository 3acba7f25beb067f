import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ActionsCore, ActionsDefinition } from './engine-types.js';

/**
 * Segment's Actions catalog (`@segment/action-destinations`), loaded lazily.
 *
 * Importing the package's index loads all ~214 destinations (~150 MB). Instead we
 * read the index's `register('<metadata id>', './<directory>')` lines and each
 * destination's `slug:` as text (no code runs), and `require` one destination's
 * folder only when an instance of it exists. Loaded definitions are kept, the
 * rest of the catalog never is.
 *
 * Type names are `actions-<slug>`, except that slugs already starting with
 * `actions-` (most of them: `actions-amplitude`) are used as they are.
 */
export interface CatalogEntry {
  /** Segment's metadata id, e.g. `5f7dd6d21ad74f3842b1fc47` for Amplitude. */
  id: string;
  /** Folder under dist/destinations, e.g. `amplitude`. */
  directory: string;
  /** The definition's `slug` as read from its source (verified on load). */
  slug: string;
  /** Switchyard destination type, e.g. `actions-amplitude`. */
  type: string;
  /** The definition's display `name`, read from its source like the slug. */
  name: string;
}

const require = createRequire(import.meta.url);

let packageDir: string | undefined;
function destinationsDir(): string {
  packageDir ??= path.dirname(require.resolve('@segment/action-destinations'));
  return path.join(packageDir, 'destinations');
}

/** The engine, resolved from the catalog's own location so `instanceof` checks and the fetch hook see the same copy the destinations use. */
let core: ActionsCore | undefined;
export function actionsCore(): ActionsCore {
  if (!core) {
    const fromCatalog = createRequire(path.join(destinationsDir(), 'index.js'));
    core = fromCatalog('@segment/actions-core') as ActionsCore;
  }
  return core;
}

/** The engine's fetch module (cross-fetch): the one place all its HTTP goes through. */
export function actionsCoreFetchModule(): { default: unknown; Response: unknown } {
  const fromCatalog = createRequire(path.join(destinationsDir(), 'index.js'));
  const main = fromCatalog.resolve('@segment/actions-core');
  return fromCatalog(path.join(path.dirname(main), 'fetch.js')) as { default: unknown; Response: unknown };
}

/** mapping-kit's `validate` (directive syntax); throws ValidationError or an AggregateError of them. */
export function mappingValidator(): (mapping: unknown) => void {
  const fromCatalog = createRequire(path.join(destinationsDir(), 'index.js'));
  const main = fromCatalog.resolve('@segment/actions-core');
  return (fromCatalog(path.join(path.dirname(main), 'mapping-kit', 'validate.js')) as { default: (m: unknown) => void }).default;
}

export function typeNameForSlug(slug: string): string {
  return slug.startsWith('actions-') ? slug : `actions-${slug}`;
}

const REGISTER = /^register\('([0-9a-f]+)',\s*'\.\/([^']+)'\);$/gm;
// The definition object literal is indented 4 spaces in the compiled index.js;
// its first `slug:` at that depth is the destination's (checked for all 214 in 3.497).
const SLUG = /^ {4}slug: (['"])([^'"]+)\1/m;
const NAME = /^ {4}name: (['"])([^'"]+)\1/m;

let entries: Map<string, CatalogEntry> | undefined;

/** Every catalog destination by Switchyard type, read from text (no destination code runs). */
export function catalogEntries(): ReadonlyMap<string, CatalogEntry> {
  if (entries) return entries;
  const dir = destinationsDir();
  const index = fs.readFileSync(path.join(dir, 'index.js'), 'utf8');
  const found = new Map<string, CatalogEntry>();
  for (const m of index.matchAll(REGISTER)) {
    const [, id, directory] = m as unknown as [string, string, string];
    let slug = directory;
    let name = directory;
    try {
      const source = fs.readFileSync(path.join(dir, directory, 'index.js'), 'utf8');
      slug = SLUG.exec(source)?.[2] ?? directory;
      name = NAME.exec(source)?.[2] ?? slug;
    } catch {
      continue; // a registered folder without an index.js cannot be loaded either
    }
    const type = typeNameForSlug(slug);
    if (!found.has(type)) found.set(type, { id, directory, slug, type, name });
  }
  entries = found;
  return found;
}

const loaded = new Map<string, ActionsDefinition>();

/** Loads one destination's definition (synchronously: settings are validated in sync code paths). */
export function loadDefinition(entry: CatalogEntry): ActionsDefinition {
  let def = loaded.get(entry.type);
  if (def) return def;
  const mod = require(path.join(destinationsDir(), entry.directory)) as { default?: ActionsDefinition };
  def = mod.default;
  if (!def || typeof def.actions !== 'object') throw new Error(`catalog destination ${entry.directory} has no definition`);
  if ((def.slug ?? entry.directory) !== entry.slug) {
    throw new Error(`catalog destination ${entry.directory}: slug "${def.slug ?? ''}" differs from the index read ("${entry.slug}")`);
  }
  loaded.set(entry.type, def);
  return def;
}
