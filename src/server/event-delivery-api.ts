import type Database from 'better-sqlite3';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { catalogEntries } from '../destinations/actions/index.js';
import { minuteOf } from '../observability/stats.js';
import type { ControlPlaneStore } from '../store/types.js';
import { findDestination } from './lookup.js';

const DAY_MS = 86_400_000;

/**
 * Event Delivery's summary in the Public API's shape (`DestinationsApi.
 * listDeliveryMetricsSummaryFromDestination`): `GET /destinations/:id/delivery-metrics
 * ?sourceId&startTime&endTime` → `{deliveryMetricsSummary: {sourceId,
 * destinationMetadataId, metrics: [{metricName, total, breakdown: [{metricName,
 * value}]}]}}`. Metrics: `successes` (first attempt / after retries), `failures`
 * (by discard reason), `retries` (attempts that failed and were retried, by reason)
 * and `filtered` (by reason). The errors table with samples is
 * `/api/v1/destinations/:id/delivery`.
 */
export function registerEventDelivery(app: FastifyInstance, deps: { store: ControlPlaneStore; statsDb: Database.Database }): void {
  const bad = (reply: FastifyReply, message: string, field: string) => reply.code(400).send({ errors: [{ type: 'validation', message, field }] });
  app.get<{ Params: { id: string }; Querystring: { sourceId?: string; startTime?: string; endTime?: string } }>(
    '/destinations/:id/delivery-metrics',
    async (req, reply) => {
      const destination = findDestination(deps.store, req.params.id);
      if (!destination) return reply.code(404).send({ errors: [{ type: 'not-found', message: `no destination ${req.params.id}` }] });
      const sourceId = req.query.sourceId;
      if (!sourceId) return bad(reply, '"sourceId" is required', 'sourceId');
      if (!destination.sourceIds.includes(sourceId)) return bad(reply, `destination ${destination.id} is not connected to source ${sourceId}`, 'sourceId');
      const end = req.query.endTime ? Date.parse(req.query.endTime) : Date.now();
      const start = req.query.startTime ? Date.parse(req.query.startTime) : end - DAY_MS;
      if (Number.isNaN(start)) return bad(reply, '"startTime" must be an ISO 8601 date-time', 'startTime');
      if (Number.isNaN(end) || end <= start) return bad(reply, '"endTime" must be an ISO 8601 date-time after "startTime"', 'endTime');

      const rows = deps.statsDb
        .prepare(
          `SELECT step, reason, SUM(count) AS n, SUM(retry_count) AS retries FROM step_counters
            WHERE source_id = ? AND destination_id = ? AND minute >= ? AND minute < ? GROUP BY step, reason`,
        )
        .all(sourceId, destination.id, minuteOf(start), minuteOf(end) + 1) as { step: string; reason: string; n: number; retries: number }[];
      const attempts = deps.statsDb
        .prepare(`SELECT reason, SUM(count) AS n FROM stat_counters WHERE scope = ? AND metric = 'attempt_failed' AND minute >= ? AND minute < ? GROUP BY reason`)
        .all(`dest:${destination.id}`, minuteOf(start), minuteOf(end) + 1) as { reason: string; n: number }[];
      const of = (step: string) => rows.filter((r) => r.step === step);
      const delivered = of('successful_delivery');
      const total = (xs: { n: number }[]) => xs.reduce((s, x) => s + x.n, 0);
      const afterRetry = total(delivered.filter((r) => r.reason === 'after_retry'));
      const byReason = (xs: { reason: string; n: number }[]) => xs.map((x) => ({ metricName: x.reason, value: x.n })).sort((a, b) => b.value - a.value);
      const metadataId = destination.type.startsWith('actions-') ? (catalogEntries().get(destination.type)?.id ?? destination.type) : destination.type;
      return {
        data: {
          deliveryMetricsSummary: {
            sourceId,
            destinationMetadataId: metadataId,
            metrics: [
              {
                metricName: 'successes',
                total: total(delivered),
                breakdown: [
                  { metricName: 'delivered on first attempt', value: total(delivered) - afterRetry },
                  { metricName: 'delivered after retries', value: afterRetry },
                ],
              },
              { metricName: 'failures', total: total(of('failed_delivery')), breakdown: byReason(of('failed_delivery')) },
              { metricName: 'retries', total: total(attempts), breakdown: byReason(attempts) },
              { metricName: 'filtered', total: total(of('filtered_at_destination')), breakdown: byReason(of('filtered_at_destination')) },
            ],
          },
        },
      };
    },
  );
}
