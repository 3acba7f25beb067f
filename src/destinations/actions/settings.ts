import { z } from 'zod';
import { compileFql } from '../../protocol/fql/index.js';
import { mappingValidator } from './catalog.js';
import type { ActionsDefinition, ActionsSettingField, JsonMap } from './engine-types.js';

/**
 * Settings of an Actions destination instance (what the workspace file's
 * `settings:` holds for a type `actions-<slug>`):
 *
 *   settings:
 *     settings: { apiKey: ..., secretKey: ..., endpoint: north_america }  # the destination's settings
 *     subscriptions:                          # optional; absent = the definition's automatic presets
 *       - name: Track Calls                   # optional
 *         partnerAction: logEvent             # an action key of the destination
 *         subscribe: type = "track"           # FQL; optional when the action has a defaultSubscription
 *         mapping: { event_type: { '@path': '$.event' } }  # mapping-kit; merged over the fields' defaults
 *         enabled: true                       # optional, default true
 *     oauth:                                  # OAuth destinations only (scheme oauth2 / oauth-managed)
 *       { access_token, refresh_token, clientId, clientSecret, refresh_token_url? }
 *
 * `settings` is validated against the definition's `authentication.fields`
 * (required fields, types, choices, defaults applied); errors name the field
 * (`settings.apiKey: required (API Key)`). Fields of type `password` are moved to
 * `secrets` in the validated form so the store encrypts them at rest (the store
 * encrypts whole top-level keys: `secrets` and `oauth`); validating the stored
 * form again merges them back, so parse(parse(x)) equals parse(x).
 */
export interface ActionsSubscription {
  /** Stable id for the Public API's subscription endpoints (absent in hand-written files). */
  id?: string;
  name?: string;
  partnerAction: string;
  subscribe: string;
  mapping: JsonMap;
  enabled: boolean;
}

export interface ActionsInstanceSettings {
  /** Non-secret destination settings. */
  settings: JsonMap;
  /** Password-type destination settings (encrypted at rest). */
  secrets: JsonMap;
  subscriptions?: ActionsSubscription[];
  oauth?: JsonMap;
}

/** Top-level keys the store must encrypt. */
export const ACTIONS_SECRET_KEYS = ['secrets', 'oauth'] as const;

export function isSecretField(field: ActionsSettingField): boolean {
  return field.type === 'password' || field.format === 'password';
}

export function isOAuth(def: ActionsDefinition): boolean {
  const scheme = def.authentication?.scheme;
  return scheme === 'oauth2' || scheme === 'oauth-managed';
}

export function instanceSettingsSchema(def: ActionsDefinition): z.ZodType<ActionsInstanceSettings> {
  const fields = def.authentication?.fields ?? {};
  const shape: Record<string, z.ZodType> = {};
  for (const [key, field] of Object.entries(fields)) shape[key] = fieldSchema(field);
  const actionKeys = Object.keys(def.actions);

  const subscription = z
    .strictObject({
      id: z.string().optional(),
      name: z.string().optional(),
      partnerAction: z.string({ error: requiredOr('(an action key)') }),
      subscribe: z.string().optional(),
      mapping: z.record(z.string(), z.unknown()).default({}),
      enabled: z.boolean().default(true),
    })
    .superRefine((s, ctx) => {
      const action = def.actions[s.partnerAction];
      if (!action) {
        ctx.addIssue({ code: 'custom', path: ['partnerAction'], message: `unknown action "${s.partnerAction}" of ${def.name}; actions: ${actionKeys.join(', ')}` });
        return;
      }
      const subscribe = s.subscribe ?? action.defaultSubscription;
      if (subscribe === undefined) {
        ctx.addIssue({ code: 'custom', path: ['subscribe'], message: `required (action "${s.partnerAction}" has no default subscription)` });
      } else {
        const compiled = compileFql(subscribe);
        if (!compiled.ok) ctx.addIssue({ code: 'custom', path: ['subscribe'], message: `invalid FQL at position ${compiled.error.position}: ${compiled.error.message}` });
      }
      for (const problem of mappingProblems(s.mapping)) ctx.addIssue({ code: 'custom', path: ['mapping', ...problem.path], message: problem.message });
      for (const key of Object.keys(s.mapping)) {
        // `enable_batching` is Segment's per-subscription batching toggle: accepted for
        // any action with performBatch, whether or not the action declares the field.
        const batchToggle = key === 'enable_batching' && typeof action.performBatch === 'function';
        if (!(key in action.fields) && !key.startsWith('__segment_internal') && !batchToggle) {
          ctx.addIssue({ code: 'custom', path: ['mapping', key], message: `unknown field of action "${s.partnerAction}"; fields: ${Object.keys(action.fields).join(', ')}` });
        }
      }
    })
    .transform((s): ActionsSubscription => ({ ...s, subscribe: s.subscribe ?? def.actions[s.partnerAction]!.defaultSubscription! }));

  const oauth = z.looseObject({
    access_token: z.string().optional(),
    refresh_token: z.string().optional(),
    clientId: z.string().optional(),
    clientSecret: z.string().optional(),
    refresh_token_url: z.string().optional(),
  });

  const instance = z.strictObject({
    // prefault, not default: an absent `settings` is still checked for required fields.
    settings: z.strictObject(shape).prefault({}),
    subscriptions: z.array(subscription).optional(),
    ...(isOAuth(def) ? { oauth: oauth.optional() } : {}),
  });

  return z
    .preprocess(mergeSecrets, instance)
    .transform((v): ActionsInstanceSettings => {
      const settings: JsonMap = {};
      const secrets: JsonMap = {};
      for (const [k, value] of Object.entries(v.settings as JsonMap)) {
        if (value === undefined) continue;
        if (fields[k] && isSecretField(fields[k])) secrets[k] = value;
        else settings[k] = value;
      }
      const out: ActionsInstanceSettings = { settings, secrets };
      if (v.subscriptions) out.subscriptions = v.subscriptions;
      const o = (v as { oauth?: JsonMap }).oauth;
      if (o) out.oauth = o;
      return out;
    });
}

