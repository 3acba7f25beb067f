import type { NatsEventLog } from '../log/nats/log.js';
import type { DebuggerEntry, SourceDebugger } from '../observability/debugger.js';

const CHANNEL = 'debugger';

interface Relayed {
  from: string;
  sourceId: string;
  entry: DebuggerEntry;
}

/**
 * The source debugger across processes (NATS log): each ingest process relays the
 * events it sampled (at most its per-second budget per source) on a core NATS
 * subject, and every process serving the API adds the others' samples to its own
 * debugger, so the console shows what every ingest process receives.
 * Not stored: a process that starts later sees events from then on.
 */
export function relayDebugger(
  log: NatsEventLog, dbg: SourceDebugger, me: string, roles: { publish: boolean; receive: boolean }, onError: (err: unknown) => void,
): () => void {
  if (roles.publish) {
    dbg.onKept = (sourceId, entry) => log.broadcast(CHANNEL, JSON.stringify({ from: me, sourceId, entry } satisfies Relayed));
  }
  const stop = roles.receive
    ? log.onBroadcast(CHANNEL, (data) => {
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
    : () => {};
  return () => {
    dbg.onKept = undefined;
    stop();
  };
}
