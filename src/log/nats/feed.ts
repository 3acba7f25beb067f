import {
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  nanos,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from 'nats';
import { isNotFound } from './lane.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A feed: a small JetStream stream (limits retention, a maximum age) that every
 * process of a deployment publishes to and any process can replay from a sequence
 * it remembers. Unlike the event stream nobody acknowledges: readers follow it with
 * ordered consumers and keep their own position (metric deltas for every API process).
 */
export class NatsFeed {
  private constructor(
    private readonly js: JetStreamClient,
    readonly stream: string,
    private readonly subject: string,
  ) {}

  /**
   * `maxBytes`: the oldest messages are dropped past it (a bound on the server's disk,
   * whatever the age). `perKey`: messages are published under a key (`publish(data, key)`,
   * subject `<subject>.<key>`) and the stream keeps at most this many per key: a replay
   * gives the newest of each key.
   */
  static async open(js: JetStreamClient, jsm: JetStreamManager, o: { stream: string; subject: string; maxAgeMs: number; maxBytes: number; replicas: number; perKey?: number }): Promise<NatsFeed> {
    const config: Partial<StreamConfig> = {
      name: o.stream,
      subjects: [o.perKey ? `${o.subject}.*` : o.subject],
      ...(o.perKey ? { max_msgs_per_subject: o.perKey } : {}),
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: o.replicas,
      max_age: nanos(o.maxAgeMs),
      max_bytes: o.maxBytes,
      discard: DiscardPolicy.Old,
    };
    try {
      await jsm.streams.info(o.stream);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await jsm.streams.add(config);
    }
    return new NatsFeed(js, o.stream, o.subject);
  }

  /** Resolves once the server stored the message. `key`: a subject token, for a feed opened with `perKey`. */
  async publish(data: string, key?: string): Promise<number> {
    return (await this.js.publish(key === undefined ? this.subject : `${this.subject}.${key}`, encoder.encode(data))).seq;
  }

  /**
   * Calls `onMessage` for every message after `afterSeq`, in order, then for each new
   * one as it arrives, until `stop()`. `onMessage` runs to completion before the next.
   */
  async follow(afterSeq: number, onMessage: (seq: number, data: string) => void): Promise<{ stop(): Promise<void> }> {
    // An ordered consumer from the next sequence (or the first one still kept).
    const consumer = await this.js.consumers.get(this.stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: afterSeq + 1 });
    const messages = await consumer.consume();
    const done = (async () => {
      for await (const m of messages) onMessage(m.seq, decoder.decode(m.data));
    })();
    return {
      async stop() {
        await messages.close();
        await done.catch(() => {});
      },
    };
  }
}
