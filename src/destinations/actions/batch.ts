import { capturing, type RedactSet, type RequestFn } from '../../core/request.js';
import type { DeliveryOutcome } from '../../core/result.js';
import { classifyStatus, parseRetryAfter } from '../../core/retry.js';
import type { SegmentMessage } from '../../protocol/types.js';
import type { MultiStatusEntry } from './engine-types.js';
import { verdictFromError, type ErrorVerdict } from './errors.js';
import { withRequestFn } from './http.js';
import { authOf, fold, matches, redactSecrets, refreshTokens, runAction, statusOf, type CompiledSubscription, type Plan } from './plan.js';
import { isOAuth } from './settings.js';

/**
 * Delivers several events at once: subscriptions that batch (see
 * CompiledSubscription.batchSize) send their matching events through the engine's
 * `executeBatch` (`performBatch`) in chunks; the others run per event. Each event
 * gets its own outcome, from its own multistatus entry when the destination
 * reports one, so one bad event in a batch does not fail the others. An error
 * thrown for a whole chunk (a 429, a timeout) applies to every event in it.
 * Outcomes share the batch's captured exchanges.
 */
export async function deliverBatch(plan: Plan, messages: readonly SegmentMessage[], base: RequestFn, redactHeaders: RedactSet): Promise<DeliveryOutcome[]> {
  const { request, exchanges } = capturing(base, redactHeaders);
  const verdicts: (ErrorVerdict | null)[][] = messages.map(() => []);
  const matchedAny = messages.map(() => false);
  const work: Promise<void>[] = [];
  for (const sub of plan.subscriptions) {
    const idx = messages.flatMap((m, i) => (matches(sub.predicate, m) ? [i] : []));
    for (const i of idx) matchedAny[i] = true;
    if (sub.batchSize === 0) {
      for (const i of idx) work.push(runAction(plan, sub, messages[i]!, request).then((v) => void verdicts[i]!.push(v)));
      continue;
    }
    for (let at = 0; at < idx.length; at += sub.batchSize) {
      const chunk = idx.slice(at, at + sub.batchSize);
      work.push(runChunk(plan, sub, chunk.map((i) => messages[i]!), request).then((vs) => chunk.forEach((i, k) => verdicts[i]!.push(vs[k]!))));
    }
  }
  await Promise.all(work);
  const secrets = plan.secretValues();
  // Multistatus entries carry no headers: a Retry-After the API sent on the batch
  // response still applies to the events it made us retry.
  const now = Date.now();
  const asked = exchanges.map((x) => parseRetryAfter(x.response?.headers['retry-after'], now) ?? -1);
  const retryAfterMs = Math.max(-1, ...asked);
  return messages.map((_, i): DeliveryOutcome => {
    if (!matchedAny[i]) return { kind: 'skip', reason: 'no_matching_subscription', exchanges: [] };
    const outcome = redactSecrets(fold(verdicts[i]!, exchanges), secrets);
    if (outcome.kind === 'retry' && outcome.retryAfterMs === undefined && retryAfterMs >= 0) outcome.retryAfterMs = retryAfterMs;
    return outcome;
  });
}

async function runChunk(plan: Plan, sub: CompiledSubscription, events: SegmentMessage[], request: RequestFn): Promise<(ErrorVerdict | null)[]> {
  const oauth = isOAuth(plan.def) && plan.oauth !== undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      const results = await withRequestFn(request, () =>
        sub.action.executeBatch({ mapping: sub.mapping, data: events, settings: plan.settings, auth: authOf(plan), features: {} }),
      );
      const whole401 = results.some((r) => r?.status === 401);
      if (oauth && attempt === 1 && whole401 && (await refreshTokens(plan, request).then(() => true, () => false))) continue;
      return events.map((_, k) => verdictFromEntry(results[k]));
    } catch (err) {
      if (oauth && attempt === 1 && statusOf(err) === 401 && (await refreshTokens(plan, request).then(() => true, () => false))) continue;
      const v = verdictFromError(err, Date.now());
      return events.map(() => v);
    } finally {
      plan.engine.responses.length = 0;
    }
  }
}

function verdictFromEntry(entry: MultiStatusEntry | undefined): ErrorVerdict | null {
  // The engine leaves no entry for an event it did not send nor reject; treat that
  // as a failure to retry rather than a silent success.
  if (!entry) return { kind: 'retry', reason: 'no result for this event in the batch response' };
  const cls = classifyStatus(entry.status);
  if (cls === 'success') return null;
  const reason = entry.errortype === 'PAYLOAD_VALIDATION_FAILED'
    ? `payload validation failed: ${entry.errormessage ?? ''}`.trim()
    : `HTTP ${entry.status}`;
  return { kind: cls, reason, status: entry.status };
}
