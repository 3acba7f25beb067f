import { Worker } from 'node:worker_threads';
import type { WarehouseConfig } from '../storage/warehouse/types.js';
import type { LakeConfig } from '../storage/lake/types.js';
import type { FromWarehouses, ToWarehouses, WarehouseWorkerData } from './warehouse-worker.js';

export interface WarehousesHandle {
  /** Applies the warehouses the workspace file declares; resolves once loaders have (re)started. */
  configure(warehouses: WarehouseConfig[], lakes?: LakeConfig[]): Promise<void>;
  /** Runs a sync of one warehouse now; false when no such warehouse is running. */
  syncNow(id: string): Promise<boolean>;
  /** Runs a sync of one data lake now; false when no such lake is running. */
  syncLake(id: string): Promise<boolean>;
  stop(): Promise<void>;
}

export function startWarehouseThread(data: WarehouseWorkerData, onFatal: (err: Error) => void): Promise<WarehousesHandle> {
  const worker = new Worker(new URL('./warehouse-worker.js', import.meta.url), { workerData: data });
  const post = (msg: ToWarehouses) => worker.postMessage(msg);
  const applied: (() => void)[] = [];
  const synced = new Map<number, (found: boolean) => void>();
  let nextRequest = 0;
  return new Promise((resolve, reject) => {
    let stopped: (() => void) | null = null;
    let ready = false;
    worker.on('message', (msg: FromWarehouses) => {
      if (msg.type === 'ready') {
        ready = true;
        resolve({
          configure: (warehouses, lakes) => new Promise<void>((done) => {
            applied.push(done);
            post({ type: 'config', warehouses, ...(lakes ? { lakes } : {}) });
          }),
          syncNow: (id) => new Promise<boolean>((done) => {
            const requestId = ++nextRequest;
            synced.set(requestId, done);
            post({ type: 'sync', id, requestId });
          }),
          syncLake: (id) => new Promise<boolean>((done) => {
            const requestId = ++nextRequest;
            synced.set(requestId, done);
            post({ type: 'sync', id, requestId, kind: 'lake' });
          }),
          stop: () => new Promise<void>((done) => {
            stopped = done;
            post({ type: 'stop' });
          }),
        });
      } else if (msg.type === 'applied') applied.shift()?.();
      else if (msg.type === 'synced') {
        synced.get(msg.requestId)?.(msg.found);
        synced.delete(msg.requestId);
      } else if (msg.type === 'stopped') void worker.terminate().then(() => stopped?.());
      else if (msg.type === 'error') {
        const err = new Error(`warehouse thread failed: ${msg.message}`);
        if (ready) onFatal(err);
        else reject(err);
      }
    });
    worker.on('error', (err) => (ready ? onFatal(err) : reject(err)));
    worker.on('exit', (code) => {
      if (ready && stopped === null) onFatal(new Error(`warehouse thread exited with code ${code}`));
    });
  });
}
