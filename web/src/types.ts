/** The Public API's shapes the console reads (subset of @segment/public-api-sdk-typescript's models). */
export interface User { id: string; name: string; email: string; role?: string; permissions?: Permission[] }
export interface Permission { roleId: string; roleName?: string; resources: { id: string; type: string; labels?: { key: string; value: string }[] }[] }
export interface Session { needsSetup: boolean; user: User | null; csrfToken: string | null }
export interface Label { key: string; value: string; description?: string }
export interface SourceMetadata { id: string; slug: string; name: string; description: string; categories: string[]; logos?: { default?: string } }
export interface Source {
  id: string; slug: string; name?: string; metadata: SourceMetadata; workspaceId: string; enabled: boolean;
  writeKeys: string[]; settings?: Record<string, unknown>; labels: Label[];
}
export interface DestinationMetadata { id: string; name: string; slug: string; description?: string; type?: string; categories?: string[] }
export interface Destination {
  id: string; name?: string; enabled: boolean; metadata: DestinationMetadata; sourceId: string; settings: Record<string, unknown>;
}
export interface Subscription {
  id: string; name: string; actionId: string; actionSlug: string; destinationId: string; enabled: boolean;
  settings: Record<string, unknown>; trigger: string;
}
export interface FilterAction { type: 'DROP' | 'DROP_PROPERTIES' | 'ALLOW_PROPERTIES' | 'SAMPLE'; fields?: Record<string, unknown>; percent?: number; path?: string }
export interface Filter {
  id: string; sourceId: string; destinationId: string; if: string; actions: FilterAction[]; title: string;
  description?: string; enabled: boolean; createdAt: string; updatedAt: string;
}
export interface Role { id: string; name: string; description: string }
export interface AuditEvent {
  id: string; timestamp: string; type: string; actor: string; actorEmail?: string; resourceId: string; resourceType: string; resourceName: string;
}
export interface Token { id: string; description: string; createdAt?: string; permissions?: Permission[]; lastUsedAt?: string | null; revokedAt?: string | null }

/** `GET /api/v1/catalog/destinations/:type`. */
export interface FieldInfo {
  label?: string; description?: string; type: string; required: boolean; multiple?: boolean; default?: unknown;
  format?: string; choices?: unknown[]; properties?: Record<string, FieldInfo>; secret?: boolean;
}
export interface JsonSchema {
  type?: string | string[]; properties?: Record<string, JsonSchema>; required?: string[]; items?: JsonSchema;
  format?: string; default?: unknown; minItems?: number; maxItems?: number; minLength?: number; enum?: unknown[];
  description?: string; title?: string; additionalProperties?: boolean | JsonSchema;
}
export interface CatalogDestination {
  type: string; name: string; slug: string; kind: 'native' | 'actions'; metadataId?: string; description?: string;
  supportedTypes?: string[]; settings?: JsonSchema; secretSettings?: string[];
  authentication?: { scheme: string; fields: Record<string, FieldInfo> };
  actions?: { key: string; title: string; description?: string; defaultSubscription?: string; batching: boolean; fields: Record<string, FieldInfo> }[];
  presets?: { name?: string; partnerAction: string; subscribe?: string; type: string }[];
}
export interface DebuggerEntry { receivedAt?: string | number; type?: string; event?: string; raw?: unknown; enriched: Record<string, unknown>; [k: string]: unknown }

/** `GET /warehouses/:id` (WarehouseV1, plus `name` at the top). */
export interface Warehouse {
  id: string; name?: string; workspaceId?: string; enabled?: boolean; type?: string;
  metadata?: { id?: string; name?: string; slug?: string };
  settings?: Record<string, unknown>;
  /** `file`: declared in the workspace file (read-only here); `api`: made through the API. */
  origin?: 'file' | 'api';
}
/** `GET /warehouses/:id/connected-sources/:sourceId/selective-syncs` items: the collections with an override. */
export interface SelectiveSyncItem { sourceId: string; collection: string; warehouseId?: string; enabled: boolean; properties: Record<string, boolean> }
/** `POST /warehouses/validation`. */
export interface WarehouseValidation { status: 'CONNECTED' | 'FAILED' | string; message?: string }
