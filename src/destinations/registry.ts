import type { DestinationDefinition } from './types.js';
import { webhook } from './webhook/index.js';

/** Native destinations by type. The Actions catalog adapter (issue #3) adds its own entries. */
export const destinationTypes: ReadonlyMap<string, DestinationDefinition<never>> = new Map(
  [webhook].map((d) => [d.type, d as unknown as DestinationDefinition<never>]),
);
