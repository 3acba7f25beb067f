/**
 * Rows in PostgreSQL's COPY text format, made while a batch is parsed (engine.ts,
 * `prepare`) so the parsed values need not live until the write. Lines are
 * gathered into strings of LINES_PER_CHUNK and turned into buffers: a batch's rows
 * then sit outside the JavaScript heap, which keeps garbage collection short.
 */
const LINES_PER_CHUNK = 500;

/** A value in COPY's text format (\N is null; backslash, tab and line breaks escaped; NUL dropped). */
export function copyText(v: string | number | boolean | null): string {
  if (v === null) return '\\N';
  if (typeof v === 'boolean') return v ? 't' : 'f';
  if (typeof v === 'number') return String(v);
  return COPY_SPECIAL.test(v) ? v.replace(/[\\\t\n\r\0]/g, (c) => COPY_ESCAPES[c]!) : v;
}
const COPY_SPECIAL = /[\\\t\n\r\0]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '' };

/** One table's rows for one COPY: each row's id, and its line. */
export class CopyRows {
  readonly ids: string[] = [];
  private readonly chunks: Buffer[] = [];
  private pending = '';
  private pendingLines = 0;

  /** Adds a row: `line` is its values in COPY text, tab-separated, without the line break. */
  add(id: string, line: string): void {
    this.ids.push(id);
    this.pending += `${line}\n`;
    if (++this.pendingLines === LINES_PER_CHUNK) this.seal();
  }

  get length(): number {
    return this.ids.length;
  }

  private seal(): void {
    if (this.pendingLines === 0) return;
    this.chunks.push(Buffer.from(this.pending));
    this.pending = '';
    this.pendingLines = 0;
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
