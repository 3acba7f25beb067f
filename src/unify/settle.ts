import { isTransientLocalError } from '../core/feed.js';

/** What `settleBatch` needs of the lane (the event log's `Lane`). */
export interface SettleLane<M> {
  ack(m: M): void;
  retry(m: M, notBefore: number, attemptedAt: number): void;
  fail(m: M, reason: string): void;
}

export interface SettleResult {
  applied: number;
  retried: number;
  /** Set aside for good: events the graph refuses whatever the moment. */
  failed: { message: unknown; reason: string }[];
}

/**
 * Applies a batch to the graph in one transaction and settles it on the lane. When the
 * batch fails:
 * - a local storage error (a full disk, a busy file) hands the whole batch out again after
 *   `retryAfterMs`: nothing is lost, nothing set aside;
 * - anything else means one event breaks the batch: each is applied alone, the ones that
 *   apply are acknowledged, and one that fails on its own for a reason other than storage
 *   is failed on the lane (kept there with the reason), so it can no longer stall the
 *   space's lane forever.
 */
export function settleBatch<M>(
  batch: readonly M[], apply: (ms: readonly M[]) => void, lane: SettleLane<M>, now: number, retryAfterMs: number,
): SettleResult {
  const result: SettleResult = { applied: 0, retried: 0, failed: [] };
  try {
    apply(batch);
    for (const m of batch) lane.ack(m);
    result.applied = batch.length;
    return result;
  } catch (err) {
    if (isTransientLocalError(err)) {
      for (const m of batch) lane.retry(m, now + retryAfterMs, now);
      result.retried = batch.length;
      return result;
    }
    if (batch.length === 1) return setAside(batch[0]!, err, lane, result);
  }
  for (const m of batch) {
    try {
      apply([m]);
      lane.ack(m);
      result.applied++;
    } catch (err) {
      if (isTransientLocalError(err)) {
        lane.retry(m, now + retryAfterMs, now);
        result.retried++;
      } else setAside(m, err, lane, result);
    }
  }
  return result;
}

function setAside<M>(m: M, err: unknown, lane: SettleLane<M>, result: SettleResult): SettleResult {
  const reason = `the identity graph cannot apply this event: ${err instanceof Error ? err.message : String(err)}`;
  lane.fail(m, reason);
  result.failed.push({ message: m, reason });
  return result;
}
