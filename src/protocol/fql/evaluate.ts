import type { JsonObject, Result, SegmentMessage } from '../types.js';
import type { FqlExpr, FqlParseError, FqlScalar } from './ast.js';
import {
  FqlEvaluationError,
  equalValues,
  fqlContains,
  fqlLength,
  fqlLowercase,
  fqlTypeof,
  fqlUppercase,
  inList,
  isNullish,
  toCondition,
} from './functions.js';
import { compileGlob, globMatch, type Glob } from './glob.js';
import { parseFql } from './parser.js';

/**
 * FQL evaluation. The tree is compiled once into nested closures, so the
 * per-event cost is a few property reads and comparisons: no re-parsing, no
 * tree walk over a `switch`, and no allocation on the common shapes
 * (`path = literal`, `path > number`, `path in [literals]`, `match(path, 'glob')`).
 *
 * Semantics, each from Segment's FQL reference unless marked:
 * - Strings compare case-sensitively ("Destination filters are case-sensitive").
 * - `=` is true only for the same type and strictly equal value; `!=` is its
 *   exact negation. A missing field is null: `x = 'a'` false, `x != 'a'` true,
 *   `x = null` true.
 * - `<` `<=` `>` `>=` compare numbers only. Anything else (a numeric string,
 *   null, missing) is false, never coerced: `'12' > 10` is false. (Segment's
 *   table lists only numbers; coercing would make '9' > '10' surprises.)
 * - `!` / `not` is real negation of the whole condition (unlike
 *   `@segment/destination-subscriptions`, which drops it). So `!(x > 5)` is
 *   true when x is missing.
 * - `and` / `or` short-circuit; operands must be true, false or null/missing
 *   (false). Other values raise FqlEvaluationError (see `toCondition`).
 * - `exists` (Switchyard extension, not in Segment's grammar) is true when the
 *   field is present and not null: the same as `!= null`, the idiom Segment's
 *   generated FQL uses for "exists".
 * - Paths read own properties only (`properties.constructor` is missing, not a
 *   function); a numeric segment indexes a list (`properties.items.0.sku`).
 */

export type FqlPredicate = (message: SegmentMessage | JsonObject) => boolean;
type ValueFn = (message: JsonObject) => unknown;
type CondFn = (message: JsonObject) => boolean;

/** Parse once, return a predicate for the delivery path. The predicate may throw FqlEvaluationError. */
export function compileFql(source: string): Result<FqlPredicate, FqlParseError> {
  const parsed = parseFql(source);
  if (!parsed.ok) return parsed;
  return { ok: true, value: compileCondition(parsed.value) };
}

const compiledCache = new WeakMap<FqlExpr, CondFn>();

/** Evaluate a parsed tree. Compiles on first use and caches by tree identity, so semantics live in one place. */
export function evaluateFql(expr: FqlExpr, message: SegmentMessage | JsonObject): boolean {
  let fn = compiledCache.get(expr);
  if (!fn) {
    fn = compileCondition(expr);
    compiledCache.set(expr, fn);
  }
  return fn(message);
}

export function compileCondition(expr: FqlExpr): CondFn {
  switch (expr.kind) {
    case 'and': {
      const left = compileCondition(expr.left);
      const right = compileCondition(expr.right);
      return (m) => left(m) && right(m);
    }
    case 'or': {
      const left = compileCondition(expr.left);
      const right = compileCondition(expr.right);
      return (m) => left(m) || right(m);
    }
    case 'not': {
      const operand = compileCondition(expr.operand);
      return (m) => !operand(m);
    }
    case 'compare':
      return compileCompare(expr);
    case 'in':
      return compileIn(expr.needle, expr.haystack);
    case 'exists': {
      const operand = compileValue(expr.operand);
      return (m) => !isNullish(operand(m));
    }
    case 'call':
      if (expr.name === 'contains') {
        const a = compileValue(expr.args[0]);
        const b = compileValue(expr.args[1]);
        return (m) => fqlContains(a(m), b(m));
      }
      if (expr.name === 'match') return compileMatch(expr.args[0], expr.args[1]);
      break;
    case 'literal':
      if (typeof expr.value === 'boolean') {
        const constant = expr.value;
        return () => constant;
      }
      break;
  }
  const value = compileValue(expr);
  const position = expr.position;
  return (m) => toCondition(value(m), position);
}

function compileValue(expr: FqlExpr): ValueFn {
  switch (expr.kind) {
    case 'literal': {
      const constant = expr.value;
      return () => constant;
    }
    case 'list': {
      // Frozen so a shared constant can never be changed by whoever reads it.
      const constant = Object.freeze([...expr.items]);
      return () => constant;
    }
    case 'path':
      return compilePath(expr.segments);
    case 'call': {
      if (expr.name === 'contains' || expr.name === 'match') return compileCondition(expr);
      const arg = compileValue(expr.args[0]);
      const position = expr.position;
      switch (expr.name) {
        case 'lowercase':
          return (m) => fqlLowercase(arg(m));
        case 'uppercase':
          return (m) => fqlUppercase(arg(m));
        case 'length':
          return (m) => fqlLength(arg(m), position);
        case 'typeof':
          return (m) => fqlTypeof(arg(m));
      }
      break;
    }
  }
  return compileCondition(expr);
}

/**
 * One step of a path: own properties of objects, integer indexes of lists,
 * nothing else. Events are JSON, which has no functions, and everything an
 * object inherits from Object.prototype is a function except `__proto__`; so a
 * function-typed value is an inherited member and reads as missing, and only
 * `__proto__` needs the slower own-property check. (Measured: Object.hasOwn on
 * every step made a one-field comparison take 12.8 ns instead of 7.4 ns.)
 */
