import type { FqlCompareOp, FqlParseError } from './ast.js';

/**
 * FQL tokens. A dotted path is one token (`properties.product\ 1.price`), so
 * the parser never has to glue identifiers and dots back together, and a
 * keyword is only a keyword when it is a single unescaped segment: `and` is the
 * operator, `properties.and` and `\and` are fields.
 */
export type Token =
  | { kind: 'path'; segments: string[]; keyword: string | null; position: number; end: number }
  | { kind: 'string'; value: string; position: number; end: number }
  | { kind: 'number'; value: number; position: number; end: number }
  | { kind: 'op'; op: FqlCompareOp; position: number; end: number }
  | { kind: '!' | '(' | ')' | '[' | ']' | ','; position: number; end: number }
  | { kind: 'eof'; position: number; end: number };

export type LexResult = { ok: true; tokens: Token[] } | { ok: false; error: FqlParseError };

class LexError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
  }
}

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'exists', 'true', 'false', 'null']);

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

function isLetter(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/** Segment's docs: field names use `a-z A-Z 0-9 _ -`; anything else is escaped with `\`. */
function isFieldChar(c: string): boolean {
  return isLetter(c) || isDigit(c) || c === '_' || c === '-';
}

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

/**
 * String escapes decoded in literals. Any other `\x` is kept as the two
 * characters, because Segment's own glob example `match('ab*d', 'ab\*d')`
 * needs the backslash to reach the glob, where `\*` means a literal `*`.
 */
const STRING_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  "'": "'",
  '\\': '\\',
  '/': '/',
  n: '\n',
  t: '\t',
  r: '\r',
  b: '\b',
  f: '\f',
};

export function lex(source: string): LexResult {
  try {
    return { ok: true, tokens: lexAll(source) };
  } catch (error) {
    if (error instanceof LexError) return { ok: false, error: { message: error.message, position: error.position } };
    throw error;
  }
}

function lexAll(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (isSpace(c)) {
      i++;
      continue;
    }
    const start = i;
    if (c === '(' || c === ')' || c === '[' || c === ']' || c === ',') {
      tokens.push({ kind: c, position: start, end: start + 1 });
      i++;
    } else if (c === '=') {
      if (src[i + 1] === '=') throw new LexError("unexpected '==': FQL compares with a single '='", start);
      tokens.push({ kind: 'op', op: '=', position: start, end: start + 1 });
      i++;
    } else if (c === '!') {
      if (src[i + 1] === '=') {
        tokens.push({ kind: 'op', op: '!=', position: start, end: start + 2 });
        i += 2;
      } else {
        tokens.push({ kind: '!', position: start, end: start + 1 });
        i++;
      }
    } else if (c === '<' || c === '>') {
      if (c === '<' && src[i + 1] === '>') throw new LexError("unexpected '<>': use '!=' for not equal", start);
      const withEq = src[i + 1] === '=';
      const op: FqlCompareOp = c === '<' ? (withEq ? '<=' : '<') : withEq ? '>=' : '>';
      i += withEq ? 2 : 1;
      tokens.push({ kind: 'op', op, position: start, end: i });
    } else if (c === '"' || c === "'") {
      const { value, end } = lexString(src, i);
      tokens.push({ kind: 'string', value, position: start, end });
      i = end;
    } else if (isDigit(c) || (c === '-' && isDigit(src[i + 1] ?? ''))) {
      const { value, end } = lexNumber(src, i);
      tokens.push({ kind: 'number', value, position: start, end });
      i = end;
    } else if (isLetter(c) || c === '_' || c === '\\') {
      const token = lexPath(src, i);
      tokens.push(token);
      i = token.end;
    } else if (c === '&' || c === '|') {
      throw new LexError(`unexpected '${c}': use 'and' / 'or'`, start);
    } else {
      throw new LexError(`unexpected character '${c}'`, start);
    }
  }
  tokens.push({ kind: 'eof', position: src.length, end: src.length });
  return tokens;
}

