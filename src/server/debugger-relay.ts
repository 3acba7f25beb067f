import type { NatsEventLog } from '../log/nats/log.js';
import { token } from '../log/nats/names.js';
import type { DebuggerEntry, SourceDebugger } from '../observability/debugger.js';

/** The feed of debugger samples, and how much of it NATS keeps. */
const DEBUGGER_FEED = 'debugger';
/** Samples kept per source: the debugger's ring (SourceDebugger's `perSource`). */
const PER_SOURCE = 200;
const MAX_AGE_MS = 24 * 3_600_000;
const MAX_BYTES = 256 * 1024 ** 2;

interface Relayed {
  from: string;
  sourceId: string;
  entry: DebuggerEntry;
}

/**
 * The source debugger across processes (NATS log): each ingest process publishes the
 * events it sampled (at most its per-second budget per source) on the `debugger` feed,
 * a JetStream stream that keeps the newest 200 per source for 24 hours. Every process
 * serving the API replays it when it starts, then follows it, adding the others'
 * samples to its own debugger: the console shows what every ingest process received,
 * including before this process started (a restarted or added API process, or one
 * with its own DATA_DIR).
 */
export async function relayDebugger(
  log: NatsEventLog, dbg: SourceDebugger, me: string, roles: { publish: boolean; receive: boolean }, onError: (err: unknown) => void,
): Promise<{ stop(): Promise<void> }> {
  const feed = await log.feed(DEBUGGER_FEED, MAX_AGE_MS, MAX_BYTES, PER_SOURCE);
  if (roles.publish) {
    dbg.onKept = (sourceId, entry) => {
      // A sample is not an event: one NATS did not store is lost, and said so.
      feed.publish(JSON.stringify({ from: me, sourceId, entry } satisfies Relayed), token(sourceId)).catch(onError);
    };
  }
  const follower = roles.receive
    ? await feed.follow(0, (_seq, data) => {
      let m: Relayed;
      try {
        m = JSON.parse(data) as Relayed;
      } catch (err) {
        onError(err);
        return;
      }
      // Its own samples are in its debugger already.
      if (m.from !== me && typeof m.sourceId === 'string' && m.entry) dbg.add(m.sourceId, m.entry);
    })
    : undefined;
  return {
    async stop() {
      dbg.onKept = undefined;
      await follower?.stop();
    },
  };
}
