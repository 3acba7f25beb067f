import { batchBodies } from './events.js';
import { runLoad } from './load.js';
import { sleep } from './procs.js';

/**
 * Ingests `events` as 100-event batches as fast as the server takes them, then
 * waits until the sink (bench/servers/sink.ts) has received them all: the time
 * from the first request to the sink's last receipt, delivery-bound.
 */
export async function timeUntilDelivered(opts: { label: string; serverUrl: string; sinkUrl: string; events: number; timeoutMs: number }) {
  const t0 = performance.now();
  await runLoad({ url: opts.serverUrl, bodies: batchBodies(100), connections: 8, amount: opts.events / 100 });
  for (;;) {
    const stats = (await (await fetch(`${opts.sinkUrl}/stats`)).json()) as { events: number; lastAt: number };
    if (stats.events >= opts.events) {
      const seconds = (stats.lastAt - (Date.now() - (performance.now() - t0))) / 1000;
      return { label: opts.label, eventsPerSec: opts.events / seconds, seconds };
    }
    if (performance.now() - t0 > opts.timeoutMs) throw new Error(`${opts.label}: only ${stats.events} of ${opts.events} events arrived in ${opts.timeoutMs / 1000} s`);
    await sleep(200);
  }
}
