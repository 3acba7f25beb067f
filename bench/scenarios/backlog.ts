/**
 * Memory with the destination down: BENCH_BACKLOG_EVENTS (default 1,000,000)
 * events ingested as 100-event batches while the webhook sink answers 503 (every
 * attempt becomes a retry row) or its port is closed. The server's RSS is sampled
 * from /proc/<pid>/status during ingest and for BENCH_BACKLOG_SETTLE_S after,
 * while retries keep running. Target: max RSS < 300 MB.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { config } from '../lib/config.js';
import { batchBodies } from '../lib/events.js';
import { runLoad } from '../lib/load.js';
import { memoryKb, sleep, startChild, type Child } from '../lib/procs.js';
import { countLoggedEvents, deliveryStats, startServer, workspaceYaml } from '../lib/switchyard.js';
import { fmt, mb, printTable } from '../lib/table.js';
import type { Scenario, ScenarioReport } from './types.js';

/** A port on 127.0.0.1 that nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function rssSampler(pid: number, everyMs = 200) {
  const points: { t: number; rss: number; phase: string }[] = [];
  let phase = 'idle';
  const t0 = performance.now();
  const take = () => {
    const m = memoryKb(pid);
    if (m) points.push({ t: (performance.now() - t0) / 1000, rss: m.rss, phase });
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    points,
    setPhase(p: string) {
      take();
      phase = p;
    },
    stop() {
      clearInterval(timer);
      take();
    },
    max(p: string) {
      return Math.max(0, ...points.filter((x) => x.phase === p).map((x) => x.rss));
    },
  };
}

export const backlog: Scenario = {
  name: 'backlog',
  description: 'destination down, 1,000,000 events backlogged: server RSS',
  async run(): Promise<ScenarioReport> {
    const total = Math.max(100 * config.batchConnections, Math.round(config.backlogEvents / 100) * 100);
    const requests = total / 100;
    let sink: Child | undefined;
    let hookUrl: string;
    if (config.backlogSink === 'closed') {
      hookUrl = `http://127.0.0.1:${await closedPort()}/hook`;
    } else {
      sink = await startChild('sink', ['503', String(config.backlogSettleS + 1200)]);
      hookUrl = `${sink.url}/hook`;
    }
    console.log(`\n[backlog] ${fmt(total)} events as ${fmt(requests)} batches, sink ${config.backlogSink === 'closed' ? 'port closed' : 'answers 503'}; then ${config.backlogSettleS} s of retries`);
    const sy = await startServer(workspaceYaml([hookUrl]));
    try {
      await sleep(1000);
      const rss = rssSampler(sy.pid);
      await sleep(1000);
      rss.setPhase('ingest');
      const load = await runLoad({ url: sy.url, bodies: batchBodies(100), connections: config.batchConnections, amount: requests, timeoutS: 60 });
      rss.setPhase('after');
      const afterIngest = await deliveryStats(sy.url);
      const timeline: string[] = [];
      for (let s = 0; s < config.backlogSettleS; s += 5) {
        await sleep(Math.min(5, config.backlogSettleS - s) * 1000);
        const m = memoryKb(sy.pid);
        timeline.push(`${s + 5}s: ${mb(m?.rss)}`);
      }
      rss.stop();
      const final = await deliveryStats(sy.url);
      const logged = countLoggedEvents(sy.dataDir);
      const mem = memoryKb(sy.pid);
      const attempts = sink ? ((await (await fetch(`${sink.url}/stats`)).json()) as { requests: number }).requests : null;
      const maxIngest = rss.max('ingest');
      const maxAfter = rss.max('after');
      const maxAll = Math.max(maxIngest, maxAfter, rss.max('idle'));
      printTable(`backlog: ${fmt(total)} events, destination ${config.backlogSink === 'closed' ? 'unreachable' : 'answering 503'}`, ['measure', 'value'], [
        ['events acknowledged (2xx × 100) / events in log', `${fmt(load.ok * 100)} / ${fmt(logged)}`],
        ['ingest events/s (while the router retries)', fmt(load.eventsPerSec)],
        ['RSS idle before ingest', mb(rss.points[0]?.rss)],
        ['RSS max during ingest', mb(maxIngest)],
        [`RSS max in the ${config.backlogSettleS} s after ingest`, mb(maxAfter)],
        ['RSS at end / VmHWM (peak)', `${mb(mem?.rss)} / ${mb(mem?.hwm)}`],
        ['backlog (not yet attempted) after ingest / at end', `${fmt(afterIngest.backlog)} / ${fmt(final.backlog)}`],
        ['retrying (rows in lane_retries) after ingest / at end', `${fmt(afterIngest.retrying)} / ${fmt(final.retrying)}`],
        ['delivery attempts seen by the sink', attempts === null ? 'n/a (port closed)' : fmt(attempts)],
      ]);
      console.log(`RSS after ingest: ${timeline.join(', ')}`);
      const peak = Math.max(maxAll, mem?.hwm ?? 0);
      const met = peak < config.rssLimitMb * 1024 && load.failed === 0 && logged >= load.ok * 100;
      return {
        name: this.name,
        verdicts: [{ target: `destination down, ${fmt(total)} events backlogged: RSS < ${config.rssLimitMb} MB`, measured: `peak ${mb(peak)}`, met }],
        data: {
          events: total,
          sink: config.backlogSink,
          acknowledged: load.ok * 100,
          failedRequests: load.failed,
          logged,
          ingestEventsPerSec: load.eventsPerSec,
          rssIdleKb: rss.points[0]?.rss,
          rssMaxIngestKb: maxIngest,
          rssMaxAfterKb: maxAfter,
          rssEndKb: mem?.rss,
          hwmKb: mem?.hwm,
          afterIngest: { backlog: afterIngest.backlog, retrying: afterIngest.retrying },
          final: { backlog: final.backlog, retrying: final.retrying, attemptsFailed: final.attemptsFailed },
          sinkAttempts: attempts,
          rssTimeline: rss.points.filter((_, i) => i % 5 === 0).map((p) => [Number(p.t.toFixed(1)), p.rss, p.phase]),
        },
      };
    } finally {
      await sy.shutdown();
      await sink?.stop();
    }
  },
};
