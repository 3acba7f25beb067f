/** Switchyard as the benchmarks run it: the real process, via the test harness. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { NODE_FLAGS, startSwitchyard, tempDir, workspaceYaml, type SwitchyardProcess } from '../../test/helpers/switchyard.js';
import { sleep } from './procs.js';

/** A workspace with only a source: no destination, so the router thread stays idle. */
export const SOURCE_ONLY_WORKSPACE = `workspace: { slug: acme }
sources:
  - slug: web-prod
    writeKey: wk_web_prod
destinations: []
`;

export { workspaceYaml };
export const DESTINATION_ID = 'orders-webhook';

export interface Server extends SwitchyardProcess {
  pid: number;
  /** Graceful stop (bounded), then removes the data dir. */
  shutdown(): Promise<void>;
}

/**
 * Starts Switchyard through the test harness. BENCH_CPU_PROF=<dir> instead runs it
 * as `node --cpu-prof --cpu-prof-dir=<dir> bin/switchyard.js start ...` (Node
 * refuses --cpu-prof in NODE_OPTIONS, so the harness cannot pass it); the main
 * thread and the router thread each write a .cpuprofile there on exit.
 */
export async function startServer(workspace: string, env: Record<string, string> = {}): Promise<Server> {
  const profDir = process.env.BENCH_CPU_PROF;
  const dataDir = tempDir('sy-bench-');
  let sy: SwitchyardProcess;
  try {
    sy = profDir ? await startProfiled(workspace, dataDir, path.resolve(profDir), env) : await startSwitchyard({ workspace, dataDir, env });
  } catch (err) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return Object.assign(sy, {
    pid: sy.child.pid!,
    async shutdown() {
      const stopped = sy.stop();
      const timedOut = await Promise.race([stopped.then(() => false), sleep(60_000).then(() => true)]);
      if (timedOut) {
        console.error('  (server did not stop within 60 s of SIGTERM; killing it)');
        await sy.kill();
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

/** The harness's start, with --cpu-prof on the command line. */
async function startProfiled(workspace: string, dataDir: string, profDir: string, env: Record<string, string>): Promise<SwitchyardProcess> {
  fs.mkdirSync(profDir, { recursive: true });
  const bin = fileURLToPath(new URL('../../../bin/switchyard.js', import.meta.url));
  const configFile = path.join(dataDir, 'workspace.yaml');
  fs.writeFileSync(configFile, workspace);
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, '--cpu-prof', `--cpu-prof-dir=${profDir}`, bin, 'start', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--config', configFile],
    { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stderr!.resume();
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('switchyard did not start in 20 s')), 20_000);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      if (logs.length < 1000) logs.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; address?: string };
        if (entry.msg === 'switchyard is listening' && entry.address) {
          clearTimeout(timer);
          resolve(entry.address);
        }
      } catch {
        /* not JSON */
      }
    });
    void exited.then((code) => reject(new Error(`switchyard exited with ${code} before listening`)));
  });
  return {
    url,
    dataDir,
    configFile,
    child,
    logs,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * Events in the server's durable log, read from a read-only connection. The log
 * may keep one row per event, or one row per append with a `count` column (a
 * 100-event batch is one row); both layouts are counted in events.
 */
export function countLoggedEvents(dataDir: string): number {
  const db = new Database(path.join(dataDir, 'log.db'), { readonly: true, fileMustExist: true });
  try {
    const columns = (db.prepare('PRAGMA table_info(events)').all() as { name: string }[]).map((c) => c.name);
    const sql = columns.includes('count') ? 'SELECT IFNULL(SUM(count), 0) AS n FROM events' : 'SELECT COUNT(*) AS n FROM events';
    return (db.prepare(sql).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

export interface DeliveryStats {
  delivered: number;
  attemptsFailed: number;
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
  backlog: number;
  retrying: number;
}

export async function deliveryStats(url: string): Promise<DeliveryStats> {
  const res = await fetch(`${url}/api/v1/destinations/${DESTINATION_ID}/delivery?range=10m`, { signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`delivery stats: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { data: DeliveryStats }).data;
}
