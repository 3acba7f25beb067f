/**
 * Glob patterns for FQL's `match(s, pattern)`, as Segment documents them:
 * `*` zero or more characters, `?` exactly one character, `[abc]` / `[a-z]`
 * one character from a set (`[^a]` / `[!a]` negate it), `\x` a literal `x`.
 * The whole string must match, case-sensitively.
 *
 * Not a RegExp: a pattern like `*a*a*a*b` can make a backtracking regex engine
 * take exponential time on a long property value, and filters run on the
 * delivery path of every event. The matcher below remembers only the last `*`,
 * which is enough for globs (each other token consumes exactly one character)
 * and bounds the work at O(pattern × string). Characters are code points, so
 * `?` matches one emoji, not half of it.
 */

const LITERAL = 0;
const ANY = 1;
const STAR = 2;
const CLASS = 3;

type GlobToken =
  | { t: typeof LITERAL; cp: number }
  | { t: typeof ANY }
  | { t: typeof STAR }
  /** `ranges` holds inclusive [from, to] pairs of code points. */
  | { t: typeof CLASS; ranges: number[]; negated: boolean };

/** A compiled pattern; the common shapes get a plain string method instead of the matcher. */
export type Glob =
  | { kind: 'exact'; text: string }
  | { kind: 'prefix'; text: string }
  | { kind: 'suffix'; text: string }
  | { kind: 'infix'; text: string }
  | { kind: 'general'; tokens: GlobToken[] };

export type GlobResult = { ok: true; glob: Glob } | { ok: false; message: string; offset: number };

export function compileGlob(pattern: string): GlobResult {
  const tokens: GlobToken[] = [];
  let i = 0;
  while (i < pattern.length) {
    const cp = pattern.codePointAt(i) as number;
    const width = cp > 0xffff ? 2 : 1;
    if (cp === 0x2a /* * */) {
      // `**` is the same as `*`; collapsing keeps the matcher's work bounded.
      if (tokens[tokens.length - 1]?.t !== STAR) tokens.push({ t: STAR });
      i += 1;
    } else if (cp === 0x3f /* ? */) {
      tokens.push({ t: ANY });
      i += 1;
    } else if (cp === 0x5c /* \ */) {
      const next = pattern.codePointAt(i + 1);
      if (next === undefined) return { ok: false, message: "pattern ends with '\\'", offset: i };
      tokens.push({ t: LITERAL, cp: next });
      i += 1 + (next > 0xffff ? 2 : 1);
    } else if (cp === 0x5b /* [ */) {
      const parsed = parseClass(pattern, i);
      if (!parsed.ok) return parsed;
      tokens.push(parsed.token);
      i = parsed.end;
    } else {
      tokens.push({ t: LITERAL, cp });
      i += width;
    }
  }
  return { ok: true, glob: shortcut(tokens) };
}

function parseClass(
  pattern: string,
  open: number,
): { ok: true; token: GlobToken; end: number } | { ok: false; message: string; offset: number } {
  let i = open + 1;
  let negated = false;
  if (pattern[i] === '^' || pattern[i] === '!') {
    negated = true;
    i++;
  }
  const ranges: number[] = [];
  const readChar = (): number | undefined => {
    let cp = pattern.codePointAt(i);
    if (cp === 0x5c) {
      i++;
      cp = pattern.codePointAt(i);
    }
    if (cp !== undefined) i += cp > 0xffff ? 2 : 1;
    return cp;
  };
  while (i < pattern.length && pattern[i] !== ']') {
    const from = readChar();
    if (from === undefined) break;
    let to = from;
    if (pattern[i] === '-' && pattern[i + 1] !== undefined && pattern[i + 1] !== ']') {
      i++;
      const end = readChar();
      if (end === undefined) break;
      to = end;
      if (to < from) return { ok: false, message: 'character range is out of order', offset: open };
    }
    ranges.push(from, to);
  }
  if (pattern[i] !== ']') return { ok: false, message: "unclosed '[' in pattern", offset: open };
  if (ranges.length === 0) return { ok: false, message: "empty '[]' in pattern", offset: open };
  return { ok: true, token: { t: CLASS, ranges, negated }, end: i + 1 };
}

/** `abc`, `abc*`, `*abc`, `*abc*` are the patterns people write; they need no matcher. */
function shortcut(tokens: GlobToken[]): Glob {
  const literalText = (from: number, to: number): string | null => {
    let text = '';
    for (let k = from; k < to; k++) {
      const tok = tokens[k];
      if (tok.t !== LITERAL) return null;
      text += String.fromCodePoint(tok.cp);
    }
    return text;
  };
  const n = tokens.length;
  const leading = n > 0 && tokens[0].t === STAR;
  const trailing = n > (leading ? 1 : 0) && tokens[n - 1].t === STAR;
  const text = literalText(leading ? 1 : 0, trailing ? n - 1 : n);
  if (text === null) return { kind: 'general', tokens };
  if (leading && trailing) return { kind: 'infix', text };
  if (leading) return { kind: 'suffix', text };
  if (trailing) return { kind: 'prefix', text };
  return { kind: 'exact', text };
}

export function globMatch(glob: Glob, s: string): boolean {
  switch (glob.kind) {
    case 'exact':
      return s === glob.text;
    case 'prefix':
      return s.startsWith(glob.text);
    case 'suffix':
      return s.endsWith(glob.text);
    case 'infix':
      return s.includes(glob.text);
    case 'general':
      return matchTokens(glob.tokens, s);
  }
}

function matchOne(tok: GlobToken, cp: number): boolean {
  if (tok.t === LITERAL) return tok.cp === cp;
  if (tok.t === ANY) return true;
  if (tok.t === CLASS) {
    let inside = false;
    for (let k = 0; k < tok.ranges.length; k += 2) {
      if (cp >= tok.ranges[k] && cp <= tok.ranges[k + 1]) {
        inside = true;
        break;
      }
    }
    return inside !== tok.negated;
  }
  return false;
}

function matchTokens(tokens: GlobToken[], s: string): boolean {
  let si = 0;
  let pi = 0;
  let starPi = -1;
  let starSi = 0;
  while (si < s.length) {
    if (pi < tokens.length) {
      const tok = tokens[pi];
      if (tok.t === STAR) {
        starPi = pi;
        starSi = si;
        pi++;
        continue;
      }
      const cp = s.codePointAt(si) as number;
      if (matchOne(tok, cp)) {
        si += cp > 0xffff ? 2 : 1;
        pi++;
        continue;
      }
    }
    if (starPi < 0) return false;
    // Let the last `*` swallow one more character and retry from there.
    const skipped = s.codePointAt(starSi) as number;
    starSi += skipped > 0xffff ? 2 : 1;
    si = starSi;
    pi = starPi + 1;
  }
  while (pi < tokens.length && tokens[pi].t === STAR) pi++;
  return pi === tokens.length;
}
