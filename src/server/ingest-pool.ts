import { Worker } from 'node:worker_threads';
import type { BodyContext, BodyOutcome } from '../core/ingest-body.js';

/** Young generation of each pool thread (three semi-spaces' worth). */
const YOUNG_GENERATION_MB = 48;

interface Job {
  resolve: (outcome: BodyOutcome) => void;
  reject: (err: Error) => void;
}

/**
 * Worker threads that decode, parse, validate, enrich and serialize large request
 * bodies, so the HTTP thread only answers and commits. On two cores a 100-event
 * batch costs ~5 µs per event in these steps: doing them here lets the HTTP thread
 * and a worker each use a core. Small bodies stay on the HTTP thread, where a
 * thread hop would cost more than it saves.
 */
export class IngestPool {
  private readonly workers: { worker: Worker; jobs: Map<number, Job> }[] = [];
  private next = 0;
  private id = 0;
  private closing = false;

  constructor(size: number, onFatal: (err: Error) => void) {
    for (let i = 0; i < size; i++) {
      // A larger young generation than the default: a 100-event body leaves ~200 KB of
      // short-lived objects, and with the default most scavenges found some still in
      // flight and copied them (measured: fresh-page faults during copying, ~3% of ingest).
      const worker = new Worker(new URL('./ingest-worker.js', import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
      const jobs = new Map<number, Job>();
      worker.on('message', (msg: { id: number; outcome: BodyOutcome }) => {
        const job = jobs.get(msg.id);
        jobs.delete(msg.id);
        job?.resolve(msg.outcome);
      });
      const fail = (err: Error) => {
        if (this.closing) return;
        for (const job of jobs.values()) job.reject(err);
        jobs.clear();
        onFatal(err);
      };
      worker.on('error', fail);
      worker.on('exit', (code) => code !== 0 && fail(new Error(`ingest worker exited with code ${code}`)));
      this.workers.push({ worker, jobs });
    }
  }

  run(raw: Buffer, encoding: string | undefined, ctx: BodyContext): Promise<BodyOutcome> {
    const w = this.workers[this.next++ % this.workers.length]!;
    const id = ++this.id;
    // Transfer the body's memory when the buffer owns it whole (large bodies are
    // concatenated into a fresh allocation); copy when it is a slice of Node's shared
    // pool, which must never be detached.
    const owned = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength && !(raw.buffer instanceof SharedArrayBuffer);
    const copy = owned ? new Uint8Array(raw.buffer as ArrayBuffer) : Uint8Array.from(raw);
    return new Promise((resolve, reject) => {
      w.jobs.set(id, { resolve, reject });
      w.worker.postMessage({ id, raw: copy, encoding, ctx }, [copy.buffer]);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map(({ worker }) => worker.terminate()));
  }
}
