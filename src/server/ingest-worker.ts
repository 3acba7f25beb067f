/** An ingest pool thread: runs ingestBody for large request bodies (see ingest-pool.ts). */
import { randomUUID } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { ingestBody, type BodyContext } from '../core/ingest-body.js';

parentPort!.on('message', (msg: { id: number; raw: Uint8Array; encoding: string | undefined; ctx: BodyContext }) => {
  parentPort!.postMessage({ id: msg.id, outcome: ingestBody(msg.raw, msg.encoding, msg.ctx, randomUUID) });
});
