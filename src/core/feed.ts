/**
 * Replicating a local record across processes that do not share a DATA_DIR: each
 * process publishes what it writes to a feed (with the NATS log: a JetStream stream
 * with limits retention, ../log/nats/feed.ts), and the processes that answer
 * questions about it replay the feed into their own copy from the position they
 * stored there. An item carries the id of the file it was written to (`origin`);
 * readers skip their own file's items, which they hold already.
 */
export interface Feed {
  readonly stream: string;
  publish(data: string): Promise<number>;
  follow(afterSeq: number, onMessage: (seq: number, data: string) => void): Promise<{ stop(): Promise<void> }>;
}

/** A local store that takes other files' items once each (the position kept with them). */
export interface FeedReplica<T> {
  /** The id of this file: the same for every process sharing it. */
  origin(): string;
  /** The last feed sequence applied (0: none). */
  remoteCursor(feed: string): number;
  /** Applies `item` unless `seq` is not past the stored position; false when skipped. */
  applyRemote(feed: string, seq: number, item: T): boolean;
}

interface Envelope<T> {
  origin: string;
  item: T;
}

/** A function that publishes each item written locally (best effort: failures go to `onError`). */
export function publisher<T>(feed: Feed, origin: string, onError: (err: unknown) => void): (item: T) => void {
  return (item) => void feed.publish(JSON.stringify({ origin, item } satisfies Envelope<T>)).catch(onError);
}

/** Adds the other files' items to `replica`, each once, from where it stopped. */
export function replicate<T>(replica: FeedReplica<T>, feed: Feed, onError: (err: unknown) => void): Promise<{ stop(): Promise<void> }> {
  const origin = replica.origin();
  const cursor = `feed:${feed.stream}`;
  return feed.follow(replica.remoteCursor(cursor), (seq, data) => {
    try {
      const e = JSON.parse(data) as Envelope<T>;
      if (e.origin !== origin) replica.applyRemote(cursor, seq, e.item);
    } catch (err) {
      onError(err);
    }
  });
}
