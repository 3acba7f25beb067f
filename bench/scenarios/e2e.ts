/**
 * End to end: batches into Switchyard, one webhook destination to a local sink
 * (its own process, answers 200 and counts). Events/s arriving at the sink,
 * end-to-end latency from Switchyard's delivery endpoint, and the backlog.
 *
 * `e2e` offers a steady rate (BENCH_E2E_RATE events/s, evenly paced);
 * `e2e-max` pushes batches as fast as autocannon can, to show the delivery
 * capacity while ingest saturates its core, and then while draining alone.
 */
import { config } from '../lib/config.js';
import { batchBodies } from '../lib/events.js';
import { runLoad } from '../lib/load.js';
import { runPaced } from '../lib/paced.js';
import { cpuSplit, sleep, startChild, threadCpu, type Child } from '../lib/procs.js';
import { deliveryStats, startServer, workspaceYaml, type DeliveryStats, type Server } from '../lib/switchyard.js';
import { fmt, printTable } from '../lib/table.js';
import type { Scenario, ScenarioReport } from './types.js';

async function sinkCount(sink: Child): Promise<number> {
  const res = await fetch(`${sink.url}/stats`, { signal: AbortSignal.timeout(10_000) });
  return ((await res.json()) as { requests: number }).requests;
}

interface Sample {
  t: number;
  delivered: number;
  backlog: number;
  retrying: number;
}

/** Samples the sink's count and the lane's backlog once a second until stopped. */
function sampler(sy: Server, sink: Child, t0: number) {
  const samples: Sample[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      const [delivered, stats] = await Promise.all([sinkCount(sink), deliveryStats(sy.url)]);
      samples.push({ t: (performance.now() - t0) / 1000, delivered, backlog: stats.backlog, retrying: stats.retrying });
      await sleep(1000);
    }
  })();
  return {
    samples,
    async stop() {
      running = false;
      await done;
    },
  };
}

async function drain(sy: Server, sink: Child, expected: number, timeoutS: number): Promise<{ seconds: number; drained: boolean; delivered: number; stats: DeliveryStats }> {
  const t0 = performance.now();
  for (;;) {
    const [delivered, stats] = await Promise.all([sinkCount(sink), deliveryStats(sy.url)]);
    const seconds = (performance.now() - t0) / 1000;
    if ((stats.backlog === 0 && stats.retrying === 0 && delivered >= expected) || seconds > timeoutS) {
      return { seconds, drained: delivered >= expected, delivered, stats };
    }
    await sleep(250);
  }
}

interface E2EOutcome {
  ingestEventsPerSec: number;
  ingestP99Ms: number;
  ingestFailed: number;
  loadSeconds: number;
  acknowledged: number;
  deliveredDuringLoad: number;
  deliveryRateDuringLoad: number;
  /** Median of the per-second delivery rates after the first 2 s of load. */
  sustainedDeliveryRate: number;
  backlogAtLoadEnd: number;
  maxBacklog: number;
  drainSeconds: number;
  drainRate: number;
  drained: boolean;
  latency: DeliveryStats['latencyMs'];
  finalBacklog: number;
  finalRetrying: number;
  attemptsFailed: number;
  cpu: ReturnType<typeof cpuSplit>;
  sinkCores: number;
  /**
   * The router thread's CPU per event delivered during the load, in µs: steadier than
   * events/s on a VM whose speed moves, and what the router's code changes move.
   */
  routerUsPerEvent: number;
  perSecond: number[];
}

async function runE2E(mode: 'paced' | 'max', durationS: number, drainTimeoutS: number): Promise<E2EOutcome> {
  const sink = await startChild('sink', ['200', String(durationS + drainTimeoutS + 300)]);
  const sy = await startServer(workspaceYaml([`${sink.url}/hook`]));
  try {
    const bodies = batchBodies(100);
    const t0 = performance.now();
    const threads0 = threadCpu(sy.pid);
    const sink0 = threadCpu(sink.pid);
    const s = sampler(sy, sink, t0);
    let ingest: { seconds: number; ok: number; failed: number; p99: number };
    if (mode === 'paced') {
      const r = await runPaced(sy.url, bodies, config.e2eRate / bodies.events, durationS);
      ingest = { seconds: r.seconds, ok: r.ok, failed: r.failed, p99: r.p99 };
    } else {
      const r = await runLoad({ url: sy.url, bodies, connections: config.batchConnections, duration: durationS });
      ingest = { seconds: r.seconds, ok: r.ok, failed: r.failed, p99: r.p99 };
    }
    const loadEnd = performance.now();
    const cpu = cpuSplit(threads0, threadCpu(sy.pid), sy.pid, (loadEnd - t0) / 1000);
    const sinkCpu = cpuSplit(sink0, threadCpu(sink.pid), sink.pid, (loadEnd - t0) / 1000);
    const [deliveredAtEnd, statsAtEnd] = await Promise.all([sinkCount(sink), deliveryStats(sy.url)]);
    await s.stop();
    const acknowledged = ingest.ok * bodies.events;
    const d = await drain(sy, sink, acknowledged, drainTimeoutS);
    await sleep(1500); // the router flushes its stats once a second
    const final = await deliveryStats(sy.url);

    const perSecond: number[] = [];
    for (let i = 1; i < s.samples.length; i++) {
      const a = s.samples[i - 1]!;
      const b = s.samples[i]!;
      if (b.t * 1000 > loadEnd - t0) break;
      perSecond.push((b.delivered - a.delivered) / (b.t - a.t));
    }
    const steady = perSecond.filter((_, i) => s.samples[i]!.t >= 2).sort((a, b) => a - b);
    return {
      ingestEventsPerSec: acknowledged / ingest.seconds,
      ingestP99Ms: ingest.p99,
      ingestFailed: ingest.failed,
      loadSeconds: ingest.seconds,
      acknowledged,
      deliveredDuringLoad: deliveredAtEnd,
      deliveryRateDuringLoad: deliveredAtEnd / ((loadEnd - t0) / 1000),
      sustainedDeliveryRate: steady.length ? steady[Math.floor(steady.length / 2)]! : NaN,
      backlogAtLoadEnd: statsAtEnd.backlog,
      maxBacklog: Math.max(statsAtEnd.backlog, ...s.samples.map((x) => x.backlog)),
      drainSeconds: d.seconds,
      drainRate: (d.delivered - deliveredAtEnd) / Math.max(d.seconds, 0.001),
      drained: d.drained,
      latency: final.latencyMs,
      finalBacklog: final.backlog,
      finalRetrying: final.retrying,
      attemptsFailed: final.attemptsFailed,
      cpu,
      sinkCores: sinkCpu.total,
      routerUsPerEvent: deliveredAtEnd > 0 ? (cpu.busiestOther * ((loadEnd - t0) / 1000) * 1e6) / deliveredAtEnd : NaN,
      perSecond: perSecond.map((x) => Math.round(x)),
    };
  } finally {
    await sy.shutdown();
    await sink.stop();
  }
}

