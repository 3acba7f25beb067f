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

/**
 * Errors of the local copy, not of the item: a full or failing disk, a file busy or
 * locked. Such an item is tried again (from the stored position) instead of skipped.
 */
const TRANSIENT = /^(ENOSPC|EDQUOT|EIO|EMFILE|ENFILE|EBUSY|EAGAIN|SQLITE_FULL|SQLITE_IOERR|SQLITE_BUSY|SQLITE_LOCKED)/;
/** A local storage error that passes (a full disk, a busy database): retry later, never set the data aside. */
export const isTransientLocalError = (err: unknown): boolean => TRANSIENT.test(String((err as { code?: unknown } | null)?.code ?? ''));

/**
 * Adds the other files' items to `replica`, each once, in order, from where it stopped.
 * An item that is not one (bad JSON, refused by the replica) is reported and skipped. One
 * the local copy could not take (TRANSIENT: a full disk, say) is reported, the feed is
 * left there, and followed again from the stored position after `retryMs`: before,
 * the follower moved past it and this copy missed that item for good.
 */
export async function replicate<T>(replica: FeedReplica<T>, feed: Feed, onError: (err: unknown) => void, retryMs = 5_000): Promise<{ stop(): Promise<void> }> {
  const origin = replica.origin();
  const cursor = `feed:${feed.stream}`;
  let following: { stop(): Promise<void> } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const follow = async (): Promise<void> => {
    let halted = false;
    const sub = await feed.follow(replica.remoteCursor(cursor), (seq, data) => {
      if (halted) return; // what follows a failed item waits for it
      let e: Envelope<T>;
      try {
        e = JSON.parse(data) as Envelope<T>;
      } catch (err) {
        onError(err);
        return;
      }
      if (e.origin === origin) return;
      try {
        replica.applyRemote(cursor, seq, e.item);
      } catch (err) {
        onError(err);
        if (!isTransientLocalError(err)) return;
        halted = true;
        timer = setTimeout(() => void again(), retryMs);
      }
    });
    following = sub;
    if (stopped) await sub.stop(); // stopped while it started
  };
  const again = async (): Promise<void> => {
    if (stopped) return;
    await following?.stop();
    if (stopped) return;
    await follow().catch((err: unknown) => {
      onError(err);
      timer = setTimeout(() => void again(), retryMs);
    });
  };
  await follow();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await following?.stop();
    },
  };
}
