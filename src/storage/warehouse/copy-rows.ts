/**
 * Rows as text lines (PostgreSQL's COPY text format, or DuckDB's CSV), made while a
 * batch is parsed (engine.ts, `prepare`) so the parsed values need not live until the
 * write. Each line is encoded into a buffer of CHUNK_BYTES as it comes: a batch's rows
 * sit outside the JavaScript heap, which keeps garbage collection short, and no string
 * of many lines is ever built (joining, then encoding, cost twice as much).
 */
const CHUNK_BYTES = 1 << 20;
/**
 * A table's first buffer: each next one doubles, up to CHUNK_BYTES. A load makes a
 * CopyRows per shape and table, and a stream with optional properties has dozens or
 * thousands of shapes, most of a few events: a megabyte each was gigabytes a load.
 */
const FIRST_CHUNK_BYTES = 16 << 10;

/** A value in COPY's text format (\N is null; backslash, tab and line breaks escaped; NUL dropped). */
export function copyText(v: string | number | boolean | null): string {
  if (v === null) return '\\N';
  if (typeof v === 'boolean') return v ? 't' : 'f';
  if (typeof v === 'number') return String(v);
  return COPY_SPECIAL.test(v) ? v.replace(/[\\\t\n\r\0]/g, (c) => COPY_ESCAPES[c]!) : v;
}
const COPY_SPECIAL = /[\\\t\n\r\0]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '' };

/**
 * A value for DuckDB's CSV reader as openDuckDb reads it (tab-separated, `\N` for
 * null, `"` quotes): copyText's form, except that a string holding a tab, a line
 * break or a quote, or spelled `\N`, is quoted (quotes doubled) instead of escaped.
 */
export function csvText(v: string | number | boolean | null): string {
  if (typeof v !== 'string') return copyText(v);
  if (!CSV_SPECIAL.test(v) && v !== '\\N') return v;
  return `"${v.replace(/\0/g, '').replace(/"/g, '""')}"`;
}
const CSV_SPECIAL = /[\t\n\r"\0]/;

/**
 * One table's rows for one COPY: each row's id, and its line. Lines are made by
 * copyText or csvText (the dialect's `copyCell`); only copyText's can be skipped
 * by id (`data(skip)`), as only they never hold a line break inside a value.
 */
export class CopyRows {
  readonly ids: string[] = [];
  private readonly chunks: Buffer[] = [];
  private buf: Buffer | null = null;
  private at = 0;
  private next = FIRST_CHUNK_BYTES;

  /** Adds a row: `line` is its values, tab-separated, without the line break. */
  add(id: string, line: string): void {
    this.ids.push(id);
    const most = 3 * line.length + 1; // UTF-8 bytes at most (a UTF-16 unit is 3 at most), and the line break
    if (this.buf === null || this.buf.length - this.at < most) {
      this.seal();
      this.buf = Buffer.allocUnsafe(Math.max(this.next, most));
      this.next = Math.min(CHUNK_BYTES, this.next * 2);
    }
    this.at += this.buf.write(line, this.at);
    this.buf[this.at++] = 0x0a;
  }

  get length(): number {
    return this.ids.length;
  }

  private seal(): void {
    if (this.buf !== null && this.at > 0) this.chunks.push(this.buf.subarray(0, this.at));
    this.buf = null;
    this.at = 0;
  }

  /** The COPY data, in chunks, leaving out the rows whose id is in `skip`. */
  *data(skip: ReadonlySet<string> = new Set()): Generator<Buffer> {
    this.seal();
    let row = 0;
    for (const chunk of this.chunks) {
      if (skip.size === 0) {
        yield chunk;
        continue;
      }
      // A line break only ever ends a line: copyText escapes the ones inside values.
      const kept: Buffer[] = [];
      for (let start = 0; start < chunk.length; row++) {
        const end = chunk.indexOf(0x0a, start) + 1;
        if (!skip.has(this.ids[row]!)) kept.push(chunk.subarray(start, end));
        start = end;
      }
      if (kept.length > 0) yield Buffer.concat(kept);
    }
  }
}
