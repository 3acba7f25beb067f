/**
 * The syntax tree of Segment's Filter Query Language (FQL), the language of a
 * destination filter's `if` and of an Actions subscription.
 * Reference: https://segment.com/docs/api/public-api/fql/
 *
 * Every node keeps the offset of its first character in the source, so errors
 * found later (a bad glob, a type error while evaluating) can still point at
 * the place a user has to fix.
 */

export type FqlCompareOp = '=' | '!=' | '<' | '<=' | '>' | '>=';

/** A literal the grammar allows: strings, numbers, `true`, `false`, `null`. */
export type FqlScalar = string | number | boolean | null;

/** Functions Switchyard implements; any other name is a parse error, never silently false. */
export const FQL_FUNCTIONS = ['contains', 'match', 'lowercase', 'uppercase', 'length', 'typeof'] as const;
export type FqlFunctionName = (typeof FQL_FUNCTIONS)[number];

/** How many arguments each function takes, checked at parse time. */
export const FQL_FUNCTION_ARITY: Readonly<Record<FqlFunctionName, number>> = {
  contains: 2,
  match: 2,
  lowercase: 1,
  uppercase: 1,
  length: 1,
  typeof: 1,
};

export type FqlExpr =
  | { readonly kind: 'literal'; readonly value: FqlScalar; readonly position: number }
  /** `['track', 'identify']`: items are literals only (checked by the parser). */
  | { readonly kind: 'list'; readonly items: readonly FqlScalar[]; readonly position: number }
  /** `properties.product\ 1.price` → segments `['properties', 'product 1', 'price']`. */
  | { readonly kind: 'path'; readonly segments: readonly string[]; readonly position: number }
  | { readonly kind: 'not'; readonly operand: FqlExpr; readonly position: number }
  | { readonly kind: 'and' | 'or'; readonly left: FqlExpr; readonly right: FqlExpr; readonly position: number }
  | {
      readonly kind: 'compare';
      readonly op: FqlCompareOp;
      readonly left: FqlExpr;
      readonly right: FqlExpr;
      readonly position: number;
    }
  /** `needle in haystack`, haystack a list literal or a path to a list. */
  | { readonly kind: 'in'; readonly needle: FqlExpr; readonly haystack: FqlExpr; readonly position: number }
  /** `properties.x exists` (a Switchyard extension, same as `properties.x != null`). */
  | { readonly kind: 'exists'; readonly operand: FqlExpr; readonly position: number }
  | {
      readonly kind: 'call';
      readonly name: FqlFunctionName;
      readonly args: readonly FqlExpr[];
      readonly position: number;
    };

/** A parse error: what is wrong and the 0-based offset in the source where it is. */
export interface FqlParseError {
  message: string;
  position: number;
}
