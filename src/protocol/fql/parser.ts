import type { Result } from '../types.js';
import {
  FQL_FUNCTIONS,
  FQL_FUNCTION_ARITY,
  type FqlExpr,
  type FqlFunctionName,
  type FqlParseError,
  type FqlScalar,
} from './ast.js';
import { compileGlob } from './glob.js';
import { lex, lexFieldPath, type Token } from './lexer.js';

/**
 * Recursive-descent parser for FQL. Precedence, loosest first:
 *
 *   or  →  and  →  not / !  →  comparison (= != < <= > >= in exists)  →  value
 *
 * `!` and `not` negate a whole comparison: `!event = 'A'` is `!(event = 'A')`,
 * which is what people mean (a C-style `(!event) = 'A'` would be a type error).
 * Comparisons do not chain: `a = b = c` is an error, not a surprise.
 *
 * Mistakes that can be seen without an event are errors here, at save time,
 * rather than a filter that silently never matches: unknown functions, wrong
 * argument counts, bad glob literals, `>` against a string literal, a string or
 * number where a condition is expected, `in` against something not a list.
 */

/** Deep nesting is never a real filter; the limit keeps the parser off the stack's edge. */
const MAX_DEPTH = 64;

const FUNCTION_SET: ReadonlySet<string> = new Set(FQL_FUNCTIONS);
/** Functions that return a value, not a condition. */
const VALUE_FUNCTIONS: ReadonlySet<string> = new Set(['lowercase', 'uppercase', 'length', 'typeof']);

class ParseError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
  }
}

export function parseFql(source: string): Result<FqlExpr, FqlParseError> {
  const lexed = lex(source);
  if (!lexed.ok) return { ok: false, error: lexed.error };
  try {
    const parser = new Parser(lexed.tokens);
    const expr = parser.parseExpression();
    const rest = parser.peek();
    if (rest.kind !== 'eof') {
      const hint = rest.kind === 'path' ? keywordCaseHint(rest) : null;
      throw new ParseError(hint ?? `expected 'and', 'or' or the end, found ${describe(rest)}`, rest.position);
    }
    requireCondition(expr);
    return { ok: true, value: expr };
  } catch (error) {
    if (error instanceof ParseError) return { ok: false, error: { message: error.message, position: error.position } };
    throw error;
  }
}

/** A field path outside an expression (filter action `fields`, SAMPLE `path`). */
export function parseFqlPath(source: string): Result<string[], FqlParseError> {
  const lexed = lexFieldPath(source);
  return lexed.ok ? { ok: true, value: lexed.segments } : { ok: false, error: lexed.error };
}

function describe(token: Token): string {
  switch (token.kind) {
    case 'eof':
      return 'the end';
    case 'path':
      return token.keyword ? `'${token.keyword}'` : `'${token.segments.join('.')}'`;
    case 'string':
      return `string ${JSON.stringify(token.value)}`;
    case 'number':
      return `number ${token.value}`;
    case 'op':
      return `'${token.op}'`;
    default:
      return `'${token.kind}'`;
  }
}

/** `AND` is a field name to the lexer; say what was probably meant. */
function keywordCaseHint(token: Token & { kind: 'path' }): string | null {
  const lower = token.segments.length === 1 ? token.segments[0].toLowerCase() : '';
  if (lower !== 'and' && lower !== 'or' && lower !== 'not') return null;
  return `'${token.segments[0]}' is not an operator: FQL keywords are lowercase ('${lower}')`;
}

/** Literals, lists and value functions can never be true or false on their own. */
function requireCondition(expr: FqlExpr): void {
  let what: string | null = null;
  if (expr.kind === 'literal' && typeof expr.value !== 'boolean') {
    what = expr.value === null ? 'null' : `a ${typeof expr.value}`;
  } else if (expr.kind === 'list') {
    what = 'a list';
  } else if (expr.kind === 'call' && VALUE_FUNCTIONS.has(expr.name)) {
    what = `${expr.name}(), which is not true or false`;
  }
  if (what) throw new ParseError(`expected a condition, found ${what}`, expr.position);
}

class Parser {
  private index = 0;
  private depth = 0;

  constructor(private readonly tokens: Token[]) {}

  peek(): Token {
    return this.tokens[this.index];
  }

  private next(): Token {
    const token = this.tokens[this.index];
    if (token.kind !== 'eof') this.index++;
    return token;
  }

  private isKeyword(word: string): boolean {
    const token = this.peek();
    return token.kind === 'path' && token.keyword === word;
  }

  private expect(kind: Token['kind'], what: string): Token {
    const token = this.peek();
    if (token.kind !== kind) throw new ParseError(`expected ${what}, found ${describe(token)}`, token.position);
    return this.next();
  }

