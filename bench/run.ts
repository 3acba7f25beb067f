/**
 * Switchyard's benchmarks. `npm run bench` runs them all; `node dist/bench/run.js
 * <scenario>...` runs some (a name, or a prefix such as `ingest` or `e2e`).
 * Knobs are environment variables (bench/lib/config.ts); BENCH_JSON=<file> also
 * writes every measurement as JSON; BENCH_CPU_PROF=<dir> profiles the server.
 * Only 127.0.0.1 is ever contacted.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { config } from './lib/config.js';
import { waitForQuiet } from './lib/procs.js';
import { fmt, printTable } from './lib/table.js';
import { backlog } from './scenarios/backlog.js';
import { e2e, e2eMax } from './scenarios/e2e.js';
import { baseline, ingestBatch, ingestSingle } from './scenarios/ingest.js';
import { observability } from './scenarios/observability.js';
import { destinations } from './scenarios/destinations.js';
import { functions } from './scenarios/functions.js';
import { publicApi } from './scenarios/public-api.js';
import type { Scenario, ScenarioReport } from './scenarios/types.js';

const ALL: Scenario[] = [ingestSingle, ingestBatch, e2e, e2eMax, backlog, observability, destinations, functions, publicApi];
const EXTRA: Scenario[] = [baseline];

const ENV_HELP = `environment:
  BENCH_DURATION_S=10        measured seconds per ingest run
  BENCH_WARMUP_S=2           warm-up seconds before each ingest run
  BENCH_ROUNDS=1             ingest runs per side (alternating), best shown
  BENCH_CONNECTIONS=50       autocannon connections, single events
  BENCH_BATCH_CONNECTIONS=16 autocannon connections, 100-event batches
  BENCH_E2E_RATE=10000       events/s offered in e2e
  BENCH_E2E_DURATION_S=15    e2e load seconds
  BENCH_DRAIN_TIMEOUT_S=30   how long e2e waits for the backlog to drain
  BENCH_BACKLOG_EVENTS=1000000, BENCH_BACKLOG_SETTLE_S=20, BENCH_BACKLOG_SINK=503|closed
  BENCH_FN_EVENTS=20000      events per run in the functions scenario
  BENCH_JSON=<file>          also write all measurements as JSON
  BENCH_CPU_PROF=<dir>       run the server under --cpu-prof (summarise: node dist/bench/profile.js <file>)`;

function pick(args: string[]): Scenario[] {
  if (args.length === 0) return ALL;
  const known = [...ALL, ...EXTRA];
  const picked: Scenario[] = [];
  for (const a of args) {
    const exact = known.find((s) => s.name === a);
    const matches = exact ? [exact] : ALL.filter((s) => s.name.startsWith(a));
    if (matches.length === 0) {
      console.error(`unknown scenario "${a}"; known: ${known.map((s) => s.name).join(', ')}`);
      process.exit(2);
    }
    for (const m of matches) if (!picked.includes(m)) picked.push(m);
  }
  return picked;
}

/** The commit measured, with `+dirty` when src/ has uncommitted changes. */
function gitDescribe(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(`usage: node dist/bench/run.js [scenario...]   (a name or a prefix; none = all but baseline)\n\n${[...ALL, ...EXTRA].map((s) => `  ${s.name.padEnd(14)} ${s.description}`).join('\n')}\n\n${ENV_HELP}`);
    return;
  }
  const scenarios = pick(args);
  const machine = {
    date: new Date().toISOString(),
    node: process.version,
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()}`,
    commit: gitDescribe(),
  };
  console.log(`Switchyard benchmarks: ${machine.date}, commit ${machine.commit}, node ${machine.node}, ${machine.nproc} cores (${machine.cpu}), ${machine.memGiB} GiB`);
  console.log(`config: ${JSON.stringify(config)}`);
  const reports: ScenarioReport[] = [];
  const started = performance.now();
  for (const s of scenarios) {
    const quiet = await waitForQuiet();
    if (quiet.busyCores > 0.25) console.log(`\n  (warning: other processes keep ${fmt(quiet.busyCores, 2)} cores busy; results for ${s.name} will be noisy)`);
    else if (quiet.waitedS > 2) console.log(`\n  (waited ${fmt(quiet.waitedS)} s for other processes to quieten)`);
    const t = performance.now();
    try {
      reports.push(await s.run());
    } catch (err) {
      console.error(`\n[${s.name}] failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      reports.push({ name: s.name, verdicts: [{ target: '(scenario ran)', measured: 'error', met: false }], data: { error: String(err) } });
    }
    console.log(`  (${s.name} took ${((performance.now() - t) / 1000).toFixed(0)} s)`);
  }
  const verdicts = reports.flatMap((r) => r.verdicts.map((v) => [r.name, v.target, v.measured, v.met ? 'met' : 'MISSED']));
  if (verdicts.length) printTable('targets', ['scenario', 'target', 'measured', 'result'], verdicts);
  console.log(`\nsuite took ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (process.env.BENCH_JSON) {
    fs.writeFileSync(process.env.BENCH_JSON, JSON.stringify({ machine, config, reports }, null, 2));
    console.log(`wrote ${process.env.BENCH_JSON}`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
