import { AckPolicy, DeliverPolicy, nanos, type JetStreamClient, type JetStreamManager, type JsMsg, type NatsConnection } from 'nats';
import type { Lane, LaneBacklog, LaneMessage, LaneOptions } from '../types.js';
import { consumerName, laneDescription, parseLaneDescription } from './names.js';

export interface NatsLaneContext {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Resolves to the workspace stream's name once it exists. */
  stream: () => Promise<string>;
  /** The subject a source's events are published on. */
  subjectOf: (sourceId: string) => string;
  ackWaitMs: number;
  maxAckPending: number;
  /** Timeout for the server's confirmation of a settlement. */
  settleTimeoutMs: number;
  /** Whether the server takes `+TERM <reason>` (2.11+); older ones get a bare `+TERM`. */
  termReasons: boolean;
  /** Called once when the lane is closed. */
  onClose?: () => void;
}

interface InFlight {
  msg: JsMsg;
  durable: string;
}

/** A settlement not yet sent; the payload is built when it is sent (a nak's delay counts from then). */
interface Held {
  reply: string;
  payload: () => Uint8Array;
}

const decoder = new TextDecoder();
const ACK = new TextEncoder().encode('+ACK');

/**
 * A destination lane on JetStream: one durable pull consumer per source of the lane
 * (`filter_subject` = that source's subject; NATS 2.9 allows one filter per consumer),
 * `ack_policy: explicit`, `deliver_policy: new`, `max_deliver: -1`.
 *
 * - fetch: a no-wait pull on each consumer (rotating the starting one for fairness),
 *   merged by stream sequence. Redeliveries that are due come first (the server's
 *   order). A message handed out and not settled within `ack_wait` is redelivered.
 * - ack / retry / fail: `+ACK`, `-NAK {"delay": …}`, `+TERM reason`; flush() has the
 *   server confirm them (see settle()).
 * - attempt = the server's delivery count; firstAttemptAt = the message's publish
 *   time on redeliveries (JetStream keeps no first-attempt time), null on the first.
 */
export class NatsLane implements Lane {
  readonly id: string;
  private readonly sources: string[];
  private readonly ready: Promise<{ stream: string; durables: string[] }>;
  private readonly inFlight = new Map<number, InFlight>();
  private settling = new Set<Promise<unknown>>();
  /** Per consumer, the latest settlement: held back so flush() can send it as a request. */
  private readonly held = new Map<string, Held>();
  private errors: unknown[] = [];
  /** Retries scheduled by this process, not yet seen again: what nextRetryAt() knows. */
  private readonly retries = new Map<number, number>();
  private rotate = 0;
  private closed = false;

  constructor(
    private readonly ctx: NatsLaneContext,
    options: LaneOptions,
  ) {
    this.id = options.laneId;
    this.sources = [...new Set(options.sourceIds)];
    this.ready = this.ensureConsumers();
    this.ready.catch(() => {}); // surfaced by the log's append and by fetch
  }

  /** Resolves once every consumer of the lane exists (appends wait for it, so none is missed). */
  whenReady(): Promise<unknown> {
    return this.ready;
  }

