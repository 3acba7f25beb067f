import assert from 'node:assert/strict';
import test from 'node:test';
import { Worker } from 'node:worker_threads';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteEventLog } from '../src/log/sqlite/log.js';
import type { EventLog } from '../src/log/types.js';
import { logContract } from './log-contract.js';

const opened = new WeakMap<EventLog, { path: string; dedupeWindowMs: number; retentionMs: number }>();

logContract('sqlite', {
  async create(opts) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-log-'));
    const options = { path: path.join(dir, 'log.db'), ...opts };
    const log = new SqliteEventLog(options);
    opened.set(log, options);
    return log;
  },
  async reopen(log) {
    const options = opened.get(log)!;
    await log.close();
    const next = new SqliteEventLog(options);
    opened.set(next, options);
    return next;
  },
});

test('under a steady stream of commits the WAL starts over instead of growing with the load', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-wal-'));
  const file = path.join(dir, 'log.db');
  // The checkpointer, as the router thread holds it: a restart past 256 frames (~1 MB).
  const checkpointer = new SqliteEventLog({ path: file, dedupeWindowMs: 60_000, retentionMs: 0, walRestartFrames: 256 });
  // The ingest writer, in its own thread, commits ~48 KB rows, one a millisecond at most: 100,000 events, ~50 MB.
  const logModule = new URL('../src/log/sqlite/log.js', import.meta.url).href;
  const writer = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     import(workerData.logModule).then(async ({ SqliteEventLog }) => {
       const log = new SqliteEventLog({ path: workerData.file, dedupeWindowMs: 60_000, retentionMs: 0, autoCheckpoint: false });
       const payload = JSON.stringify({ type: 'track', event: 'Bulk', properties: { pad: 'x'.repeat(440) } });
       let n = 0;
       while (n < 100000) {
         const records = Array.from({ length: 100 }, () => ({ workspaceId: 'w', sourceId: 's', messageId: 'm' + n++, payload, receivedAt: Date.now() }));
         await log.append(records);
         await new Promise((r) => setTimeout(r, 1));
       }
       await log.close();
       parentPort.postMessage(n);
     });`,
    { eval: true, workerData: { file, logModule } },
  );
  const written = new Promise<number>((resolve, reject) => {
    writer.once('message', resolve);
    writer.once('error', reject);
  });
  let maxWal = 0;
  let done = false;
  void written.finally(() => (done = true));
  while (!done) {
    checkpointer.checkpoint();
    maxWal = Math.max(maxWal, fs.statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0);
    await new Promise((r) => setTimeout(r, 20));
  }
  const events = await written;
  await checkpointer.close();
  const writtenBytes = events * 500;
  // Without the restart, the WAL holds everything written (tens of MB); with it, a few MB.
  assert.ok(maxWal < writtenBytes / 4, `the WAL reached ${maxWal} bytes for ${writtenBytes} bytes written`);
  fs.rmSync(dir, { recursive: true, force: true });
});