function table(title: string, o: E2EOutcome): void {
  printTable(title, ['measure', 'value'], [
    ['ingest (acknowledged) events/s', fmt(o.ingestEventsPerSec)],
    ['ingest request p99 ms (100-event batch)', fmt(o.ingestP99Ms)],
    ['delivered at sink during load, events/s (mean)', fmt(o.deliveryRateDuringLoad)],
    ['delivered at sink, median of 1 s windows after 2 s', fmt(o.sustainedDeliveryRate)],
    ['backlog at end of load / max seen', `${fmt(o.backlogAtLoadEnd)} / ${fmt(o.maxBacklog)}`],
    ['drain after load: seconds / events/s', `${fmt(o.drainSeconds, 1)} / ${fmt(o.drainRate)}${o.drained ? '' : ' (not drained)'}`],
    ['end-to-end latency p50 / p95 / p99 ms (delivery endpoint)', `${fmt(o.latency.p50)} / ${fmt(o.latency.p95)} / ${fmt(o.latency.p99)}`],
    ['final backlog / retrying / failed attempts', `${fmt(o.finalBacklog)} / ${fmt(o.finalRetrying)} / ${fmt(o.attemptsFailed)}`],
    ['server CPU during load: main / router thread / other (cores)', `${fmt(o.cpu.main, 2)} / ${fmt(o.cpu.busiestOther, 2)} / ${fmt(o.cpu.rest, 2)}`],
    ['sink process CPU (cores)', fmt(o.sinkCores, 2)],
    ['router thread CPU per event delivered during load (µs)', fmt(o.routerUsPerEvent, 1)],
  ]);
  console.log(`delivered per second during load: ${o.perSecond.join(', ')}`);
}

export const e2e: Scenario = {
  name: 'e2e',
  description: 'steady batches in, one webhook out to a local sink: delivered events/s and p99',
  async run(): Promise<ScenarioReport> {
    console.log(`\n[e2e] offering ${fmt(config.e2eRate)} events/s as 100-event batches, evenly paced, for ${config.e2eDurationS} s; sink answers 200`);
    const o = await runE2E('paced', config.e2eDurationS, config.drainTimeoutS);
    table(`e2e: ${fmt(config.e2eRate)} events/s offered for ${config.e2eDurationS} s → webhook → sink`, o);
    // Kept up: the sink got (nearly) what was offered, second after second, and the
    // backlog never held more than a second of load.
    const keptUp = o.sustainedDeliveryRate >= 0.97 * config.e2eRate && o.backlogAtLoadEnd <= config.e2eRate && o.drained;
    const met = config.e2eRate >= 10_000 && keptUp && o.ingestFailed === 0;
    return {
      name: this.name,
      verdicts: [
        { target: 'end-to-end ≥ 10,000 events/s sustained (p99 printed)', measured: `${fmt(o.sustainedDeliveryRate)} events/s, p99 ${fmt(o.latency.p99)} ms`, met },
      ],
      data: { offeredRate: config.e2eRate, ...o },
    };
  },
};

export const e2eMax: Scenario = {
  name: 'e2e-max',
  description: 'batches as fast as possible with one webhook: delivery capacity under full ingest, then draining alone',
  async run(): Promise<ScenarioReport> {
    const duration = Math.min(config.durationS, 10);
    const drainS = Math.min(config.drainTimeoutS, 20);
    console.log(`\n[e2e-max] unthrottled 100-event batches, ${config.batchConnections} connections, ${duration} s; then up to ${drainS} s of draining`);
    const o = await runE2E('max', duration, drainS);
    table(`e2e-max: unthrottled ingest for ${duration} s → webhook → sink`, o);
    return { name: this.name, verdicts: [], data: o as unknown as Record<string, unknown> };
  },
};
