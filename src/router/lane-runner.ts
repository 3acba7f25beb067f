import type { Logger } from 'pino';
import { nextAttempt, type RetryPolicy } from '../core/retry.js';
import type { RequestFn } from '../core/request.js';
import type { DeliveryOutcome } from '../core/result.js';
import { decideRoute, type RouteTarget } from '../core/route.js';
import type { DestinationDefinition, PersistSecret } from '../destinations/types.js';
import type { Lane, LaneMessage } from '../log/types.js';
import type { StatsRecorder, StepKey } from '../observability/stats.js';
import type { SegmentMessage } from '../protocol/types.js';
import { TokenBucket } from './token-bucket.js';
import { compileFilters, type FilterResult } from '../core/filters.js';
import type { SavedFilter } from '../store/types.js';
import type { FailureLogWriter } from '../observability/failure-log.js';

export interface LaneRunnerDeps {
  lane: Lane;
  target: RouteTarget;
  definition: DestinationDefinition<unknown>;
  settings: unknown;
  request: RequestFn;
  /** Writes a refreshed secret of this instance to the store (DeliverInput.persist). */
  persist?: PersistSecret;
  policy: RetryPolicy;
  stats: StatsRecorder;
  logger: Logger;
  /** Deliveries in flight at once for this destination instance. */
  concurrency: number;
  /** For destinations that batch: how long to wait for a fuller batch (0: send what was fetched). */
  batchWaitMs: number;
  /** The instance's destination filters, each applying to events received after it was saved. */
  filters: readonly SavedFilter[];
  /** Where failed attempts are logged when the instance's failure log collection is on. */
  failureLog: FailureLogWriter;
  /** Workspace rate limit in events/s, 0 = none. */
  rateLimitPerSecond: number;
  now: () => number;
  random: () => number;
}

const FLUSH_EVERY_MS = 50;

interface Prepared {
  m: LaneMessage;
  message: SegmentMessage;
  payload: string;
  occurredAt: number;
}
const IDLE_POLL_MS = 1000;
const ERROR_PAUSE_MS = 1000;
const SAMPLE_EVENT_CHARS = 4096;

/**
 * Delivers one destination instance's lane: keeps up to `concurrency` deliveries
 * in flight, settles each message exactly once (ack / retry / fail), and flushes
 * settlements to the log at most every 50 ms. Its only memory is what is in
 * flight; the backlog stays in the log. A slow destination only fills its own
 * in-flight budget.
 */
export class LaneRunner {
  private inFlight = 0;
  private stopped = false;
  private wakeUp: (() => void) | null = null;
  private loopDone: Promise<void> = Promise.resolve();
  private lastFlush = 0;
  private readonly bucket: TokenBucket | null;
  private readonly scope: string;
  /** Compiled filter chains by which filters apply (a bit per filter): usually one entry. */
  private readonly filterChains = new Map<number, (message: SegmentMessage) => FilterResult>();
  /** The failure log collection id while collection is on for this instance. */
  private collectionId: string | null = null;

  constructor(private readonly deps: LaneRunnerDeps) {
    this.scope = `dest:${deps.lane.id}`;
    this.bucket = deps.rateLimitPerSecond > 0 ? new TokenBucket(deps.rateLimitPerSecond, deps.now()) : null;
  }

  start(): void {
    this.loopDone = this.run();
  }

