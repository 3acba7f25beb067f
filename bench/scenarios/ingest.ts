/**
 * Ingest throughput: the same autocannon settings and bodies against a bare
 * node:http server (baseline) and against Switchyard with no destination (the
 * router stays idle). Switchyard's count is of durable events: rows in its log,
 * checked against the 2xx answers.
 */
import { config } from '../lib/config.js';
import { batchBodies, singleTrackBodies, type BodyFactory } from '../lib/events.js';
import { runLoad, type LoadResult } from '../lib/load.js';
import { cpuSeconds, cpuSplit, machineBusySeconds, sleep, startChild, threadCpu, waitForQuiet } from '../lib/procs.js';
import { countLoggedEvents, SOURCE_ONLY_WORKSPACE, startServer } from '../lib/switchyard.js';
import { fmt, pct, printTable } from '../lib/table.js';
import type { Scenario, ScenarioReport, Verdict } from './types.js';

interface Run {
  load: LoadResult;
  /** Cores used by the server process during the measured run. */
  serverCores: number;
  serverMainCores?: number;
  generatorCores: number;
  /** Cores used by everything else on the machine meanwhile (other test runs: noise). */
  otherCores: number;
  durable?: { logged: number; acknowledged: number; inFlightBound: number; ok: boolean };
}

function generatorCpu(): () => number {
  const start = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const d = process.cpuUsage(start);
    return (d.user + d.system) / 1e6 / ((performance.now() - t0) / 1000);
  };
}

async function measureBaseline(bodies: () => BodyFactory, connections: number): Promise<Run> {
  const bare = await startChild('bare', [String(config.durationS + config.warmupS + 120)]);
  try {
    if (config.warmupS > 0) await runLoad({ url: bare.url, bodies: bodies(), connections, duration: config.warmupS });
    const cpu0 = cpuSeconds(bare.pid);
    const busy0 = machineBusySeconds();
    const gen = generatorCpu();
    const load = await runLoad({ url: bare.url, bodies: bodies(), connections, duration: config.durationS });
    const generatorCores = gen();
    const serverCores = (cpuSeconds(bare.pid) - cpu0) / load.seconds;
    const otherCores = Math.max(0, (machineBusySeconds() - busy0) / load.seconds - serverCores - generatorCores);
    return { load, serverCores, generatorCores, otherCores };
  } finally {
    await bare.stop();
  }
}

async function measureSwitchyard(bodies: () => BodyFactory, connections: number): Promise<Run> {
  const sy = await startServer(SOURCE_ONLY_WORKSPACE);
  try {
    if (config.warmupS > 0) await runLoad({ url: sy.url, bodies: bodies(), connections, duration: config.warmupS });
    await sleep(300); // requests cut off by the end of the warm-up still commit
    const before = countLoggedEvents(sy.dataDir);
    const threads0 = threadCpu(sy.pid);
    const busy0 = machineBusySeconds();
    const gen = generatorCpu();
    const factory = bodies();
    const load = await runLoad({ url: sy.url, bodies: factory, connections, duration: config.durationS });
    const generatorCores = gen();
    const split = cpuSplit(threads0, threadCpu(sy.pid), sy.pid, load.seconds);
    const otherCores = Math.max(0, (machineBusySeconds() - busy0) / load.seconds - split.total - generatorCores);
    await sleep(300);
    const logged = countLoggedEvents(sy.dataDir) - before;
    const acknowledged = load.ok * factory.events;
    // autocannon drops the answers still in flight when the duration ends; those
    // requests were committed (or not) but are not counted as 2xx.
    const inFlightBound = connections * factory.events;
    return {
      load,
      serverCores: split.total,
      serverMainCores: split.main,
      generatorCores,
      otherCores,
      durable: { logged, acknowledged, inFlightBound, ok: logged >= acknowledged && logged <= acknowledged + inFlightBound },
    };
  } finally {
    await sy.shutdown();
  }
}

/** Alternates baseline and Switchyard runs (BENCH_ROUNDS) and keeps the best of each. */
async function measureBoth(bodies: () => BodyFactory, connections: number): Promise<{ base: Run; sy: Run; all: { base: Run[]; sy: Run[] } }> {
  const all = { base: [] as Run[], sy: [] as Run[] };
  for (let i = 0; i < config.rounds; i++) {
    await waitForQuiet(30);
    all.base.push(await measureBaseline(bodies, connections));
    console.log(`  baseline run ${i + 1}: ${fmt(all.base.at(-1)!.load.eventsPerSec)} events/s (other processes ${fmt(all.base.at(-1)!.otherCores, 2)} cores)`);
    await waitForQuiet(30);
    all.sy.push(await measureSwitchyard(bodies, connections));
    console.log(`  Switchyard run ${i + 1}: ${fmt(all.sy.at(-1)!.load.eventsPerSec)} events/s (other processes ${fmt(all.sy.at(-1)!.otherCores, 2)} cores)`);
  }
  const best = (runs: Run[]) => runs.reduce((a, b) => (b.load.eventsPerSec > a.load.eventsPerSec ? b : a));
  return { base: best(all.base), sy: best(all.sy), all };
}

function row(label: string, r: Run): (string | number)[] {
  const { load } = r;
  return [
    label,
    fmt(load.reqPerSec),
    fmt(load.eventsPerSec),
    fmt(load.p50),
    fmt(load.p99),
    fmt(load.failed),
    r.serverMainCores === undefined ? fmt(r.serverCores, 2) : `${fmt(r.serverCores, 2)} (main ${fmt(r.serverMainCores, 2)})`,
    fmt(r.generatorCores, 2),
    fmt(r.otherCores, 2),
  ];
}

