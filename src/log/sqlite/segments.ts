import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { SyncMode } from './db.js';
import { PAYLOAD_SEPARATOR } from '../../protocol/types.js';

/**
 * Where the embedded log keeps event payloads: append-only segment files beside
 * `log.db` (`<name>-payloads/0000000001.seg`, ...), while each `events` row holds
 * only the (segment, offset, length) of its payloads.
 *
 * Why not in the row: in SQLite every payload byte was written twice, once to the
 * WAL at commit and once more to the database file by the checkpoint, and the
 * checkpoint alone took ~14% of the server's CPU during batch ingest (measured).
 * Here the bytes are written once, with one positional write per group commit, and
 * the WAL carries only the small rows.
 *
 * Crash safety follows from the order: the bytes are written (and with `full` sync,
 * fdatasync'ed) before the transaction that inserts the rows pointing at them.
 * Bytes written by a group that did not commit are past the last committed row's
 * end; the writer starts from that end and overwrites them. With `normal` sync a
 * power loss (not a process crash) can keep a committed row whose bytes never
 * reached the disk: reading such a row finds zeros, reports it and skips it, which
 * is the "may lose the last commits on power loss" that `normal` already means.
 *
 * Readers (lanes, in the router and warehouse threads) open segments read-only and
 * keep a few descriptors. The writer is set up on the first write only, so a
 * process that only reads the log never touches the segment being appended to.
 */
export interface PayloadRef {
  seg: number;
  off: number;
  len: number;
}

/** A segment is closed and the next one started once it reaches this size. */
export const SEGMENT_BYTES = 64 * 1024 * 1024;
/** Read descriptors kept open per reader (a lane reads one segment at a time, retries maybe an older one). */
const OPEN_READERS = 4;
const SEGMENT_FILE = /^(\d{10})\.seg$/;
/** Buffers per writev call (the kernel takes at most IOV_MAX, 1024 on Linux). */
const WRITEV_CHUNKS = 512;
const OPEN_BRACE = 0x7b;
const NEWLINE = Buffer.from(PAYLOAD_SEPARATOR);

interface Writer {
  seg: number;
  fd: number;
  /** Where the next group goes: the end of the last committed row in this segment. */
  pos: number;
  /** The end of the group written but not yet committed. */
  pendingPos: number;
}

export class PayloadSegments {
  readonly dir: string;
  private writer: Writer | null = null;
  private readonly readers = new Map<number, number>();
  private scratch = Buffer.allocUnsafe(256 * 1024);
  private readonly lastRef: Database.Statement;
  private readonly firstRef: Database.Statement;

  constructor(
    logPath: string,
    private readonly db: Database.Database,
    private readonly options: { sync: SyncMode; segmentBytes?: number },
  ) {
    const parsed = path.parse(logPath);
    this.dir = path.join(parsed.dir, `${parsed.name}-payloads`);
    this.lastRef = db.prepare(`SELECT seg, off, len FROM events WHERE seg IS NOT NULL ORDER BY seq DESC LIMIT 1`);
    this.firstRef = db.prepare(`SELECT seg FROM events WHERE seg IS NOT NULL ORDER BY seq LIMIT 1`).pluck();
  }

  /**
   * Writes one group commit's rows in one positional write and returns where each
   * went. A row is one or more parts (text, or bytes already encoded by the ingest
   * thread), each holding events joined by `\n`; a `\n` goes between parts.
   * Nothing is visible until the rows pointing at the bytes commit, and then
   * `committed()` moves the write position past them.
   */
  write(rows: readonly (readonly (string | Uint8Array)[])[]): PayloadRef[] {
    const w = this.writer ?? (this.writer = this.openWriter());
    if (w.pos >= (this.options.segmentBytes ?? SEGMENT_BYTES)) this.rotate(w);
    const chunks: Uint8Array[] = [];
    const refs: PayloadRef[] = new Array(rows.length);
    let off = w.pos;
    for (let i = 0; i < rows.length; i++) {
      const start = off;
      const parts = rows[i]!;
      for (let k = 0; k < parts.length; k++) {
        if (k > 0) {
          chunks.push(NEWLINE);
          off += 1;
        }
        const part = parts[k]!;
        const bytes = typeof part === 'string' ? Buffer.from(part) : part;
        chunks.push(bytes);
        off += bytes.byteLength;
      }
      refs[i] = { seg: w.seg, off: start, len: off - start };
    }
    writeAll(w.fd, chunks, w.pos);
    if (this.options.sync === 'full') fs.fdatasyncSync(w.fd);
    w.pendingPos = off;
    return refs;
  }

