/**
 * Warehouse loader throughput: N track events with 20 properties loaded by the
 * engine into DuckDB and PostgreSQL (database `test`, schema bench_test_*), in
 * batches of 5,000 as the loader does. Prints rows/s (event table rows; each event
 * also writes a `tracks` row). N from argv (default 100,000).
 *   node dist/bench/warehouse-load.js 100000
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDuckDb, openPostgres } from '../src/storage/warehouse/dialects.js';
import { WarehouseEngine } from '../src/storage/warehouse/engine.js';
import type { Dialect, LoaderMessage } from '../src/storage/warehouse/types.js';

const N = Number(process.argv[2] ?? 100_000);
const BATCH = 5000;
const schema = `bench_test_${process.pid}`;

function event(i: number): LoaderMessage {
  const now = new Date().toISOString();
  const properties: Record<string, unknown> = {};
  for (let p = 0; p < 20; p++) properties[`prop${p}`] = p % 4 === 0 ? i + p : p % 4 === 1 ? `value ${i} ${p}` : p % 4 === 2 ? (i + p) / 7 : i % 2 === 0;
  const messageId = `m-${i}`;
  return {
    seq: i, sourceId: 's', messageId, receivedAt: Date.now(),
    payload: JSON.stringify({ type: 'track', event: 'Order Completed', userId: `u${i % 1000}`, messageId, receivedAt: now, sentAt: now, timestamp: now, originalTimestamp: now, properties, context: { library: { name: 'bench', version: '1' } } }),
  };
}

async function run(name: string, db: Dialect): Promise<void> {
  const engine = new WarehouseEngine(db, () => schema);
  const t0 = performance.now();
  for (let i = 0; i < N; i += BATCH) await engine.load(Array.from({ length: Math.min(BATCH, N - i) }, (_, k) => event(i + k)));
  const s = (performance.now() - t0) / 1000;
  console.log(`${name}: ${N} events in ${s.toFixed(1)} s = ${Math.round(N / s)} events/s (${Math.round((2 * N) / s)} rows/s incl. tracks)`);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-bench-wh-'));
const duck = await openDuckDb(path.join(dir, 'wh.duckdb'));
await run('duckdb', duck);
await duck.close();
fs.rmSync(dir, { recursive: true, force: true });
const pg = await openPostgres('postgres://postgres@127.0.0.1:5432/test');
try {
  await run('postgres', pg);
} finally {
  await pg.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pg.close();
}
