import { Worker } from 'node:worker_threads';
import type { FromRouter, RouterWorkerData, ToRouter } from './worker.js';

/**
 * The least time between two wake messages. Single-event ingest commits every turn of
 * the event loop (~1,000 a second and more): a message for each cost the HTTP thread
 * ~5% of its time (postMessage and the ticks around it, docs/benchmarks.md session 8),
 * for lanes that fetch what came in since anyway.
 */
const WAKE_EVERY_MS = 2;

export interface RouterHandle {
  /** New events were committed. Coalesced: at most one message per turn of the event loop, and per WAKE_EVERY_MS. */
  wake(): void;
  /** The control plane changed. */
  sync(): void;
  stop(): Promise<void>;
}

/** Starts the router thread and resolves once it has applied the configuration. */
export function startRouterThread(data: RouterWorkerData, onFatal: (err: Error) => void): Promise<RouterHandle> {
  // Bounded heap: the router's memory must not grow with the backlog, and V8 collects
  // sooner with a smaller young generation (measured: peak RSS 322 → 199 MB with 1M events backlogged).
  const worker = new Worker(new URL('./worker.js', import.meta.url), {
    workerData: data,
    resourceLimits: { maxYoungGenerationSizeMb: 16, maxOldGenerationSizeMb: 192 },
  });
  const post = (msg: ToRouter) => worker.postMessage(msg);
  let wakePending = false;
  let wokeAt = 0;
  const sendWake = () => {
    wakePending = false;
    wokeAt = performance.now();
    post({ type: 'wake' });
  };
  return new Promise((resolve, reject) => {
    let stopped: (() => void) | null = null;
    let ready = false;
    worker.on('message', (msg: FromRouter) => {
      if (msg.type === 'ready') {
        ready = true;
        resolve({
          wake() {
            if (wakePending) return;
            wakePending = true;
            const wait = wokeAt + WAKE_EVERY_MS - performance.now();
            if (wait > 0) setTimeout(sendWake, wait);
            else setImmediate(sendWake);
          },
          sync: () => post({ type: 'sync' }),
          stop: () =>
            new Promise<void>((done) => {
              stopped = done;
              post({ type: 'stop' });
            }),
        });
      } else if (msg.type === 'stopped') {
        void worker.terminate().then(() => stopped?.());
      } else if (msg.type === 'error') {
        const err = new Error(`router thread failed: ${msg.message}`);
        if (ready) onFatal(err);
        else reject(err);
      }
    });
    // After start, a dead router means no deliveries: the caller decides (the server exits
    // so a supervisor restarts it; acknowledged events are safe in the log).
    worker.on('error', (err) => (ready ? onFatal(err) : reject(err)));
    worker.on('exit', (code) => {
      if (ready && stopped === null) onFatal(new Error(`router thread exited with code ${code}`));
    });
  });
}
