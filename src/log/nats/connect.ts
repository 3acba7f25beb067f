import type { NatsEventLog } from './log.js';

/**
 * Connects the NATS JetStream log, loading the `nats` client on first use: an embedded
 * (SQLite) server never needs it, and loading it cost every thread that imported it
 * ~14 MB of RSS.
 */
export async function connectNatsLog(options: Parameters<typeof NatsEventLog.connect>[0]): Promise<NatsEventLog> {
  const { NatsEventLog } = await import('./log.js');
  return NatsEventLog.connect(options);
}