  /** The rows of the last write committed: the next write goes after them. */
  committed(): void {
    if (this.writer) this.writer.pos = this.writer.pendingPos;
  }

  /** The text at `ref`, or null when its bytes are not there (lost to a power cut under `normal` sync). */
  read(ref: PayloadRef): string | null {
    let fd = this.readers.get(ref.seg);
    if (fd === undefined) {
      try {
        fd = fs.openSync(this.file(ref.seg), 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
      this.readers.set(ref.seg, fd);
      if (this.readers.size > OPEN_READERS) {
        const [oldest, oldFd] = this.readers.entries().next().value as [number, number];
        this.readers.delete(oldest);
        fs.closeSync(oldFd);
      }
    }
    // One read buffer, reused: a buffer per row read made the router's retries churn
    // malloc'd memory off the JS heap (RSS kept growing while a backlog was retried).
    if (this.scratch.byteLength < ref.len) this.scratch = Buffer.allocUnsafe(Math.max(ref.len, this.scratch.byteLength * 2));
    const buf = this.scratch;
    let done = 0;
    while (done < ref.len) {
      const n = fs.readSync(fd, buf, done, ref.len - done, ref.off + done);
      if (n === 0) return null;
      done += n;
    }
    return ref.len > 0 && buf[0] === OPEN_BRACE ? buf.toString('utf8', 0, ref.len) : null;
  }

  /**
   * Deletes segments no row points into any more (call after pruning rows). The
   * newest file always stays: it is, or is about to be, the one being written.
   */
  prune(): void {
    const first = this.firstRef.get() as number | undefined;
    const ids = this.segmentIds();
    const newest = ids.length > 0 ? ids[ids.length - 1]! : 0;
    for (const id of ids) {
      if (id === newest || (first !== undefined && id >= first)) continue;
      const fd = this.readers.get(id);
      if (fd !== undefined) {
        fs.closeSync(fd);
        this.readers.delete(id);
      }
      fs.rmSync(this.file(id), { force: true });
    }
  }

  close(): void {
    for (const fd of this.readers.values()) fs.closeSync(fd);
    this.readers.clear();
    if (this.writer) fs.closeSync(this.writer.fd);
    this.writer = null;
  }

  private file(seg: number): string {
    return path.join(this.dir, `${String(seg).padStart(10, '0')}.seg`);
  }

  private segmentIds(): number[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names
      .map((n) => SEGMENT_FILE.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  /**
   * Continues the newest segment after the last committed row in it. Bytes past that
   * point belong to a group that never committed (a crash between write and commit)
   * and are cut off. A newest segment no row points into holds only such bytes.
   */
  private openWriter(): Writer {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const last = this.lastRef.get() as PayloadRef | undefined;
    const ids = this.segmentIds();
    const newest = ids.length > 0 ? ids[ids.length - 1]! : 0;
    const lastSeg = last?.seg ?? 0;
    let seg = newest;
    let pos = 0;
    if (newest > 0 && lastSeg === newest) pos = last!.off + last!.len;
    else if (newest <= lastSeg) seg = lastSeg + 1; // no file yet (or it went missing): a new one
    const fd = fs.openSync(this.file(seg), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    fs.ftruncateSync(fd, pos);
    if (this.options.sync === 'full') this.syncDir();
    return { seg, fd, pos, pendingPos: pos };
  }

  private rotate(w: Writer): void {
    fs.closeSync(w.fd);
    w.seg += 1;
    w.fd = fs.openSync(this.file(w.seg), fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
    w.pos = 0;
    w.pendingPos = 0;
    if (this.options.sync === 'full') this.syncDir();
  }

  /** A new file's name is durable once its directory is synced (power loss, `full` only). */
  private syncDir(): void {
    const fd = fs.openSync(this.dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Writes every chunk at `pos` onward: writev in slices, finishing any short write. */
function writeAll(fd: number, chunks: readonly Uint8Array[], pos: number): void {
  for (let i = 0; i < chunks.length; i += WRITEV_CHUNKS) {
    const slice = chunks.slice(i, i + WRITEV_CHUNKS);
    const total = slice.reduce((n, c) => n + c.byteLength, 0);
    let done = fs.writevSync(fd, slice, pos);
    if (done < total) {
      const all = Buffer.concat(slice, total);
      while (done < total) done += fs.writeSync(fd, all, done, total - done, pos + done);
    }
    pos += total;
  }
}