function lexString(src: string, start: number): { value: string; end: number } {
  const quote = src[start];
  let value = '';
  let i = start + 1;
  while (i < src.length) {
    const c = src[i];
    if (c === quote) return { value, end: i + 1 };
    if (c !== '\\') {
      value += c;
      i++;
      continue;
    }
    const next = src[i + 1];
    if (next === undefined) break;
    if (next === 'u') {
      const hex = src.slice(i + 2, i + 6);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new LexError('invalid \\u escape: expected 4 hex digits', i);
      value += String.fromCharCode(parseInt(hex, 16));
      i += 6;
      continue;
    }
    const decoded = STRING_ESCAPES[next];
    value += decoded ?? `\\${next}`;
    i += 2;
  }
  throw new LexError('unterminated string', start);
}

function lexNumber(src: string, start: number): { value: number; end: number } {
  let i = start;
  if (src[i] === '-') i++;
  while (isDigit(src[i] ?? '')) i++;
  if (src[i] === '.') {
    i++;
    if (!isDigit(src[i] ?? '')) throw new LexError("expected a digit after '.' in number", i);
    while (isDigit(src[i] ?? '')) i++;
  }
  if (src[i] === 'e' || src[i] === 'E') {
    i++;
    if (src[i] === '+' || src[i] === '-') i++;
    if (!isDigit(src[i] ?? '')) throw new LexError('expected a digit in number exponent', i);
    while (isDigit(src[i] ?? '')) i++;
  }
  const after = src[i] ?? '';
  if (isFieldChar(after) || after === '.' || after === '\\') {
    throw new LexError(`unexpected '${after}' after number`, i);
  }
  return { value: Number(src.slice(start, i)), end: i };
}

function lexPath(src: string, start: number): Token & { kind: 'path' } {
  const segments: string[] = [];
  let segment = '';
  let escaped = false;
  let i = start;
  for (;;) {
    const c = src[i];
    if (c === '\\') {
      const next = src[i + 1];
      if (next === undefined) throw new LexError("expected a character after '\\' in field name", i);
      segment += next;
      escaped = true;
      i += 2;
    } else if (c !== undefined && isFieldChar(c)) {
      segment += c;
      i++;
    } else if (c === '.') {
      if (segment === '') throw new LexError("empty field name before '.'", i);
      segments.push(segment);
      segment = '';
      const next = src[i + 1];
      if (next === undefined || !(isFieldChar(next) || next === '\\')) {
        const what =
          next === undefined || isSpace(next)
            ? "expected a field name after '.'"
            : `unexpected character '${next}' in field name (escape it with '\\')`;
        throw new LexError(what, i + 1);
      }
      i++;
    } else {
      break;
    }
  }
  segments.push(segment);
  const keyword = segments.length === 1 && !escaped && KEYWORDS.has(segment) ? segment : null;
  return { kind: 'path', segments, keyword, position: start, end: i };
}

/**
 * A field path on its own, as destination filter actions list them
 * (`products.price`, `product\ 1`). Unlike inside an expression, a segment may
 * start with a digit and keywords are plain names.
 */
export function lexFieldPath(src: string): { ok: true; segments: string[] } | { ok: false; error: FqlParseError } {
  const first = src[0];
  if (first === undefined || !(isFieldChar(first) || first === '\\')) {
    return { ok: false, error: { message: 'expected a field name', position: 0 } };
  }
  try {
    const token = lexPath(src, 0);
    if (token.end !== src.length) {
      return { ok: false, error: { message: `unexpected '${src[token.end]}' in field path (escape it with '\\')`, position: token.end } };
    }
    return { ok: true, segments: token.segments };
  } catch (error) {
    if (error instanceof LexError) return { ok: false, error: { message: error.message, position: error.position } };
    throw error;
  }
}
