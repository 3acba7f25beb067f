/** Segment's Filter Query Language: parse once, evaluate per event. See evaluate.ts for the semantics. */
export type { FqlCompareOp, FqlExpr, FqlFunctionName, FqlParseError, FqlScalar } from './ast.js';
export { FQL_FUNCTIONS } from './ast.js';
export { parseFql, parseFqlPath } from './parser.js';
export { compileFql, compilePath, evaluateFql, type FqlPredicate } from './evaluate.js';
export { FqlEvaluationError, fqlTypeof } from './functions.js';
export { buildAllowTree, keepOnly, withoutPath, type AllowTree } from './paths.js';