  /**
   * A failed fetch or flush (the NATS log unreachable for a moment, a settlement the
   * server did not confirm) must not stop the lane for good: log, wait, go on. What
   * was not confirmed is handed out again by the log (at-least-once).
   */
  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.loop();
        return;
      } catch (err) {
        this.deps.logger.error({ err }, 'lane failed; resuming in 1 s');
        await this.sleep(ERROR_PAUSE_MS);
      }
    }
  }

  setFailureLogCollection(collectionId: string | null): void {
    this.collectionId = collectionId;
  }

  /** New events were committed, or a delivery finished: look again now. */
  wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  /** Stops fetching, lets in-flight deliveries finish (they are settled and flushed). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loopDone;
    while (this.inFlight > 0) await new Promise((r) => setTimeout(r, 10));
    await this.deps.lane.close();
  }

  private async loop(): Promise<void> {
    const { lane, concurrency, now } = this.deps;
    // Refill when half the budget is free, not after every delivery: each fetch has a
    // fixed cost (queries, dedupe check), so fetching one message at a time would
    // spend the router's core on bookkeeping instead of delivering.
    const lowWater = Math.floor(concurrency / 2);
    while (!this.stopped) {
      let room = this.inFlight <= lowWater ? concurrency - this.inFlight : 0;
      let throttledMs = 0;
      if (room > 0 && this.bucket) {
        room = Math.min(room, this.bucket.available(now()));
        if (room === 0) throttledMs = this.bucket.waitMs();
      }
      let messages = room > 0 ? await lane.fetch(room, now()) : [];
      if (this.deps.definition.deliverBatch && this.deps.batchWaitMs > 0 && messages.length > 0 && messages.length < room) {
        // Fill the batch for up to batchWaitMs: new events wake the runner, which fetches more.
        const deadline = now() + this.deps.batchWaitMs;
        while (messages.length < room && now() < deadline && !this.stopped) {
          await this.sleep(deadline - now());
          messages = messages.concat(await lane.fetch(room - messages.length, now()));
        }
      }
      this.bucket?.consume(messages.length);
      if (this.deps.definition.deliverBatch && messages.length > 0) {
        // A destination that batches (Actions with performBatch) gets what was
        // fetched together in one call; each event still gets its own outcome.
        this.inFlight += messages.length;
        void this.processBatch(messages).finally(() => {
          this.inFlight -= messages.length;
          if (this.inFlight <= lowWater) this.wake();
        });
      } else {
        for (const m of messages) {
          this.inFlight++;
          void this.process(m).finally(() => {
            this.inFlight--;
            if (this.inFlight <= lowWater) this.wake();
          });
        }
      }
      // Flush at most every 50 ms under load, and always before going idle: the idle
      // sleep reads the next retry time from the log, which must include the latest.
      if (this.inFlight === 0 || now() - this.lastFlush >= FLUSH_EVERY_MS) {
        await lane.flush();
        this.lastFlush = now();
      }
      if (messages.length > 0 && messages.length === room) continue;
      await this.sleep(throttledMs || (this.inFlight > 0 ? FLUSH_EVERY_MS : await this.idleMs()));
    }
    await lane.flush();
  }

  private async idleMs(): Promise<number> {
    const at = await this.deps.lane.nextRetryAt();
    return at === null ? IDLE_POLL_MS : Math.max(0, Math.min(IDLE_POLL_MS, at - this.deps.now()));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = null;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * Parses the event and applies the routing rules and destination filters; settles
   * and returns null when the event is not to be sent.
   */
  private prepare(m: LaneMessage): Prepared | null {
    const { lane, stats } = this.deps;
    let message: SegmentMessage;
    try {
      message = JSON.parse(m.payload) as SegmentMessage;
    } catch {
      lane.fail(m, 'unreadable_event');
      stats.count(this.scope, 'discarded', 1, 'unreadable_event');
      stats.step('failed_delivery', this.stepKey(m, null, 'unreadable_event'));
      return null;
    }
    const decision = decideRoute(message, this.deps.target);
    if (decision.kind === 'skip') {
      lane.ack(m);
      stats.count(this.scope, 'filtered', 1, decision.reason);
      stats.step('filtered_at_destination', this.stepKey(m, message, decision.reason));
      return null;
    }
    // Destination filters, after the integrations object and event types (Segment's
    // order). Chosen by when the event was received, so a retry sees the same filters
    // as its first attempt and a filter saved later never applies to it.
    let payload = m.payload;
    const filter = this.filtersFor(m.receivedAt);
    if (filter) {
      const result = filter(message);
      if (result.kind === 'drop') {
        lane.ack(m);
        const reason = `destination_filter:${result.filterId}:${result.reason}`;
        stats.count(this.scope, 'filtered', 1, reason);
        stats.step('filtered_at_destination', this.stepKey(m, message, reason));
        if (result.reason === 'filter_error') this.deps.logger.warn({ filter: result.filterId, detail: result.detail }, 'a destination filter failed; event dropped');
        return null;
      }
      if (result.message !== message) {
        message = result.message;
        payload = JSON.stringify(message);
      }
    }
    const occurredAt = typeof message.timestamp === 'string' ? Date.parse(message.timestamp) : Number.NaN;
    return { m, message, payload, occurredAt: Number.isNaN(occurredAt) ? m.receivedAt : occurredAt };
  }

  private async process(m: LaneMessage): Promise<void> {
    const p = this.prepare(m);
    if (!p) return;
    const attemptedAt = this.deps.now();
    let outcome: DeliveryOutcome;
    try {
      outcome = await this.deps.definition.deliver({ settings: this.deps.settings, message: p.message, payload: p.payload, request: this.deps.request, persist: this.deps.persist });
    } catch (err) {
      // A destination that throws instead of returning an outcome has a bug; retry
      // (bounded by the policy) rather than lose the event, and say why.
      outcome = { kind: 'retry', reason: `destination error: ${err instanceof Error ? err.message : String(err)}`, exchanges: [] };
    }
    this.settle(m, outcome, attemptedAt, p.occurredAt, p.message);
  }

  private async processBatch(messages: LaneMessage[]): Promise<void> {
    const ready = messages.map((m) => this.prepare(m)).filter((p): p is Prepared => p !== null);
    if (ready.length === 0) return;
    const attemptedAt = this.deps.now();
    let outcomes: DeliveryOutcome[];
    try {
      outcomes = await this.deps.definition.deliverBatch!({ settings: this.deps.settings, messages: ready.map((p) => p.message), request: this.deps.request, persist: this.deps.persist });
      if (outcomes.length !== ready.length) throw new Error(`${outcomes.length} outcomes for ${ready.length} events`);
    } catch (err) {
      const reason = `destination error: ${err instanceof Error ? err.message : String(err)}`;
      outcomes = ready.map(() => ({ kind: 'retry', reason, exchanges: [] }));
    }
    ready.forEach((p, i) => this.settle(p.m, outcomes[i]!, attemptedAt, p.occurredAt, p.message));
  }

  private filtersFor(receivedAt: number): ((message: SegmentMessage) => FilterResult) | null {
    const filters = this.deps.filters;
    let mask = 0;
    for (let i = 0; i < filters.length; i++) if (filters[i]!.enabled && filters[i]!.savedAt <= receivedAt) mask |= 1 << i;
    if (mask === 0) return null;
    let chain = this.filterChains.get(mask);
    if (!chain) {
      chain = compileFilters(filters.filter((_, i) => mask & (1 << i)));
      this.filterChains.set(mask, chain);
    }
    return chain;
  }

  private logFailure(m: LaneMessage, outcome: DeliveryOutcome, occurredAt: number, discarded: boolean): void {
    if (this.collectionId === null) return;
    this.deps.failureLog.record({
      collectionId: this.collectionId,
      destinationId: this.deps.lane.id,
      sourceId: m.sourceId,
      messageId: m.messageId,
      attempt: m.attempt,
      occurredAt,
      discarded,
      exchanges: outcome.exchanges,
    });
  }

  /** Delivery Overview's dimensions for one event at this destination. */
  private stepKey(m: LaneMessage, message: SegmentMessage | null, reason = ''): StepKey {
    const type = message?.type ?? '';
    const name = type === 'track' ? message?.event : type === 'page' || type === 'screen' ? message?.name : undefined;
    return { sourceId: m.sourceId, destinationId: this.deps.lane.id, eventType: type, eventName: typeof name === 'string' ? name : '', reason };
  }

  private settle(m: LaneMessage, outcome: DeliveryOutcome, attemptedAt: number, occurredAt: number, message: SegmentMessage): void {
    const { lane, stats, now, logger } = this.deps;
    if (outcome.kind === 'delivered') {
      lane.ack(m);
      stats.count(this.scope, 'delivered');
      if (m.attempt === 1) stats.count(this.scope, 'delivered_first_attempt');
      // Reason "after_retry" marks deliveries that needed retries (Event Delivery's breakdown).
      stats.step('successful_delivery', this.stepKey(m, message, m.attempt > 1 ? 'after_retry' : ''), 1, m.attempt - 1);
      stats.latencyMs(this.scope, now() - m.receivedAt);
      return;
    }
    if (outcome.kind === 'skip') {
      lane.ack(m);
      stats.count(this.scope, 'filtered', 1, outcome.reason);
      stats.step('filtered_at_destination', this.stepKey(m, message, outcome.reason));
      return;
    }
    const sample = {
      messageId: m.messageId, attempt: m.attempt, event: m.payload.slice(0, SAMPLE_EVENT_CHARS), exchanges: outcome.exchanges,
      ...(outcome.logs?.length ? { logs: outcome.logs } : {}),
    };
    if (outcome.kind === 'discard') {
      this.logFailure(m, outcome, occurredAt, true);
      lane.fail(m, outcome.reason);
      stats.count(this.scope, 'discarded', 1, outcome.reason);
      stats.step('failed_delivery', this.stepKey(m, message, outcome.reason));
      stats.failure(this.scope, outcome.reason, sample);
      this.logFor(m).warn({ reason: outcome.reason }, 'delivery discarded');
      return;
    }
    stats.count(this.scope, 'attempt_failed', 1, outcome.reason);
    const next = nextAttempt(
      { attempt: m.attempt, firstAttemptAt: m.firstAttemptAt ?? attemptedAt, now: now(), retryAfterMs: outcome.retryAfterMs ?? null },
      this.deps.policy,
      this.deps.random,
    );
    this.logFailure(m, outcome, occurredAt, next.kind === 'fail');
    if (next.kind === 'retry') {
      lane.retry(m, next.at, attemptedAt);
      if (logger.isLevelEnabled('debug')) this.logFor(m).debug({ reason: outcome.reason, retryAt: new Date(next.at).toISOString() }, 'delivery will be retried');
      return;
    }
    const reason = `${next.reason} (last error: ${outcome.reason})`;
    lane.fail(m, reason);
    stats.count(this.scope, 'failed', 1, reason);
    stats.step('failed_delivery', this.stepKey(m, message, reason));
    stats.failure(this.scope, reason, sample);
    this.logFor(m).warn({ reason }, 'delivery failed');
  }

  /** A logger naming the event: made only for a line that is written (one per delivery was garbage the router thread paid for). */
  private logFor(m: LaneMessage) {
    return this.deps.logger.child({ messageId: m.messageId, attempt: m.attempt });
  }
}