function step(current: unknown, key: string, index: number): unknown {
  if (typeof current !== 'object' || current === null) return undefined;
  if (Array.isArray(current)) return index >= 0 ? current[index] : undefined;
  const value = (current as Record<string, unknown>)[key];
  if (typeof value === 'function') return undefined;
  if (key === '__proto__' && !Object.hasOwn(current, key)) return undefined;
  return value;
}

function arrayIndex(segment: string): number {
  return /^(0|[1-9][0-9]{0,8})$/.test(segment) ? Number(segment) : -1;
}

/** Exported for destination filters' SAMPLE `path`. Unrolled for the usual 1–3 segments. */
export function compilePath(segments: readonly string[]): ValueFn {
  const keys = [...segments];
  const indexes = keys.map(arrayIndex);
  if (keys.length === 1) {
    const [k0] = keys;
    return (m) => step(m, k0, -1);
  }
  if (keys.length === 2) {
    const [k0, k1] = keys;
    const [, i1] = indexes;
    return (m) => step(step(m, k0, -1), k1, i1);
  }
  if (keys.length === 3) {
    const [k0, k1, k2] = keys;
    const [, i1, i2] = indexes;
    return (m) => step(step(step(m, k0, -1), k1, i1), k2, i2);
  }
  return (m) => {
    let current: unknown = m;
    for (let i = 0; i < keys.length && current !== undefined; i++) current = step(current, keys[i], indexes[i]);
    return current;
  };
}

function literalOf(expr: FqlExpr): { value: FqlScalar } | null {
  return expr.kind === 'literal' ? { value: expr.value } : null;
}

function compileCompare(expr: FqlExpr & { kind: 'compare' }): CondFn {
  const { op } = expr;
  // Put a literal on the right so the fast paths below cover `'a' = event` too.
  let leftExpr = expr.left;
  let rightExpr = expr.right;
  let flipped = false;
  if (literalOf(leftExpr) && !literalOf(rightExpr)) {
    [leftExpr, rightExpr] = [rightExpr, leftExpr];
    flipped = true;
  }
  const left = compileValue(leftExpr);
  const literal = literalOf(rightExpr);

  if (op === '=' || op === '!=') {
    const negate = op === '!=';
    if (literal && literal.value === null) return negate ? (m) => !isNullish(left(m)) : (m) => isNullish(left(m));
    if (literal) {
      // `===` against a scalar literal is exactly "same type and equal".
      const constant = literal.value;
      return negate ? (m) => left(m) !== constant : (m) => left(m) === constant;
    }
    const right = compileValue(rightExpr);
    return negate ? (m) => !equalValues(left(m), right(m)) : (m) => equalValues(left(m), right(m));
  }

  // A flipped `5 < x` is `x > 5`.
  const effective = flipped ? ({ '<': '>', '<=': '>=', '>': '<', '>=': '<=' } as const)[op] : op;
  const cmp = ORDERINGS[effective];
  if (literal && typeof literal.value === 'number') {
    const constant = literal.value;
    return (m) => {
      const v = left(m);
      return typeof v === 'number' && cmp(v, constant);
    };
  }
  const right = compileValue(rightExpr);
  return (m) => {
    const a = left(m);
    const b = right(m);
    return typeof a === 'number' && typeof b === 'number' && cmp(a, b);
  };
}

const ORDERINGS: Readonly<Record<'<' | '<=' | '>' | '>=', (a: number, b: number) => boolean>> = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

function compileIn(needleExpr: FqlExpr, haystackExpr: FqlExpr): CondFn {
  const needle = compileValue(needleExpr);
  if (haystackExpr.kind === 'list') {
    // A Set's SameValueZero keeps types apart (1 is not '1'), matching `=`.
    const members = new Set<FqlScalar>(haystackExpr.items);
    const hasNull = members.has(null);
    return (m) => {
      const v = needle(m);
      if (isNullish(v)) return hasNull;
      return (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') && members.has(v);
    };
  }
  const haystack = compileValue(haystackExpr);
  return (m) => inList(needle(m), haystack(m));
}

function compileMatch(subjectExpr: FqlExpr, patternExpr: FqlExpr): CondFn {
  const subject = compileValue(subjectExpr);
  if (patternExpr.kind === 'literal' && typeof patternExpr.value === 'string') {
    const compiled = compileGlob(patternExpr.value);
    // The parser already rejected bad literal patterns; this keeps a hand-built tree safe too.
    if (!compiled.ok) throw new FqlEvaluationError(`invalid pattern: ${compiled.message}`, patternExpr.position);
    const glob = compiled.glob;
    return (m) => {
      const s = subject(m);
      return typeof s === 'string' && globMatch(glob, s);
    };
  }
  // A pattern read from the event: compile per call, keeping the last one for repeats.
  const pattern = compileValue(patternExpr);
  const position = patternExpr.position;
  let lastSource: string | null = null;
  let lastGlob: Glob | null = null;
  return (m) => {
    const s = subject(m);
    const p = pattern(m);
    if (typeof s !== 'string' || typeof p !== 'string') return false;
    if (p !== lastSource || lastGlob === null) {
      const compiled = compileGlob(p);
      if (!compiled.ok) throw new FqlEvaluationError(`invalid pattern: ${compiled.message}`, position);
      lastSource = p;
      lastGlob = compiled.glob;
    }
    return globMatch(lastGlob, s);
  };
}
