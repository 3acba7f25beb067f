/**
 * Functions (Segment's source, destination and insert functions): the contract
 * between the sandbox that runs a function's code (sandbox.ts, isolated-vm) and
 * the parts of the pipeline that call it (destination functions in the router,
 * insert functions before a destination, source functions on the tracking port).
 */

/** Segment's three kinds of function (Public API `resourceType`). */
export type FunctionKind = 'DESTINATION' | 'INSERT_DESTINATION' | 'SOURCE';

/** The handlers a function may define; which are called depends on its kind. */
export const EVENT_HANDLERS = {
  track: 'onTrack',
  identify: 'onIdentify',
  page: 'onPage',
  screen: 'onScreen',
  group: 'onGroup',
  alias: 'onAlias',
  delete: 'onDelete',
} as const;
export type HandlerName = (typeof EVENT_HANDLERS)[keyof typeof EVENT_HANDLERS] | 'onBatch' | 'onRequest';

/**
 * How an invocation ended, by the error the code threw (Segment's error types):
 * - `EventNotSupported`: no handler for the event's type, or the code threw it;
 * - `ValidationError`, `InvalidEventPayload`: the event cannot be delivered (discard);
 * - `DropEvent`: an insert function filtered the event out (not a failure);
 * - `RetryError`, `Timeout`: temporary, retried with backoff;
 * - `Error`: anything else the code threw (a TypeError, a plain Error, a rejected fetch);
 * - `MemoryLimit`: the isolate ran out of its memory limit (the sandbox is rebuilt).
 */
export type FunctionErrorKind =
  | 'EventNotSupported'
  | 'ValidationError'
  | 'InvalidEventPayload'
  | 'DropEvent'
  | 'RetryError'
  | 'Timeout'
  | 'MemoryLimit'
  | 'Error';

export interface FunctionError {
  kind: FunctionErrorKind;
  /** The error's `name` as the code set it (a custom error class keeps its own). */
  name: string;
  message: string;
  stack?: string;
}

/** One HTTP exchange the code made with `fetch`, as the host carried it out. */
export interface FunctionFetch {
  method: string;
  url: string;
  status?: number;
  error?: string;
  durationMs: number;
}

/** A message the code sent with `Segment.track()` etc. (source functions), as given. */
export interface EmittedMessage {
  type: 'identify' | 'track' | 'page' | 'screen' | 'group' | 'alias' | 'set';
  fields: Record<string, unknown>;
}

export type InvokeResult =
  | { ok: true; value: unknown; logs: string[]; fetches: FunctionFetch[]; emitted: EmittedMessage[] }
  | { ok: false; error: FunctionError; logs: string[]; fetches: FunctionFetch[]; emitted: EmittedMessage[] };

/** What the host does for the code's `fetch(url, init)`. */
export interface SandboxFetchRequest {
  url: string;
  method: string;
  headers: [string, string][];
  body?: string;
}
export interface SandboxFetchResponse {
  status: number;
  statusText: string;
  headers: [string, string][];
  body: string;
  url: string;
}
export type SandboxFetch = (req: SandboxFetchRequest) => Promise<SandboxFetchResponse>;

export interface SandboxOptions {
  /** Isolate heap limit in MB (default 128). */
  memoryMb?: number;
  /** Wall-clock limit of one invocation, fetches included (default 5,000 ms, Segment's). */
  timeoutMs?: number;
  /** Every `fetch` of the code goes through this (the router's request function in production). */
  fetch: SandboxFetch;
}

/** Raised by `compileFunction` when the code does not compile or defines none of the handlers its kind needs. */
export class FunctionCodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FunctionCodeError';
  }
}

/** One setting a function declares (Public API `FunctionSettingV1`); instances fill in the values. */
export interface FunctionSetting {
  name: string;
  label: string;
  description: string;
  type: 'ARRAY' | 'BOOLEAN' | 'STRING' | 'TEXT_MAP';
  required: boolean;
  /** Its values are secrets: encrypted at rest, masked in the API's answers. */
  sensitive: boolean;
}

/** A version of a function's code and settings; versions are numbered from 1 and never change. */
export interface FunctionVersion {
  version: number;
  code: string;
  settings: FunctionSetting[];
  createdAt: number;
  createdBy: string;
}

/**
 * A function as the control plane holds it. `latest` is what the editor (and the
 * API's getFunction) shows; `deployed` is what instances run: saving new code does
 * not change running instances until it is deployed (Segment's "Save" against
 * "Save & Deploy").
 */
export interface FunctionSpec {
  id: string;
  kind: FunctionKind;
  displayName: string;
  description: string;
  logoUrl: string;
  latest: FunctionVersion;
  deployed: (FunctionVersion & { deployedAt: number }) | null;
  createdAt: number;
  createdBy: string;
}

/** An insert function connected to one destination instance (Public API `InsertFunctionInstanceAlpha`). */
export interface InsertFunctionInstance {
  id: string;
  functionId: string;
  destinationId: string;
  name: string;
  enabled: boolean;
  /** Decrypted setting values (sensitive ones are encrypted at rest). */
  settings: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

/** Destination instances of a destination function have this type: `function-<function id>`. */
export const FUNCTION_TYPE_PREFIX = 'function-';
export const functionType = (functionId: string) => `${FUNCTION_TYPE_PREFIX}${functionId}`;
export const functionIdOfType = (type: string): string | undefined =>
  type.startsWith(FUNCTION_TYPE_PREFIX) ? type.slice(FUNCTION_TYPE_PREFIX.length) : undefined;
