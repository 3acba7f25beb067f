import { Worker } from 'node:worker_threads';
import type { FromRouter, RouterWorkerData, ToRouter } from './worker.js';

export interface RouterHandle {
  /** New events were committed. Coalesced: at most one message per turn of the event loop. */
  wake(): void;
  /** The control plane changed. */
  sync(): void;
  stop(): Promise<void>;
}

/** Starts the router thread and resolves once it has applied the configuration. */
export function startRouterThread(data: RouterWorkerData): Promise<RouterHandle> {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: data });
  const post = (msg: ToRouter) => worker.postMessage(msg);
  let wakePending = false;
  return new Promise((resolve, reject) => {
    let stopped: (() => void) | null = null;
    worker.on('message', (msg: FromRouter) => {
      if (msg.type === 'ready') {
        resolve({
          wake() {
            if (wakePending) return;
            wakePending = true;
            setImmediate(() => {
              wakePending = false;
              post({ type: 'wake' });
            });
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
        reject(new Error(`router thread failed: ${msg.message}`));
      }
    });
    worker.on('error', reject);
  });
}