const HEADER = ['run', 'req/s', 'events/s', 'p50 ms', 'p99 ms', 'non-2xx+err', 'server CPU (cores)', 'generator CPU', 'other CPU'];

function durableLine(r: Run): string {
  const d = r.durable!;
  return `durable check: ${d.logged.toLocaleString('en-US')} events logged vs ${d.acknowledged.toLocaleString('en-US')} events acknowledged (+ at most ${d.inFlightBound.toLocaleString('en-US')} cut off in flight): ${d.ok ? 'OK' : 'MISMATCH'}`;
}

function data(r: Run) {
  return {
    reqPerSec: r.load.reqPerSec,
    eventsPerSec: r.load.eventsPerSec,
    p50Ms: r.load.p50,
    p99Ms: r.load.p99,
    ok: r.load.ok,
    failed: r.load.failed,
    seconds: r.load.seconds,
    bodyBytes: r.load.bodyBytes,
    serverCores: r.serverCores,
    serverMainCores: r.serverMainCores,
    generatorCores: r.generatorCores,
    otherCores: r.otherCores,
    durable: r.durable,
  };
}

export const ingestSingle: Scenario = {
  name: 'ingest-single',
  description: 'single-event POST /v1/track (~460 B) vs a bare node:http server',
  async run(): Promise<ScenarioReport> {
    const c = config.singleConnections;
    const bodies = () => singleTrackBodies();
    console.log(`\n[ingest-single] ${bodies().bytes} B bodies, ${c} connections, pipelining 1, ${config.warmupS} s warm-up + ${config.durationS} s per run, ${config.rounds} round(s), best run of each side shown`);
    const { base, sy, all } = await measureBoth(bodies, c);
    const ratio = sy.durable!.ok ? sy.load.eventsPerSec / base.load.reqPerSec : 0;
    printTable(`ingest-single: POST /v1/track, ${bodies().bytes} B, ${c} connections, ${config.durationS} s, best of ${config.rounds}`, HEADER, [
      row('bare node:http (baseline)', base),
      row('Switchyard /v1/track (durable)', sy),
    ]);
    console.log(durableLine(sy));
    console.log(`Switchyard durable events/s ÷ baseline req/s = ${pct(sy.load.eventsPerSec, base.load.reqPerSec)} (target ≥ 60%)`);
    const verdicts: Verdict[] = [
      { target: 'single-event durable events/s ≥ 60% of bare node:http req/s', measured: pct(sy.load.eventsPerSec, base.load.reqPerSec), met: ratio >= 0.6 && sy.load.failed === 0 },
    ];
    return { name: this.name, verdicts, data: { connections: c, baseline: data(base), switchyard: data(sy), ratio, runs: { baseline: all.base.map(data), switchyard: all.sy.map(data) } } };
  },
};

export const ingestBatch: Scenario = {
  name: 'ingest-batch',
  description: '100-event POST /v1/batch (~46 KB) vs a bare node:http server',
  async run(): Promise<ScenarioReport> {
    const c = config.batchConnections;
    const bodies = () => batchBodies(100);
    console.log(`\n[ingest-batch] ${bodies().bytes} B bodies (100 events), ${c} connections, pipelining 1, ${config.warmupS} s warm-up + ${config.durationS} s per run, ${config.rounds} round(s), best run of each side shown`);
    const { base, sy, all } = await measureBoth(bodies, c);
    printTable(`ingest-batch: POST /v1/batch, 100 events, ${bodies().bytes} B, ${c} connections, ${config.durationS} s, best of ${config.rounds}`, HEADER, [
      row('bare node:http (baseline, req/s × 100)', base),
      row('Switchyard /v1/batch (durable)', sy),
    ]);
    console.log(durableLine(sy));
    console.log(`Switchyard durable events/s ÷ baseline (req/s × 100) = ${pct(sy.load.eventsPerSec, base.load.eventsPerSec)}; target ≥ 200,000 events/s`);
    const verdicts: Verdict[] = [
      { target: '100-event batches: ≥ 200,000 durable events/s', measured: `${fmt(sy.load.eventsPerSec)} events/s`, met: sy.durable!.ok && sy.load.eventsPerSec >= 200_000 && sy.load.failed === 0 },
    ];
    return { name: this.name, verdicts, data: { connections: c, baseline: data(base), switchyard: data(sy), runs: { baseline: all.base.map(data), switchyard: all.sy.map(data) } } };
  },
};

/** Only the bare server, for both bodies (a quick check of the load generator). */
export const baseline: Scenario = {
  name: 'baseline',
  description: 'the bare node:http server alone, single-event and batch bodies',
  async run(): Promise<ScenarioReport> {
    const single = await measureBaseline(() => singleTrackBodies(), config.singleConnections);
    const batch = await measureBaseline(() => batchBodies(100), config.batchConnections);
    printTable(`baseline: bare node:http, ${config.durationS} s`, HEADER, [
      row(`single ${single.load.bodyBytes} B, ${config.singleConnections} conns`, single),
      row(`batch ${batch.load.bodyBytes} B, ${config.batchConnections} conns`, batch),
    ]);
    return { name: this.name, verdicts: [], data: { single: data(single), batch: data(batch) } };
  },
};
