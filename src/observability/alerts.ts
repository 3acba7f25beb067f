import type Database from 'better-sqlite3';
import { z } from 'zod';
import { minuteOf } from './stats.js';

/**
 * Connections alerting (Segment's two kinds):
 * - source volume: events a source received in the last 24 hours changed by at
 *   least `percentChange` against the 24 hours before (up, down or either);
 * - successful delivery rate: a destination delivered less than `belowPercent` of
 *   its qualified events over the last 24 hours. Qualified events exclude the ones
 *   filtered at the destination (they were never meant to be sent).
 * An alert notifies when it starts firing and when it resolves, not on every check.
 */
const channel = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('in_app') }),
  z.strictObject({ type: z.literal('slack'), webhookUrl: z.url({ protocol: /^https?$/ }) }),
  z.strictObject({ type: z.literal('email'), to: z.array(z.email()).min(1) }),
]);

export const alertInput = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('source_volume'),
    sourceId: z.string().min(1),
    percentChange: z.number().positive(),
    direction: z.enum(['any', 'increase', 'decrease']).default('any'),
    channels: z.array(channel).min(1),
    enabled: z.boolean().default(true),
  }),
  z.strictObject({
    kind: z.literal('delivery_rate'),
    destinationId: z.string().min(1),
    belowPercent: z.number().min(0).max(100),
    channels: z.array(channel).min(1),
    enabled: z.boolean().default(true),
  }),
]);
export type AlertInput = z.infer<typeof alertInput>;
export type AlertChannel = z.infer<typeof channel>;
export type AlertRule = AlertInput & { id: string; createdBy: string; createdAt: string; updatedAt: string };

export interface AlertNotification {
  id: number;
  alertId: string;
  at: string;
  status: 'firing' | 'resolved';
  message: string;
}

const DAY_MS = 86_400_000;

/** What the rule sees: the figures of the last two days, from the step counters. */
export function evaluate(db: Database.Database, rule: AlertRule, now: number): { firing: boolean; message: string } {
  const sum = (step: string, key: 'source_id' | 'destination_id', id: string, from: number, to: number): number =>
    (
      db
        .prepare(`SELECT IFNULL(SUM(count), 0) AS n FROM step_counters WHERE step = ? AND ${key} = ? AND minute >= ? AND minute < ?`)
        .get(step, id, minuteOf(from), minuteOf(to)) as { n: number }
    ).n;
  if (rule.kind === 'source_volume') {
    const current = sum('successfully_received', 'source_id', rule.sourceId, now - DAY_MS, now + 60_000);
    const previous = sum('successfully_received', 'source_id', rule.sourceId, now - 2 * DAY_MS, now - DAY_MS);
    const change = previous === 0 ? (current === 0 ? 0 : Infinity) : ((current - previous) / previous) * 100;
    const hit =
      (rule.direction !== 'decrease' && change >= rule.percentChange) || (rule.direction !== 'increase' && -change >= rule.percentChange);
    const pct = Number.isFinite(change) ? `${change >= 0 ? '+' : ''}${change.toFixed(1)}%` : 'from none';
    return { firing: hit, message: `source ${rule.sourceId} received ${current} events in the last 24 h (${pct} against ${previous} the day before; alert at ${rule.percentChange}%)` };
  }
  const delivered = sum('successful_delivery', 'destination_id', rule.destinationId, now - DAY_MS, now + 60_000);
  const failed = sum('failed_delivery', 'destination_id', rule.destinationId, now - DAY_MS, now + 60_000);
  const qualified = delivered + failed;
  const rate = qualified === 0 ? 100 : (delivered / qualified) * 100;
  return {
    firing: qualified > 0 && rate < rule.belowPercent,
    message: `destination ${rule.destinationId} delivered ${delivered} of ${qualified} events in the last 24 h (${rate.toFixed(1)}%; alert below ${rule.belowPercent}%)`,
  };
}

export interface Notifier {
  slack(webhookUrl: string, text: string): Promise<void>;
  email(to: string[], subject: string, text: string): Promise<void>;
}
