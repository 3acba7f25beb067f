/** An ingest pool thread: runs ingestBody for large request bodies (see ingest-pool.ts). */
import { randomUUID } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { ingestBody, type BodyContext } from '../core/ingest-body.js';

parentPort!.on('message', (msg: { id: number; raw: Uint8Array; encoding: string | undefined; ctx: BodyContext }) => {
  const outcome = ingestBody(msg.raw, msg.encoding, msg.ctx, randomUUID);
  if (outcome.kind !== 'prepared') return parentPort!.postMessage({ id: msg.id, outcome });
  // The payload bytes move to the HTTP thread without a copy: they stay off its JS
  // heap, so its scavenges never copy the events of requests still in flight.
  const p = outcome.payloads;
  const owned = p.byteOffset === 0 && p.byteLength === p.buffer.byteLength ? p : Uint8Array.from(p);
  parentPort!.postMessage({ id: msg.id, outcome: { ...outcome, payloads: owned } }, [owned.buffer as ArrayBuffer]);
});
