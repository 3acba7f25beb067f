/** An ingest pool thread: runs ingestBody for the bodies the HTTP thread hands over (see ingest-pool.ts). */
import { randomUUID } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { ingestBody } from '../core/ingest-body.js';
import { transferable, type PoolJob, type PoolResult } from './ingest-pool.js';

parentPort!.on('message', (jobs: PoolJob[]) => {
  const results: PoolResult[] = new Array(jobs.length);
  const transfer: ArrayBuffer[] = [];
  for (let i = 0; i < jobs.length; i++) {
    const { id, raw, encoding, ctx } = jobs[i]!;
    const outcome = ingestBody(raw, encoding, ctx, randomUUID);
    if (outcome.kind !== 'prepared') {
      results[i] = { id, outcome };
      continue;
    }
    // The payload bytes move to the HTTP thread without a copy: they stay off its JS
    // heap, so its scavenges never copy the events of requests still in flight.
    const payloads = transferable(outcome.payloads);
    transfer.push(payloads.buffer);
    results[i] = { id, outcome: { ...outcome, payloads } };
  }
  parentPort!.postMessage(results, transfer);
});
