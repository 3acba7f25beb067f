/**
 * The durable event log: every accepted event is written once, with a global
 * sequence; each destination instance reads it through its own lane (a cursor
 * plus a table of pending retries). Two implementations share this contract:
 * SQLite (embedded, ./sqlite/) and NATS JetStream (issue #4). The contract tests
 * in test/log-contract.ts run against each.
 */
export interface AppendRecord {
  workspaceId: string;
  sourceId: string;
  messageId: string;
  /** The enriched message, serialized once on the ingest path. */
  payload: string;
  /** Epoch milliseconds. */
  receivedAt: number;
}

/**
 * One request's events, as the ingest path hands them over: one source, one
 * receipt time, and the payloads already encoded (UTF-8 JSON, one per line, joined
 * by `\n`; line i belongs to `messageIds[i]`). The ingest thread that serialized
 * them transfers the bytes, so the HTTP thread never holds them as JS strings.
 */
export interface AppendBatch {
  workspaceId: string;
  sourceId: string;
  receivedAt: number;
  messageIds: readonly string[];
  payloads: Uint8Array;
}

export interface AppendOutcome {
  /** Records newly written. */
  accepted: number;
  /** Records whose (sourceId, messageId) was already in the dedupe window: acknowledged, not written. */
  duplicates: number;
  /** Highest sequence after the commit. */
  lastSeq: number;
}

export interface LaneOptions {
  laneId: string;
  /** Only events from these sources are handed to the lane; others are skipped. */
  sourceIds: readonly string[];
}

export interface LaneMessage {
  seq: number;
  sourceId: string;
  messageId: string;
  payload: string;
  receivedAt: number;
  /** 1 for the first delivery attempt, 2 for the first retry, ... */
  attempt: number;
  /** When the first attempt was made (epoch ms), null before it. */
  firstAttemptAt: number | null;
}

/**
 * A lane hands out messages and takes exactly one settlement for each:
 * `ack` (delivered or deliberately not sent), `retry` (again at `notBefore`),
 * or `fail` (given up, with the reason: permanent error or retries exhausted;
 * JetStream's `term(reason)`).
 * Settlements become durable on `flush()`; a message handed out but not settled
 * and flushed before a crash is handed out again (at-least-once).
 */
export interface Lane {
  readonly id: string;
  /** Due retries first, then new events past the cursor; at most `max`. */
  fetch(max: number, now: number): Promise<LaneMessage[]>;
  ack(message: LaneMessage): void;
  retry(message: LaneMessage, notBefore: number, attemptedAt: number): void;
  fail(message: LaneMessage, reason: string): void;
  flush(): Promise<void>;
  /** Earliest pending retry time, or null when none is pending. */
  nextRetryAt(): Promise<number | null>;
  backlog(): Promise<LaneBacklog>;
  close(): Promise<void>;
}

export interface LaneBacklog {
  /** Events past the cursor not yet handed out (all sources; an upper bound). */
  pending: number;
  /** Events waiting for a retry. */
  retrying: number;
}

export interface EventLog {
  /** Resolves once the records are durably committed (group commit). */
  append(records: AppendRecord[]): Promise<AppendOutcome>;
  /** The same for one request's events in encoded form (the ingest path). */
  appendBatch(batch: AppendBatch): Promise<AppendOutcome>;
  /** Opens (or creates, starting at the current end of the log) a lane. */
  lane(options: LaneOptions): Lane;
  /** Removes a lane and its pending retries (destination deleted). */
  deleteLane(laneId: string): Promise<void>;
  /** Deletes events every lane is past and older than the retention; returns the storage units deleted (rows, messages). */
  prune(now: number): Promise<number>;
  close(): Promise<void>;
}
