import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { publisher, type Feed, type FeedReplica } from '../core/feed.js';
import type { Exchange } from '../core/result.js';

/**
 * Failure log collection (Segment's "Failure Log Collection"): for each destination
 * instance with collection on, every event that fails delivery after an attempt is
 * written as Segment's observability events — `Error Logged`, `Delivery Attempt
 * Logged` and one `Destination Exchange Logged` per HTTP exchange — into NDJSON files
 * bucketed by the hour in which the original event occurred:
 * `<dir>/<collectionId>/<YYYY-MM-DDTHH>.jsonl`. Kept 28 days.
 *
 * Processes with their own DATA_DIR (the NATS log): each router publishes what it
 * writes to a feed, and API processes append the other DATA_DIRs' lines to their own
 * files (FailureLogReplica), so a download from any of them has the whole deployment's.
 */
export const FAILURE_LOG_RETENTION_MS = 28 * 24 * 3_600_000;
/** The NATS feed of failure-log lines (kept as long as the files). */
export const FAILURE_LOG_FEED = 'failures';
/** Lines per feed message, at most (NATS refuses messages over 1 MB by default). */
const FEED_PART_BYTES = 512 * 1024;
const MAX_BODY_CHARS = 2048;

interface Routed {
  to: { type: 'destination'; id: string }[];
  from: { type: 'source'; id: string }[];
}

export interface FailedAttempt {
  collectionId: string;
  destinationId: string;
  sourceId: string;
  messageId: string;
  attempt: number;
  /** When the original event occurred (its timestamp), epoch ms. */
  occurredAt: number;
  /** True when the event is given up (discarded or out of retries), false when it will be retried. */
  discarded: boolean;
  exchanges: Exchange[];
}

/** The three observability events for one failed attempt, in Segment's shapes. */
export function observabilityEvents(f: FailedAttempt, loggedAt: number): object[] {
  const routed: Routed = { to: [{ type: 'destination', id: f.destinationId }], from: [{ type: 'source', id: f.sourceId }] };
  const occurredAt = new Date(f.occurredAt).toISOString();
  const logged = new Date(loggedAt).toISOString();
  const exchangeIds = f.exchanges.map(() => randomUUID());
  const events: object[] = [
    { type: 'observability', event: 'Error Logged', version: 'v1', properties: { routed, discarded: f.discarded, messageId: f.messageId, occurredAt, loggedAt: logged } },
    {
      type: 'observability',
      event: 'Delivery Attempt Logged',
      version: 'v1',
      properties: {
        routed,
        attempt: f.attempt,
        outcome: 'failure',
        // One attempt may make several requests (a webhook with several URLs): the first links here.
        destinationExchangeId: exchangeIds[0] ?? null,
        messageId: f.messageId,
        occurredAt,
        loggedAt: logged,
      },
    },
  ];
  f.exchanges.forEach((x, i) => {
    events.push({
      type: 'observability',
      event: 'Destination Exchange Logged',
      version: 'v1',
      properties: {
        requestToDestination: { headers: x.request.headers, body: truncate(x.request.body) },
        responseFromDestination: x.response
          ? { status: x.response.status, headers: x.response.headers, body: truncate(x.response.body) }
          : { status: null, headers: {}, body: x.error ?? '' },
        routed,
        destinationExchangeId: exchangeIds[i],
        occurredAt,
        loggedAt: logged,
      },
    });
  });
  return events;
}

function truncate(s: string): string {
  return s.length > MAX_BODY_CHARS ? s.slice(0, MAX_BODY_CHARS) : s;
}

export function hourBucket(ms: number): string {
  return new Date(ms).toISOString().slice(0, 13);
}

export function bucketFile(dir: string, collectionId: string, hour: string): string {
  return path.join(dir, collectionId, `${hour}.jsonl`);
}

/** Lines of one hour file, as one flush wrote them: what travels between DATA_DIRs. */
export interface FailureLogBatch {
  collectionId: string;
  hour: string;
  lines: string[];
}

/** Collection ids are made here (`col_` + base64url) and hours by hourBucket: anything else is not a file of ours. */
const COLLECTION_ID = /^[A-Za-z0-9_-]{1,64}$/;
const HOUR = /^\d{4}-\d{2}-\d{2}T\d{2}$/;

function appendLines(dir: string, b: FailureLogBatch): void {
  const file = bucketFile(dir, b.collectionId, b.hour);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, `${b.lines.join('\n')}\n`);
}

/**
 * A batch split into parts of at most `maxBytes` of lines each (a line larger than that
 * goes alone): a feed message has a size limit (NATS: 1 MB by default), a busy hour's
 * flush does not.
 */
export function splitBatch(b: FailureLogBatch, maxBytes: number): FailureLogBatch[] {
  const parts: FailureLogBatch[] = [];
  let lines: string[] = [];
  let bytes = 0;
  for (const line of b.lines) {
    const n = Buffer.byteLength(line) + 1;
    if (lines.length > 0 && bytes + n > maxBytes) {
      parts.push({ ...b, lines });
      lines = [];
      bytes = 0;
    }
    lines.push(line);
    bytes += n;
  }
  if (lines.length > 0) parts.push({ ...b, lines });
  return parts;
}

