/**
 * Scale-out (issue #4): ingest and end-to-end throughput of the embedded mode (one
 * process, SQLite log) beside the NATS JetStream log with 1 process (all roles),
 * 1 ingest + 1 router, and 2 ingest + 2 router processes, in one run.
 *
 * Per layout: 100-event `POST /v1/batch` bodies from autocannon (BENCH_SCALE_CONNECTIONS,
 * default 16, split across the ingest processes) for BENCH_SCALE_SECONDS (default 10),
 * one webhook destination to a sink in its own process. "ingest" = events answered 200
 * per second while sending; "end to end" = events at the sink / seconds from the first
 * request until the sink had every accepted event (ingest and delivery overlap).
 *
 * `npx tsc -p tsconfig.json && node dist/bench/scale-out.js`; needs nats-server with
 * JetStream on NATS_URL (default 127.0.0.1:4222). BENCH_SCALE_LAYOUTS picks layouts
 * by name (comma-separated). "other CPU" = what the rest of the machine used meanwhile.
 */
import fs from 'node:fs';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { NatsEventLog } from '../src/log/nats/log.js';
import { startSwitchyard, tempDir, workspaceYaml, type SwitchyardProcess } from '../test/helpers/switchyard.js';
import { batchBodies, runTag } from './lib/events.js';
import { runLoad, type LoadResult } from './lib/load.js';
import { machineBusySeconds, sleep, startChild, waitForQuiet, type Child } from './lib/procs.js';
import { printTable, type Cell } from './lib/table.js';

const NATS_URL = process.env.NATS_URL ?? '127.0.0.1:4222';
const SECONDS = Number(process.env.BENCH_SCALE_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_SCALE_CONNECTIONS ?? 16);

interface Layout {
  name: string;
  nats: boolean;
  /** Roles of each process; the ones with ingest receive the load. */
  processes: string[];
}

const LAYOUTS: Layout[] = [
  { name: 'embedded', nats: false, processes: ['all'] },
  { name: 'nats-1', nats: true, processes: ['all'] },
  { name: 'nats-1+1', nats: true, processes: ['router', 'ingest'] },
  { name: 'nats-2+2', nats: true, processes: ['router', 'router', 'ingest', 'ingest'] },
];

async function sinkEvents(sink: Child): Promise<number> {
  const res = await fetch(`${sink.url}/stats`, { signal: AbortSignal.timeout(10_000) });
  return ((await res.json()) as { requests: number }).requests;
}

async function runLayout(layout: Layout): Promise<Cell[]> {
  const sink = await startChild('sink');
  const dataDir = tempDir('sy-bench-scale-');
  const id = randomBytes(4).toString('hex');
  const streamPrefix = `SYSCALE_${id}_`;
  const subjectRoot = `syscale_${id}`;
  const env: Record<string, string> = layout.nats
    ? { SWITCHYARD_LOG: `nats://${NATS_URL}?stream_prefix=${streamPrefix}&subject_root=${subjectRoot}`, LOG_LEVEL: 'info' }
    : {};
  const procs: SwitchyardProcess[] = [];
  try {
    const workspace = workspaceYaml([`${sink.url}/hook`]);
    for (const [i, role] of layout.processes.entries()) {
      procs.push(await startSwitchyard({ workspace, dataDir, env, role, writeConfig: i === 0 }));
    }
    const ingest = procs.filter((_, i) => layout.processes[i] === 'all' || layout.processes[i]!.includes('ingest'));
    await waitForQuiet(30);
    const busy0 = machineBusySeconds();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const tag = runTag();
    const results: LoadResult[] = await Promise.all(
      ingest.map((p, i) => runLoad({ url: p.url, bodies: batchBodies(100, `${tag}${i}`), connections: Math.max(1, Math.round(CONNECTIONS / ingest.length)), duration: SECONDS })),
    );
    const ingestS = Math.max(...results.map((r) => r.seconds));
    const accepted = results.reduce((n, r) => n + r.ok * 100, 0);
    const failed = results.reduce((n, r) => n + r.failed, 0);
    let delivered = 0;
    const deadline = performance.now() + 180_000;
    while ((delivered = await sinkEvents(sink)) < accepted && performance.now() < deadline) await sleep(100);
    const e2eS = (performance.now() - t0) / 1000;
    const generatorCpu = (() => {
      const c = process.cpuUsage(cpu0);
      return (c.user + c.system) / 1e6;
    })();
    const otherCores = (machineBusySeconds() - busy0 - generatorCpu) / e2eS;
    return [
      layout.name,
      layout.processes.join(' + '),
      Math.round(accepted / ingestS),
      failed,
      delivered >= accepted ? Math.round(accepted / e2eS) : `${delivered}/${accepted} in 180 s`,
      e2eS.toFixed(1),
      `${otherCores.toFixed(2)} cores (Switchyard, NATS, sink and others)`,
    ];
  } finally {
    for (const p of procs.reverse()) {
      const stopped = p.stop();
      if (await Promise.race([stopped.then(() => false), sleep(30_000).then(() => true)])) await p.kill();
    }
    await sink.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    if (layout.nats) {
      const log = await NatsEventLog.connect({ servers: NATS_URL, workspaceId: 'acme', streamPrefix, subjectRoot, dedupeWindowMs: 3_600_000, retentionMs: 0 });
      await log.destroy();
      await log.close();
    }
  }
}

async function main(): Promise<void> {
  const wanted = process.env.BENCH_SCALE_LAYOUTS?.split(',');
  const rows: Cell[][] = [];
  for (const layout of LAYOUTS) {
    if (wanted && !wanted.includes(layout.name)) continue;
    console.error(`running ${layout.name} (${layout.processes.join(' + ')})`);
    rows.push(await runLayout(layout));
  }
  printTable(
    `Scale-out: 100-event batches, ${CONNECTIONS} connections for ${SECONDS} s, one webhook destination; ${os.cpus().length} cores, NATS ${NATS_URL}`,
    ['layout', 'processes', 'ingest events/s', 'failed requests', 'end-to-end events/s', 'until all delivered (s)', 'CPU besides the generator'],
    rows,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