  parseExpression(): FqlExpr {
    if (++this.depth > MAX_DEPTH) throw new ParseError('expression is nested too deeply', this.peek().position);
    let left = this.parseAnd();
    while (this.isKeyword('or')) {
      this.next();
      const right = this.parseAnd();
      requireCondition(left);
      requireCondition(right);
      left = { kind: 'or', left, right, position: left.position };
    }
    this.depth--;
    return left;
  }

  private parseAnd(): FqlExpr {
    let left = this.parseNot();
    while (this.isKeyword('and')) {
      this.next();
      const right = this.parseNot();
      requireCondition(left);
      requireCondition(right);
      left = { kind: 'and', left, right, position: left.position };
    }
    return left;
  }

  private parseNot(): FqlExpr {
    const token = this.peek();
    if (token.kind === '!' || (token.kind === 'path' && token.keyword === 'not')) {
      this.next();
      if (++this.depth > MAX_DEPTH) throw new ParseError('expression is nested too deeply', token.position);
      const operand = this.parseNot();
      this.depth--;
      requireCondition(operand);
      return { kind: 'not', operand, position: token.position };
    }
    return this.parseComparison();
  }

  private parseComparison(): FqlExpr {
    const left = this.parseValue();
    const token = this.peek();
    if (token.kind === 'op') {
      this.next();
      const right = this.parseValue();
      if (token.op !== '=' && token.op !== '!=') {
        for (const side of [left, right]) {
          if ((side.kind === 'literal' && typeof side.value !== 'number') || side.kind === 'list') {
            throw new ParseError(`'${token.op}' compares numbers only`, side.position);
          }
        }
      }
      return { kind: 'compare', op: token.op, left, right, position: left.position };
    }
    if (this.isKeyword('in')) {
      this.next();
      const haystack = this.parseValue();
      if (haystack.kind !== 'list' && haystack.kind !== 'path') {
        throw new ParseError("the right side of 'in' must be a list", haystack.position);
      }
      return { kind: 'in', needle: left, haystack, position: left.position };
    }
    if (this.isKeyword('exists')) {
      this.next();
      return { kind: 'exists', operand: left, position: left.position };
    }
    return left;
  }

  private parseValue(): FqlExpr {
    const token = this.next();
    switch (token.kind) {
      case 'string':
      case 'number':
        return { kind: 'literal', value: token.value, position: token.position };
      case '(': {
        const inner = this.parseExpression();
        this.expect(')', "')'");
        return inner;
      }
      case '[':
        return this.parseList(token.position);
      case 'path':
        return this.parsePathOrCall(token);
      default:
        throw new ParseError(`expected a value, found ${describe(token)}`, token.position);
    }
  }

  private parseList(position: number): FqlExpr {
    const items: FqlScalar[] = [];
    if (this.peek().kind !== ']') {
      for (;;) {
        const item = this.parseValue();
        if (item.kind !== 'literal') throw new ParseError('list items must be literals', item.position);
        items.push(item.value);
        if (this.peek().kind !== ',') break;
        this.next();
      }
    }
    this.expect(']', "',' or ']'");
    return { kind: 'list', items, position };
  }

  private parsePathOrCall(token: Token & { kind: 'path' }): FqlExpr {
    const { keyword, position } = token;
    if (keyword === 'true' || keyword === 'false') return { kind: 'literal', value: keyword === 'true', position };
    if (keyword === 'null') return { kind: 'literal', value: null, position };
    if (keyword) throw new ParseError(`expected a value, found '${keyword}'`, position);
    const hint = keywordCaseHint(token);
    if (hint) throw new ParseError(hint, position);
    if (this.peek().kind !== '(') return { kind: 'path', segments: token.segments, position };
    const name = token.segments.join('.');
    if (!FUNCTION_SET.has(name)) {
      throw new ParseError(`unknown function '${name}' (supported: ${FQL_FUNCTIONS.join(', ')})`, position);
    }
    this.next();
    const args = this.parseArguments();
    const fn = name as FqlFunctionName;
    if (args.length !== FQL_FUNCTION_ARITY[fn]) {
      throw new ParseError(`${fn}() takes ${FQL_FUNCTION_ARITY[fn]} argument(s), got ${args.length}`, position);
    }
    const pattern = args[1];
    if (fn === 'match' && pattern.kind === 'literal' && typeof pattern.value === 'string') {
      const glob = compileGlob(pattern.value);
      // The offset is inside the decoded pattern; +1 skips the opening quote, close enough to point at it.
      if (!glob.ok) throw new ParseError(`invalid pattern: ${glob.message}`, pattern.position + 1 + glob.offset);
    }
    return { kind: 'call', name: fn, args, position };
  }

  private parseArguments(): FqlExpr[] {
    const args: FqlExpr[] = [];
    if (this.peek().kind !== ')') {
      for (;;) {
        args.push(this.parseExpression());
        if (this.peek().kind !== ',') break;
        this.next();
      }
    }
    this.expect(')', "',' or ')'");
    return args;
  }
}