/**
 * Buffers lines per file and appends them once a second: a destination failing
 * thousands of events a second costs one write per file per second, and memory
 * holds at most one second of lines.
 */
export class FailureLogWriter {
  private pending = new Map<string, FailureLogBatch>();
  /** Told each batch after it is written (the NATS feed's publisher). */
  onFlush?: (batch: FailureLogBatch) => void;

  constructor(
    private readonly dir: string,
    private readonly now: () => number = Date.now,
  ) {}

  record(f: FailedAttempt): void {
    const hour = hourBucket(f.occurredAt);
    const key = `${f.collectionId}/${hour}`;
    let batch = this.pending.get(key);
    if (!batch) this.pending.set(key, (batch = { collectionId: f.collectionId, hour, lines: [] }));
    for (const e of observabilityEvents(f, this.now())) batch.lines.push(JSON.stringify(e));
  }

  flush(): void {
    const pending = this.pending;
    this.pending = new Map();
    for (const batch of pending.values()) {
      appendLines(this.dir, batch);
      this.onFlush?.(batch);
    }
  }

  /** Deletes hour files older than the retention. */
  prune(): number {
    return pruneFailureLogs(this.dir, this.now());
  }
}

/** Deletes the hour files in `dir` older than the retention; how many. */
export function pruneFailureLogs(dir: string, now: number): number {
  let removed = 0;
  if (!fs.existsSync(dir)) return 0;
  const cutoff = hourBucket(now - FAILURE_LOG_RETENTION_MS);
  for (const collection of fs.readdirSync(dir)) {
    for (const file of fs.readdirSync(path.join(dir, collection))) {
      if (file.endsWith('.jsonl') && file.slice(0, 13) < cutoff) {
        fs.rmSync(path.join(dir, collection, file));
        removed++;
      }
    }
  }
  return removed;
}

/** Publishes every batch `writer` flushes (best effort: a failed publish is reported, the local file has the lines). */
export function publishFailureLogs(writer: FailureLogWriter, feed: Feed, origin: string, onError: (err: unknown) => void): void {
  const publish = publisher<FailureLogBatch>(feed, origin, onError);
  writer.onFlush = (batch) => {
    for (const part of splitBatch(batch, FEED_PART_BYTES)) publish(part);
  };
}

/**
 * The failure-log files of one DATA_DIR as a feed replica (../core/feed.ts): the other
 * DATA_DIRs' batches are appended to the same hour files. Its identity and feed
 * position live in `db` (the DATA_DIR's stats.db), and each batch is appended inside
 * an immediate transaction there, so two API processes sharing the DATA_DIR append it
 * once. A crash between the append and the commit appends that batch again on restart.
 */
export class FailureLogReplica implements FeedReplica<FailureLogBatch> {
  private readonly q: { get: Database.Statement; set: Database.Statement };

  constructor(
    private readonly db: Database.Database,
    private readonly dir: string,
  ) {
    db.exec(`CREATE TABLE IF NOT EXISTS failure_log_relay (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID`);
    db.prepare(`INSERT OR IGNORE INTO failure_log_relay (key, value) VALUES ('origin', ?)`).run(randomUUID());
    this.q = {
      get: db.prepare(`SELECT value FROM failure_log_relay WHERE key = ?`).pluck(),
      set: db.prepare(`INSERT INTO failure_log_relay (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`),
    };
  }

  origin(): string {
    return this.q.get.get('origin') as string;
  }

  remoteCursor(feed: string): number {
    return Number(this.q.get.get(`cursor:${feed}`) ?? 0);
  }

  /** Throws (after moving past it) for an item that is not a batch this writer makes: the follower reports it. */
  applyRemote(feed: string, seq: number, b: FailureLogBatch): boolean {
    const applied = this.db.transaction((): 'done' | 'applied' | 'malformed' => {
      if (seq <= this.remoteCursor(feed)) return 'done';
      this.q.set.run(`cursor:${feed}`, String(seq));
      // Only names this writer makes and lines without a newline: anything else is never written.
      const ok = typeof b?.collectionId === 'string' && COLLECTION_ID.test(b.collectionId) && typeof b.hour === 'string' && HOUR.test(b.hour) &&
        Array.isArray(b.lines) && b.lines.every((l) => typeof l === 'string' && !l.includes('\n'));
      if (!ok) return 'malformed';
      if (b.lines.length > 0) appendLines(this.dir, b);
      return 'applied';
    }).immediate();
    if (applied === 'malformed') {
      throw new Error(`failure-log feed ${feed}, message ${seq}: skipped, not a batch of lines for a collection id and an hour (YYYY-MM-DDTHH)`);
    }
    return applied === 'applied';
  }
}
