import assert from 'node:assert/strict';
import test from 'node:test';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
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

const seqRec = (sourceId: string, n: number) => ({ workspaceId: 'w', sourceId, messageId: `m-${n}`, payload: JSON.stringify({ n, pad: 'p'.repeat(200) }), receivedAt: Date.now() });
const segmentFiles = (file: string) => fs.readdirSync(`${file.slice(0, -3)}-payloads`).filter((f) => f.endsWith('.seg')).sort();

test('payloads live in segment files that rotate at their size and are deleted once every lane is past them', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-seg-'));
  const file = path.join(dir, 'log.db');
  const log = new SqliteEventLog({ path: file, dedupeWindowMs: 60_000, retentionMs: 0, segmentBytes: 2048 });
  const lane = log.lane({ laneId: 'l', sourceIds: ['a'] });
  for (let i = 0; i < 40; i += 4) await log.append([seqRec('a', i), seqRec('a', i + 1), seqRec('a', i + 2), seqRec('a', i + 3)]);
  const files = segmentFiles(file);
  assert.ok(files.length >= 3, `~9 KB of payloads in 2 KB segments make several files (got ${files.join(', ')})`);
  const row = log.db.prepare(`SELECT payloads, seg, len FROM events ORDER BY seq DESC LIMIT 1`).get() as { payloads: string; seg: number; len: number };
  assert.equal(row.payloads, '', 'the row holds no payload bytes');
  assert.ok(row.seg > 0 && row.len > 800);
  const got = await lane.fetch(100, Date.now());
  assert.deepEqual(got.map((m) => JSON.parse(m.payload).n), Array.from({ length: 40 }, (_, i) => i));
  for (const m of got) lane.ack(m);
  await lane.flush();
  await new Promise((r) => setTimeout(r, 1100)); // a retention mark past the rows
  await log.append([seqRec('a', 40)]);
  assert.ok((await log.prune(Date.now() + 1)) > 0); // + 1: the mark just written counts
  const left = segmentFiles(file);
  assert.ok(left.length <= 2, `segments no row points into are deleted (left: ${left.join(', ')})`);
  assert.equal(left.at(-1), files.at(-1), 'the segment being written stays');
  const [next] = await lane.fetch(10, Date.now());
  assert.equal(JSON.parse(next!.payload).n, 40);
  await log.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('bytes a crash left past the last committed row are overwritten, and rows written before segments are read inline', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-seg-'));
  const file = path.join(dir, 'log.db');
  let log = new SqliteEventLog({ path: file, dedupeWindowMs: 60_000, retentionMs: 0 });
  log.lane({ laneId: 'l', sourceIds: ['a'] });
  await log.append([seqRec('a', 1)]);
  await log.close();
  // A group written to the segment whose transaction never committed (killed in between)…
  const [segment] = segmentFiles(file);
  fs.appendFileSync(path.join(`${file.slice(0, -3)}-payloads`, segment!), '{"torn":'.padEnd(5000, 'x'));
  // …and a row from before payload segments, payloads inline.
  const raw = new Database(file);
  raw.prepare(`INSERT INTO events (source_id, received_at, count, message_ids, payloads) VALUES ('a', ?, 2, '["m-2","m-3"]', ?)`).run(Date.now(), '{"n":2}\n{"n":3}');
  raw.close();
  log = new SqliteEventLog({ path: file, dedupeWindowMs: 60_000, retentionMs: 0 });
  const lane = log.lane({ laneId: 'l', sourceIds: ['a'] });
  await log.append([seqRec('a', 4), seqRec('a', 5)]);
  const got = await lane.fetch(10, Date.now());
  assert.deepEqual(got.map((m) => JSON.parse(m.payload).n), [1, 2, 3, 4, 5]);
  const size = fs.statSync(path.join(`${file.slice(0, -3)}-payloads`, segment!)).size;
  const end = log.db.prepare(`SELECT off + len AS e FROM events ORDER BY seq DESC LIMIT 1`).pluck().get() as number;
  assert.equal(size, end, 'the torn bytes were cut off, the new rows written where they were');
  await log.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a row whose payload bytes are gone (power cut under normal sync) is reported and skipped, not delivered as garbage', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-seg-'));
  const file = path.join(dir, 'log.db');
  const lost: { row: number; events: number }[] = [];
  const log = new SqliteEventLog({ path: file, dedupeWindowMs: 60_000, retentionMs: 0, onLostPayloads: (l) => lost.push(l) });
  const lane = log.lane({ laneId: 'l', sourceIds: ['a'] });
  await log.append([seqRec('a', 1), seqRec('a', 2)]);
  await log.append([seqRec('a', 3)]);
  // The disk kept the rows but not the first row's bytes: zeros where they were.
  const first = log.db.prepare(`SELECT seq, seg, off, len FROM events ORDER BY seq LIMIT 1`).get() as { seq: number; seg: number; off: number; len: number };
  const fd = fs.openSync(path.join(`${file.slice(0, -3)}-payloads`, segmentFiles(file)[0]!), 'r+');
  fs.writeSync(fd, Buffer.alloc(first.len), 0, first.len, first.off);
  fs.closeSync(fd);
  const got = await lane.fetch(10, Date.now());
  assert.deepEqual(got.map((m) => JSON.parse(m.payload).n), [3]);
  assert.deepEqual(lost, [{ laneId: 'l', row: first.seq, events: 2 }]);
  await log.close();
  fs.rmSync(dir, { recursive: true, force: true });
});
