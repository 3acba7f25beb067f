import type Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { minuteOf } from '../observability/stats.js';
import { howToFix } from '../observability/reasons.js';
import type { ControlPlaneStore } from '../store/types.js';
import { findDestination } from './lookup.js';
import type { LaneBacklog } from '../log/types.js';

const RANGES: Record<string, number> = { '10m': 600_000, '1h': 3_600_000, '24h': 86_400_000, '7d': 604_800_000, '14d': 1_209_600_000 };
const STEPS = [
  ['successfully_received', 'Successfully received'],
  ['failed_on_ingest', 'Failed on ingest'],
  ['filtered_at_source', 'Filtered at source'],
  ['filtered_at_destination', 'Filtered at destination'],
  ['failed_delivery', 'Failed delivery'],
  ['successful_delivery', 'Successfully delivered'],
] as const;

/**
 * Delivery Overview as the console shows it, for one destination instance over a
 * range: each pipeline step with its count, its share of what was received, the
 * change against the previous period of the same length, a breakdown by event type
 * and name, and for discard steps a table of reasons with counts, change and how to fix.
 */
export function registerOverview(
  app: FastifyInstance,
  deps: { store: ControlPlaneStore; statsDb: Database.Database; laneBacklog: (laneId: string) => LaneBacklog | null },
): void {
  app.get<{ Params: { id: string }; Querystring: { range?: string } }>('/api/v1/destinations/:id/overview', async (req, reply) => {
    const destination = findDestination(deps.store, req.params.id);
    if (!destination) return reply.code(404).send({ errors: [{ type: 'not-found', message: `no destination ${req.params.id}` }] });
    const span = RANGES[req.query.range ?? '24h'];
    if (!span) return reply.code(400).send({ errors: [{ type: 'validation', message: `"range" must be one of ${Object.keys(RANGES).join(', ')}`, field: 'range' }] });
    const now = Date.now();
    const rows = (from: number, to: number) =>
      deps.statsDb
        .prepare(
          `SELECT step, event_type, event_name, reason, SUM(count) AS n FROM step_counters
            WHERE ((destination_id = ? AND step IN ('filtered_at_destination', 'failed_delivery', 'successful_delivery'))
                OR (destination_id = '' AND step IN ('successfully_received', 'failed_on_ingest', 'filtered_at_source')))
              AND source_id IN (${destination!.sourceIds.map(() => '?').join(', ') || "''"})
              AND minute >= ? AND minute < ?
            GROUP BY step, event_type, event_name, reason`,
        )
        .all(destination!.id, ...destination!.sourceIds, minuteOf(from), minuteOf(to) + 1) as { step: string; event_type: string; event_name: string; reason: string; n: number }[];
    const current = rows(now - span, now);
    const previous = rows(now - 2 * span, now - span);
    const total = (rs: typeof current, step: string, reason?: string) =>
      rs.filter((r) => r.step === step && (reason === undefined || r.reason === reason)).reduce((s, r) => s + r.n, 0);
    const change = (cur: number, prev: number) => (prev === 0 ? (cur === 0 ? 0 : null) : Math.round(((cur - prev) / prev) * 1000) / 10);
    const received = total(current, 'successfully_received');
    const steps = STEPS.map(([step, label]) => {
      const count = total(current, step);
      const mine = current.filter((r) => r.step === step);
      const byType = new Map<string, number>();
      const byName = new Map<string, number>();
      for (const r of mine) {
        if (r.event_type) byType.set(r.event_type, (byType.get(r.event_type) ?? 0) + r.n);
        if (r.event_name) byName.set(r.event_name, (byName.get(r.event_name) ?? 0) + r.n);
      }
      const discards = step.startsWith('failed') || step.startsWith('filtered');
      const reasons = [...new Set(mine.map((r) => r.reason))].map((reason) => {
        const n = total(current, step, reason);
        return { reason, count: n, change: change(n, total(previous, step, reason)), howToFix: howToFix(reason) };
      });
      return {
        step,
        label,
        count,
        percentOfReceived: received === 0 ? null : Math.round((count / received) * 1000) / 10,
        change: change(count, total(previous, step)),
        byEventType: Object.fromEntries(byType),
        byEventName: Object.fromEntries(byName),
        ...(discards ? { discards: reasons.sort((a, b) => b.count - a.count) } : {}),
      };
    });
    // "Pending retry" sits between failed and successful delivery: events that failed
    // an attempt and wait for the next one (a current figure, not a count over the range).
    const pendingRetry = { step: 'pending_retry', label: 'Pending retry', count: deps.laneBacklog(destination.id)?.retrying ?? 0 };
    steps.splice(steps.length - 1, 0, pendingRetry as (typeof steps)[number]);
    return { data: { destination: { id: destination.id, name: destination.name }, range: { from: new Date(now - span).toISOString(), to: new Date(now).toISOString() }, steps } };
  });
}
