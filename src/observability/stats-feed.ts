import { publisher, replicate, type Feed } from '../core/feed.js';
import { STATS_RETENTION_MS, type StatsDelta, type StatsRecorder } from './stats.js';

/**
 * Metrics across processes that do not share a DATA_DIR (../core/feed.ts): each
 * process publishes every flushed delta; the processes that answer questions about
 * metrics (API, alert checks) replay the other stats files' deltas into their own.
 */

/** Deltas older than this are gone from the feed: as long as the figures are kept. */
export const STATS_FEED_MAX_AGE_MS = STATS_RETENTION_MS;

/** Publishes every flush of `stats` (best effort: a failed publish is reported, the local figures stay). */
export function publishStats(stats: StatsRecorder, feed: Feed, onError: (err: unknown) => void): () => void {
  stats.onFlush = publisher<StatsDelta>(feed, stats.origin(), onError);
  return () => (stats.onFlush = undefined);
}

/** Adds the other stats files' deltas to `stats`, each once, from where this file stopped. */
export function followStats(stats: StatsRecorder, feed: Feed, onError: (err: unknown) => void): Promise<{ stop(): Promise<void> }> {
  return replicate(stats, feed, onError);
}
