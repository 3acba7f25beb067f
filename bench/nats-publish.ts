/**
 * The per-event cost of appending to the log: JetStream publish (NatsEventLog) beside
 * the SQLite group commit (SqliteEventLog), on the same 100-event appends (~460-byte
 * events, unique messageIds). `node dist/bench/nats-publish.js` after `npm run build`;
 * needs nats-server with JetStream on NATS_URL (default 127.0.0.1:4222).
 * Knobs: BENCH_APPENDS (per run, default 300), BENCH_CONCURRENCY (default "1,16").
 *
 * The NATS stream has one lane (a durable consumer) on the source: with interest
 * retention a message nobody is interested in is not stored, which would flatter it.
 * Both logs run in this process; the NATS server's CPU is read from /proc when found.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { NatsEventLog } from '../src/log/nats/log.js';
import { SqliteEventLog } from '../src/log/sqlite/log.js';
import type { AppendRecord, EventLog } from '../src/log/types.js';
import { printTable, type Cell } from './lib/table.js';

const APPENDS = Number(process.env.BENCH_APPENDS ?? 300);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,16').split(',').map(Number);
const BATCH = 100;
const NATS_URL = process.env.NATS_URL ?? '127.0.0.1:4222';

const pad = 'x'.repeat(230);
let counter = 0;
function batch(): AppendRecord[] {
  // Default publish mode: pipelined (one reply subscription, one wait per append); see NatsLogOptions.publishMode.
  const out: AppendRecord[] = new Array(BATCH);
  const now = Date.now();
  for (let i = 0; i < BATCH; i++) {
    const messageId = `bench-${++counter}`;
    out[i] = {
      workspaceId: 'ws', sourceId: 'src', messageId, receivedAt: now,
      payload: JSON.stringify({ type: 'track', event: 'Order Completed', userId: `user-${counter % 9000}`, messageId, properties: { total: 129.95, currency: 'USD', note: pad }, timestamp: '2025-06-01T12:00:00.000Z' }),
    };
  }
  return out;
}

function serverPid(): number | null {
  try {
    return Number(execFileSync('pgrep', ['-x', 'nats-server'], { encoding: 'utf8' }).trim().split('\n')[0]) || null;
  } catch {
    return null;
  }
}
function cpuMsOf(pid: number | null): number | null {
  if (!pid) return null;
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime in clock ticks (100 Hz)
  } catch {
    return null;
  }
}

interface Result { events: number; ms: number; clientCpuMs: number; serverCpuMs: number | null; latencies: number[] }

async function run(log: EventLog, concurrency: number, pid: number | null): Promise<Result> {
  const batches = Array.from({ length: APPENDS }, batch); // built before timing
  for (let i = 0; i < 20; i++) await log.append(batch()); // warm-up
  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  const s0 = cpuMsOf(pid);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < batches.length) {
      const b = batches[next++]!;
      const start = performance.now();
      const out = await log.append(b);
      latencies.push(performance.now() - start);
      if (out.accepted + out.duplicates !== BATCH) throw new Error('short append');
    }
  }));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const s1 = cpuMsOf(pid);
  return { events: APPENDS * BATCH, ms, clientCpuMs: (cpu.user + cpu.system) / 1000, serverCpuMs: s0 !== null && s1 !== null ? s1 - s0 : null, latencies };
}

function row(name: string, concurrency: number, r: Result): Cell[] {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const us = (ms: number | null) => (ms === null ? null : ((ms * 1000) / r.events).toFixed(1));
  return [name, concurrency, Math.round((r.events * 1000) / r.ms), us(r.ms), us(r.clientCpuMs), us(r.serverCpuMs), p(0.5).toFixed(2), p(0.99).toFixed(2)];
}

/** Drains a lane: fetch up to 500, ack each, flush; events/s and CPU per event. */
async function drain(log: EventLog, laneId: string, pid: number | null): Promise<Cell[]> {
  const lane = log.lane({ laneId, sourceIds: ['src'] });
  await lane.fetch(1, Date.now()).then((ms) => ms.forEach((m) => lane.ack(m)));
  await lane.flush();
  const events = APPENDS * BATCH;
  for (let i = 0; i < APPENDS; i += 16) await Promise.all(Array.from({ length: Math.min(16, APPENDS - i) }, () => log.append(batch())));
  const cpu0 = process.cpuUsage();
  const s0 = cpuMsOf(pid);
  const t0 = performance.now();
  let got = 0;
  while (got < events) {
    const ms = await lane.fetch(500, Date.now());
    if (ms.length === 0) {
      // SQLite's dedupe stage releases rows in steps: an empty fetch is not the end.
      if (performance.now() - t0 > 60_000) throw new Error(`lane ${laneId} ran dry at ${got}/${events}`);
      await new Promise((r) => setImmediate(r));
      continue;
    }
    for (const m of ms) lane.ack(m);
    await lane.flush();
    got += ms.length;
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const s1 = cpuMsOf(pid);
  await lane.close();
  const us = (v: number | null) => (v === null ? null : ((v * 1000) / events).toFixed(1));
  return [Math.round((events * 1000) / ms), us((cpu.user + cpu.system) / 1000), us(s0 !== null && s1 !== null ? s1 - s0 : null)];
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-bench-log-'));
  const sqlite = new SqliteEventLog({ path: path.join(dir, 'log.db'), dedupeWindowMs: 86_400_000, retentionMs: 0 });
  const id = randomBytes(4).toString('hex');
  const nats = await NatsEventLog.connect({ servers: NATS_URL, workspaceId: 'ws', streamPrefix: `SYBENCH_${id}_`, subjectRoot: `sybench_${id}`, dedupeWindowMs: 86_400_000, retentionMs: 0 });
  nats.lane({ laneId: 'bench', sourceIds: ['src'] }); // interest, so messages are stored
  // The same stream through nats.js's js.publish (one request per event), for comparison.
  const natsRequest = await NatsEventLog.connect({
    servers: NATS_URL, workspaceId: 'ws', streamPrefix: `SYBENCH_${id}_`, subjectRoot: `sybench_${id}`, dedupeWindowMs: 86_400_000, retentionMs: 0, publishMode: 'request',
  });
  const pid = serverPid();
  const rows: Cell[][] = [];
  const drains: Cell[][] = [];
  try {
    for (const c of CONCURRENCY) {
      rows.push(row('SQLite (WAL, sync=NORMAL)', c, await run(sqlite, c, null)));
      rows.push(row('NATS JetStream (file, R1), js.publish per event', c, await run(natsRequest, c, pid)));
      rows.push(row('NATS JetStream (file, R1), pipelined', c, await run(nats, c, pid)));
    }
    drains.push(['SQLite', ...(await drain(sqlite, 'drain', null))]);
    drains.push(['NATS JetStream', ...(await drain(nats, 'drain', pid))]);
  } finally {
    await nats.destroy();
    await natsRequest.close();
    await nats.close();
    await sqlite.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  printTable(
    `Log append, ${BATCH}-event appends (${APPENDS} per run, ~${batch()[0]!.payload.length}-byte events), ${os.cpus().length} cores`,
    ['log', 'appends in flight', 'events/s', 'wall µs/event (1/throughput)', 'client CPU µs/event', 'server CPU µs/event', 'append p50 ms', 'append p99 ms'],
    rows,
  );
  printTable(
    `Lane drain: fetch 500, ack each, flush (${APPENDS * BATCH} events)`,
    ['log', 'events/s', 'client CPU µs/event', 'server CPU µs/event'],
    drains,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
