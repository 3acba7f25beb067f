import { z } from 'zod';
import type { Result } from '../protocol/types.js';
import type { ConfigError, DestinationTypes } from './workspace-file.js';

/**
 * Validates a destination instance's settings against its type's schema, for the
 * workspace file and the Public API alike. Returns the settings with defaults
 * applied and the top-level keys to encrypt, or errors whose paths start with
 * `prefix` (`destinations[2].settings.apiKey`, `settings.apiKey`).
 */
export function checkDestinationSettings(
  types: DestinationTypes, typeName: string, raw: unknown, prefix: readonly PropertyKey[], typePath: string,
): Result<{ settings: Record<string, unknown>; secretSettings: string[] }, ConfigError[]> {
  const type = types.get(typeName);
  if (!type) {
    return { ok: false, error: [{ path: typePath, message: `unknown destination type "${typeName}"; known types: ${list([...types.keys()])}` }] };
  }
  const settings = type.settingsSchema.safeParse(raw, { error: requiredMessage });
  if (!settings.success) return { ok: false, error: zodErrors(settings.error.issues, prefix) };
  if (!isRecord(settings.data)) return { ok: false, error: [{ path: formatPath(prefix), message: 'must be an object' }] };
  return { ok: true, value: { settings: settings.data, secretSettings: [...type.secretSettings] } };
}

export function zodErrors(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[]): ConfigError[] {
  return issues.flatMap((issue) => {
    const at = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: formatPath([...at, key]), message: 'unknown field' }));
    }
    return [{ path: formatPath(at), message: issue.message }];
  });
}

/** A missing field reads better as "required" than as "expected string, received undefined". */
export function requiredMessage(issue: z.core.$ZodRawIssue): string | undefined {
  return issue.code === 'invalid_type' && issue.input === undefined ? 'required' : undefined;
}

export function formatPath(parts: readonly PropertyKey[]): string {
  return parts.reduce<string>((acc, p) =>
    typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p), '');
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function list(items: readonly string[]): string {
  return items.length ? items.map((x) => `"${x}"`).join(', ') : '(none)';
}
