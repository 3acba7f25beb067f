/**
 * The small part of `@segment/actions-core` (the Actions engine) this adapter uses,
 * typed here so the rest of Switchyard does not depend on the engine's own
 * declarations (loose `any`s, a DOM fetch) and so the engine is only loaded at run time.
 */

export type JsonMap = Record<string, unknown>;

/** A setting of the destination (`authentication.fields`). */
export interface ActionsSettingField {
  label?: string;
  description?: string;
  type: 'string' | 'text' | 'password' | 'number' | 'integer' | 'boolean' | 'object' | 'datetime';
  required?: boolean | object;
  default?: unknown;
  multiple?: boolean;
  format?: string;
  choices?: Array<string | { value: string | number; label: string }>;
}

export interface ActionsField extends ActionsSettingField {
  allowNull?: boolean;
  properties?: Record<string, ActionsField>;
}

export interface ActionsActionDefinition {
  title: string;
  description?: string;
  defaultSubscription?: string;
  fields: Record<string, ActionsField>;
  perform: unknown;
  performBatch?: unknown;
}

export interface ActionsPreset {
  name?: string;
  type?: 'automatic' | 'specificEvent';
  partnerAction: string;
  subscribe?: string;
  mapping?: JsonMap;
}

export interface ActionsDefinition {
  name: string;
  slug?: string;
  mode: string;
  description?: string;
  authentication?: {
    scheme: 'basic' | 'custom' | 'oauth2' | 'oauth-managed';
    fields: Record<string, ActionsSettingField>;
  };
  actions: Record<string, ActionsActionDefinition>;
  presets?: ActionsPreset[];
}

export interface OAuthTokens {
  accessToken?: string;
  refreshToken?: string;
  clientId?: string;
  clientSecret?: string;
  refreshTokenUrl?: string;
}

export interface ActionExecuteBundle {
  mapping: JsonMap;
  data: JsonMap;
  settings: JsonMap;
  auth?: OAuthTokens;
  features?: JsonMap;
  statsContext?: undefined;
}

/** One event's result in a batch (the engine's multistatus entry). */
export interface MultiStatusEntry {
  status: number;
  errormessage?: string;
  errortype?: string;
  body?: unknown;
}

export interface EngineAction {
  execute(bundle: ActionExecuteBundle): Promise<unknown[]>;
  executeBatch(bundle: Omit<ActionExecuteBundle, 'data'> & { data: JsonMap[] }): Promise<(MultiStatusEntry | undefined)[]>;
}

export interface EngineDestination {
  readonly actions: Record<string, EngineAction>;
  /** The engine appends every response here; we empty it after each delivery so it stays bounded. */
  readonly responses: unknown[];
  refreshAccessToken(settings: JsonMap, oauth: OAuthTokens): Promise<{ accessToken: string; refreshToken?: string } | undefined>;
}

export interface ActionsCore {
  Destination: new (definition: ActionsDefinition) => EngineDestination;
  validate?: unknown;
}