/**
 * Directive syntax errors found by mapping-kit's own validator (`{ "@path": 42 }`),
 * so a broken mapping is refused when saved instead of failing every event.
 * Its messages read `/<path segments> <what is wrong>.`.
 */
function mappingProblems(mapping: JsonMap): { path: string[]; message: string }[] {
  try {
    mappingValidator()(mapping);
    return [];
  } catch (err) {
    const errors: unknown[] = typeof (err as Iterable<unknown>)[Symbol.iterator] === 'function' ? [...(err as Iterable<unknown>)] : [err];
    return errors.map((e) => {
      const text = e instanceof Error ? e.message : String(e);
      const m = /^\/(\S*) (.*?)\.?$/s.exec(text);
      return m ? { path: m[1]!.split('/').filter(Boolean), message: m[2]! } : { path: [], message: text };
    });
  }
}

/** The stored form keeps secrets apart; fold them back into `settings` before validating. */
function mergeSecrets(raw: unknown): unknown {
  if (!isRecord(raw) || !('secrets' in raw)) return raw;
  const { secrets, ...rest } = raw;
  if (secrets === undefined) return rest;
  if (!isRecord(secrets)) return raw; // let the schema complain about the unknown key
  return { ...rest, settings: { ...secrets, ...(isRecord(rest.settings) ? rest.settings : {}) } };
}

function fieldSchema(field: ActionsSettingField): z.ZodType {
  const label = field.label ? ` (${field.label})` : '';
  const error = requiredOr(label.trim());
  let base: z.ZodType;
  switch (field.type) {
    case 'boolean':
      base = z.boolean({ error });
      break;
    case 'number':
    case 'integer': {
      const n = z.number({ error });
      base = field.type === 'integer' ? n.int() : n;
      break;
    }
    case 'object':
      base = z.record(z.string(), z.unknown(), { error });
      break;
    default: {
      const values = (field.choices ?? []).map((c) => (typeof c === 'object' ? c.value : c));
      if (values.length > 0) {
        base = z.union(values.map((v) => z.literal(v)) as [z.ZodLiteral, ...z.ZodLiteral[]], {
          error: (iss) => (iss.input === undefined ? `required${label}` : `must be one of ${values.map((v) => JSON.stringify(v)).join(', ')}`),
        });
      } else if (field.format === 'uri') {
        base = z.string({ error }).refine((s) => URL.canParse(s), 'must be a URL');
      } else {
        base = z.string({ error });
      }
    }
  }
  if (field.multiple) base = z.array(base, { error });
  if (field.default !== undefined) return base.default(field.default as never);
  return field.required === true ? base : base.optional();
}

/** "required (API Key)" for a missing value; zod's own message otherwise. */
function requiredOr(what: string): (iss: { input?: unknown }) => string | undefined {
  return (iss) => (iss.input === undefined ? (what ? `required ${what}` : 'required') : undefined);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
