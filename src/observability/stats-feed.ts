import { STATS_RETENTION_MS, type StatsDelta, type StatsRecorder } from './stats.js';

/**
 * Metrics across processes that do not share a DATA_DIR: each process publishes
 * every flushed delta to a feed (with the NATS log: a JetStream stream with limits
 * retention, ../log/nats/feed.ts) and the processes that answer questions about
 * metrics (API, alert checks) replay it into their own stats file from the position
 * they stored there. A delta carries the id of the stats file it was flushed into;
 * readers skip their own file's deltas, which they already hold.
 */
export interface Feed {
  readonly stream: string;
  publish(data: string): Promise<number>;
  follow(afterSeq: number, onMessage: (seq: number, data: string) => void): Promise<{ stop(): Promise<void> }>;
}

interface Envelope {
  origin: string;
  delta: StatsDelta;
}

/** Deltas older than this are gone from the feed: as long as the figures are kept. */
export const STATS_FEED_MAX_AGE_MS = STATS_RETENTION_MS;

/** Publishes every flush of `stats` (best effort: a failed publish is reported, the local figures stay). */
export function publishStats(stats: StatsRecorder, feed: Feed, onError: (err: unknown) => void): () => void {
  const origin = stats.origin();
  stats.onFlush = (delta) => void feed.publish(JSON.stringify({ origin, delta } satisfies Envelope)).catch(onError);
  return () => (stats.onFlush = undefined);
}

/** Adds the other stats files' deltas to `stats`, each once, from where this file stopped. */
export async function followStats(stats: StatsRecorder, feed: Feed, onError: (err: unknown) => void): Promise<{ stop(): Promise<void> }> {
  const origin = stats.origin();
  const cursor = `feed:${feed.stream}`;
  return feed.follow(stats.remoteCursor(cursor), (seq, data) => {
    try {
      const e = JSON.parse(data) as Envelope;
      if (e.origin !== origin) stats.applyRemote(cursor, seq, e.delta);
    } catch (err) {
      onError(err);
    }
  });
}
