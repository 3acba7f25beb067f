/**
 * FQL's value semantics and built-in functions, over JSON values read from an
 * event. A missing field reads as `undefined` and behaves exactly like `null`
 * (Segment: "functions handle null with sensible defaults"; `userId = null` is
 * how Segment's own generated FQL tests for an absent userId).
 */

/** Raised while evaluating when Segment "can't infer your intent"; the filter then drops the event. */
export class FqlEvaluationError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} (at position ${position})`);
    this.name = 'FqlEvaluationError';
  }
}

export function isNullish(v: unknown): v is null | undefined {
  return v === null || v === undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * `=`: same type and strictly equal (Segment's table). So `1 = '1'` is false,
 * lists compare element by element, and a missing field equals only `null`.
 * Objects are not in Segment's table; they compare deeply, the only useful reading.
 */
export function equalValues(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (isNullish(a)) return isNullish(b);
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equalValues(a[i], b[i])) return false;
    return true;
  }
  if (isPlainObject(a)) {
    if (!isPlainObject(b)) return false;
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    for (const key of keys) {
      if (!Object.hasOwn(b, key) || !equalValues(a[key], b[key])) return false;
    }
    return true;
  }
  return false;
}

/** `in`: the needle equals (as `=`) one element; anything but a list on the right is false. */
export function inList(needle: unknown, haystack: unknown): boolean {
  if (!Array.isArray(haystack)) return false;
  for (const item of haystack) if (equalValues(needle, item)) return true;
  return false;
}

/**
 * `contains(a, b)`: substring when `a` is a string (and `b` a string), membership
 * when `a` is a list. Null or missing `a` is false, as Segment documents; so is
 * any other combination (a number never "contains" anything).
 */
export function fqlContains(a: unknown, b: unknown): boolean {
  if (typeof a === 'string') return typeof b === 'string' && a.includes(b);
  if (Array.isArray(a)) return inList(b, a);
  return false;
}

/** `lowercase`/`uppercase`: strings only; null (and any non-string) gives null, per Segment's table. */
export function fqlLowercase(v: unknown): string | null {
  return typeof v === 'string' ? v.toLowerCase() : null;
}

export function fqlUppercase(v: unknown): string | null {
  return typeof v === 'string' ? v.toUpperCase() : null;
}

/**
 * `length`: list → element count; string → UTF-8 bytes, as Segment documents
 * (`a` is 1, `ア` is 3); null/missing → 0. Segment says it does not work on JSON
 * objects; numbers and booleans have no length either. Those raise an error so
 * the filter fails closed instead of guessing.
 */
export function fqlLength(v: unknown, position: number): number {
  if (typeof v === 'string') return utf8Length(v);
  if (Array.isArray(v)) return v.length;
  if (isNullish(v)) return 0;
  throw new FqlEvaluationError(`length() of ${fqlTypeof(v)} is not defined`, position);
}

/** Counted without encoding, so no buffer is allocated per event. */
export function utf8Length(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * `typeof`: Segment's names — "string", "number", "bool", "list", "null".
 * A missing field is "null" (it behaves as null everywhere else). Objects are
 * not in Segment's list; they are "object".
 */
export function fqlTypeof(v: unknown): string {
  if (isNullish(v)) return 'null';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return 'list';
  return 'object';
}

/**
 * A value used as a condition (`properties.enabled and ...`). Segment's `and`
 * and `or` take bool or null; null and missing are false. A string, number,
 * list or object is ambiguous ("if Segment can't infer your intent, Segment logs
 * an internal error and drops the event"), so it raises instead of guessing.
 */
export function toCondition(v: unknown, position: number): boolean {
  if (v === true) return true;
  if (v === false || isNullish(v)) return false;
  throw new FqlEvaluationError(`expected true, false or null, found ${fqlTypeof(v)}`, position);
}
