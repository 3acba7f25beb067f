import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Exchange } from '../core/result.js';

/**
 * Failure log collection (Segment's "Failure Log Collection"): for each destination
 * instance with collection on, every event that fails delivery after an attempt is
 * written as Segment's observability events — `Error Logged`, `Delivery Attempt
 * Logged` and one `Destination Exchange Logged` per HTTP exchange — into NDJSON files
 * bucketed by the hour in which the original event occurred:
 * `<dir>/<collectionId>/<YYYY-MM-DDTHH>.jsonl`. Kept 28 days.
 */
export const FAILURE_LOG_RETENTION_MS = 28 * 24 * 3_600_000;
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

/**
 * Buffers lines per file and appends them once a second: a destination failing
 * thousands of events a second costs one write per file per second, and memory
 * holds at most one second of lines.
 */
export class FailureLogWriter {
  private pending = new Map<string, string[]>();

  constructor(
    private readonly dir: string,
    private readonly now: () => number = Date.now,
  ) {}

  record(f: FailedAttempt): void {
    const file = bucketFile(this.dir, f.collectionId, hourBucket(f.occurredAt));
    const lines = this.pending.get(file) ?? [];
    this.pending.set(file, lines);
    for (const e of observabilityEvents(f, this.now())) lines.push(JSON.stringify(e));
  }

  flush(): void {
    const pending = this.pending;
    this.pending = new Map();
    for (const [file, lines] of pending) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.appendFileSync(file, `${lines.join('\n')}\n`);
    }
  }

  /** Deletes hour files older than the retention. */
  prune(): number {
    let removed = 0;
    if (!fs.existsSync(this.dir)) return 0;
    const cutoff = hourBucket(this.now() - FAILURE_LOG_RETENTION_MS);
    for (const collection of fs.readdirSync(this.dir)) {
      for (const file of fs.readdirSync(path.join(this.dir, collection))) {
        if (file.endsWith('.jsonl') && file.slice(0, 13) < cutoff) {
          fs.rmSync(path.join(this.dir, collection, file));
          removed++;
        }
      }
    }
    return removed;
  }
}