  private async ensureConsumers(): Promise<{ stream: string; durables: string[] }> {
    const stream = await this.ctx.stream();
    const durables: string[] = [];
    for (const sourceId of this.sources) {
      const durable = consumerName(this.id, sourceId);
      durables.push(durable);
      try {
        await this.ctx.jsm.consumers.info(stream, durable); // re-created lane: resume the same durable
        continue;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      await this.ctx.jsm.consumers.add(stream, {
        durable_name: durable,
        description: laneDescription(this.id, sourceId),
        ack_policy: AckPolicy.Explicit,
        // A new lane starts at the end of the log, like the SQLite one (no history replay).
        deliver_policy: DeliverPolicy.New,
        // Our retry policy decides when to give up (fail → +TERM), not the server.
        max_deliver: -1,
        ack_wait: nanos(this.ctx.ackWaitMs),
        // Retries waiting for their delay count as ack-pending: keep the ceiling high so
        // a destination outage never stops new events from being handed out.
        max_ack_pending: this.ctx.maxAckPending,
        filter_subject: this.ctx.subjectOf(sourceId),
      });
    }
    await this.dropRemovedSources(stream);
    return { stream, durables };
  }

  /**
   * A consumer of this lane for a source it no longer reads would keep that source's
   * events in the stream forever (interest retention): delete it.
   */
  private async dropRemovedSources(stream: string): Promise<void> {
    const keep = new Set(this.sources);
    for await (const c of this.ctx.jsm.consumers.list(stream)) {
      const d = parseLaneDescription(c.config.description);
      if (d && d.laneId === this.id && !keep.has(d.sourceId)) {
        await this.ctx.jsm.consumers.delete(stream, c.name).catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
      }
    }
  }

  async fetch(max: number, _now: number): Promise<LaneMessage[]> {
    if (this.closed) throw new Error(`lane ${this.id} is closed`);
    const { stream, durables } = await this.ready;
    const out: LaneMessage[] = [];
    const n = durables.length;
    const start = this.rotate++ % Math.max(1, n);
    for (let k = 0; k < n && out.length < max; k++) {
      const durable = durables[(start + k) % n]!;
      const iter = this.ctx.js.fetch(stream, durable, { batch: max - out.length, no_wait: true });
      for await (const jm of iter) {
        this.inFlight.set(jm.seq, { msg: jm, durable });
        this.retries.delete(jm.seq);
        out.push(toLaneMessage(jm));
      }
    }
    // Per source the server's order; across the lane's sources, by stream sequence.
    if (n > 1) out.sort((a, b) => a.seq - b.seq);
    return out;
  }

  ack(m: LaneMessage): void {
    this.settle(m.seq, () => ACK);
  }

  retry(m: LaneMessage, notBefore: number, _attemptedAt: number): void {
    if (this.settle(m.seq, () => nak(Math.max(0, Math.round(notBefore - Date.now()))))) this.retries.set(m.seq, notBefore);
  }

  fail(m: LaneMessage, reason: string): void {
    // Servers before 2.11 ignore `+TERM <reason>` (only a bare `+TERM` counts; checked
    // on 2.9.10): the message would stay pending and come back after ack_wait.
    const term = new TextEncoder().encode(this.ctx.termReasons ? `+TERM ${reason.replace(/[\r\n]+/g, ' ')}`.trimEnd() : '+TERM');
    this.settle(m.seq, () => term);
  }

  /**
   * Settlements go out in order on the connection. Per consumer, every settlement but
   * the latest is published at once (fire and forget); the latest is held, and
   * flush() sends it as a request. The server handles a consumer's acks in order
   * (one queue per consumer; one TCP connection keeps them in order on the way), so
   * its reply to the last one confirms all the earlier ones too: one round trip per
   * consumer per flush instead of one per message.
   */
  private settle(seq: number, payload: () => Uint8Array): boolean {
    const entry = this.inFlight.get(seq);
    if (!entry) return false; // not handed out by this lane object (or settled already)
    this.inFlight.delete(seq);
    this.retries.delete(seq);
    const prev = this.held.get(entry.durable);
    if (prev) {
      try {
        this.ctx.nc.publish(prev.reply, prev.payload());
      } catch (err) {
        this.errors.push(err);
      }
    }
    // JsMsgImpl exposes the ack subject (`$JS.ACK.…`) as `reply`; the typings do not.
    this.held.set(entry.durable, { reply: (entry.msg as unknown as { reply: string }).reply, payload });
    return true;
  }

  /**
   * Resolves once the server has confirmed every settlement made so far. A settlement
   * the server did not confirm makes flush reject; that message is handed out again
   * after ack_wait (at-least-once), never lost.
   */
  async flush(): Promise<void> {
    for (const held of this.held.values()) {
      const p = this.ctx.nc.request(held.reply, held.payload(), { timeout: this.ctx.settleTimeoutMs }).then(
        () => undefined,
        (err: unknown) => {
          this.errors.push(err);
        },
      );
      this.settling.add(p);
      void p.finally(() => this.settling.delete(p));
    }
    this.held.clear();
    while (this.settling.size > 0) await Promise.all([...this.settling]);
    if (this.errors.length > 0) {
      const errors = this.errors;
      this.errors = [];
      throw new AggregateError(errors, `lane ${this.id}: ${errors.length} settlement(s) not confirmed by NATS`);
    }
  }

  /**
   * The earliest retry this lane object scheduled that is still in the future. The
   * server owns the redelivery schedule and does not report it, so retries scheduled
   * by another process (or before a restart) are unknown here: null then means
   * "poll"; the lane runner's idle poll picks redeliveries up.
   */
  async nextRetryAt(): Promise<number | null> {
    const now = Date.now();
    let min: number | null = null;
    for (const [seq, at] of this.retries) {
      if (at <= now) this.retries.delete(seq);
      else if (min === null || at < min) min = at;
    }
    return min;
  }

  /**
   * From consumer info: pending = messages not yet delivered (num_pending);
   * retrying = ack-pending messages (num_ack_pending: nak'd with a delay, or handed
   * out and not settled) minus the ones this lane object holds in flight.
   */
  async backlog(): Promise<LaneBacklog> {
    const { stream, durables } = await this.ready;
    let pending = 0;
    let ackPending = 0;
    for (const durable of durables) {
      const info = await this.ctx.jsm.consumers.info(stream, durable);
      pending += info.num_pending;
      ackPending += info.num_ack_pending;
    }
    return { pending, retrying: Math.max(0, ackPending - this.inFlight.size) };
  }

  /**
   * Graceful: messages handed out and not settled are nak'd without delay so the next
   * reader gets them at once (a crash instead leaves them to ack_wait). Note that this
   * counts as a delivery: they come back with attempt + 1.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ctx.onClose?.();
    for (const seq of [...this.inFlight.keys()]) this.settle(seq, () => nak(0));
    await this.flush();
  }
}

function nak(delayMs: number): Uint8Array {
  return new TextEncoder().encode(delayMs > 0 ? `-NAK ${JSON.stringify({ delay: nanos(delayMs) })}` : '-NAK');
}

function toLaneMessage(jm: JsMsg): LaneMessage {
  const h = jm.headers;
  const attempt = jm.info.deliveryCount;
  return {
    seq: jm.seq,
    sourceId: decodeURIComponent(h?.get('Sy-Source-Id') ?? ''),
    messageId: decodeURIComponent(h?.get('Sy-Message-Id') ?? ''),
    payload: decoder.decode(jm.data),
    receivedAt: Number(h?.get('Sy-Received-At') ?? 0),
    attempt,
    // JetStream keeps no first-attempt time: the retry window starts at the publish time.
    firstAttemptAt: attempt > 1 ? Math.floor(jm.info.timestampNanos / 1e6) : null,
  };
}

export function isNotFound(err: unknown): boolean {
  const e = err as { api_error?: { code?: number; err_code?: number }; code?: string; message?: string };
  return e?.api_error?.code === 404 || e?.api_error?.err_code === 10014 || /not found/i.test(e?.message ?? '');
}
