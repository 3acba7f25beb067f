/** Child processes for the benchmarks and what we measure about them from /proc. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface Child {
  url: string;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Runs one of bench/servers/*.js and waits for its {"port":N} line. */
export async function startChild(script: 'bare' | 'sink', args: string[] = []): Promise<Child> {
  const file = fileURLToPath(new URL(`../servers/${script}.js`, import.meta.url));
  const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.resume();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start in 10 s`)), 10_000);
    readline.createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
    void exited.then(() => reject(new Error(`${script} exited before listening`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** VmRSS and VmHWM (peak) of a process, in kB; null once it is gone. */
export function memoryKb(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: get('VmRSS'), hwm: get('VmHWM') };
  } catch {
    return null;
  }
}

const TICKS = 100; // USER_HZ on Linux

/** CPU seconds (user+system) of a process, or of one of its threads. */
export function cpuSeconds(pid: number, tid?: number): number {
  try {
    const stat = fs.readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime
  } catch {
    return NaN;
  }
}

/** CPU seconds per thread of a process: {tid: {name, cpu}}. */
export function threadCpu(pid: number): Map<number, { name: string; cpu: number }> {
  const out = new Map<number, { name: string; cpu: number }>();
  let tids: string[] = [];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tids) {
    const tid = Number(t);
    let name = '?';
    try {
      name = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    out.set(tid, { name, cpu: cpuSeconds(pid, tid) });
  }
  return out;
}

/**
 * Where a process's CPU went between two snapshots, as cores used: the main
 * thread, the busiest other thread (Switchyard's router thread when it works),
 * and everything else (GC helpers, libuv pool).
 */
export function cpuSplit(before: Map<number, { name: string; cpu: number }>, after: Map<number, { name: string; cpu: number }>, pid: number, seconds: number) {
  const deltas: { tid: number; name: string; d: number }[] = [];
  for (const [tid, a] of after) deltas.push({ tid, name: a.name, d: a.cpu - (before.get(tid)?.cpu ?? 0) });
  const main = deltas.find((x) => x.tid === pid)?.d ?? 0;
  const others = deltas.filter((x) => x.tid !== pid).sort((x, y) => y.d - x.d);
  const busiest = others[0]?.d ?? 0;
  const rest = others.slice(1).reduce((s, x) => s + x.d, 0);
  return { main: main / seconds, busiestOther: busiest / seconds, busiestOtherName: others[0]?.name ?? '', rest: rest / seconds, total: (main + busiest + rest) / seconds };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat. */
export function machineBusySeconds(): number {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = v as [number, number, number, number, number, number, number, number];
    void idle;
    void iowait;
    return (user + nice + system + irq + softirq + (steal ?? 0)) / TICKS;
  } catch {
    return NaN;
  }
}

/**
 * Other engineers' test runs share this machine. Waits (at most `maxWaitS`) until
 * the machine has been nearly idle for a one-second window, and returns the busy
 * cores of the last window.
 */
export async function waitForQuiet(maxWaitS = 90, idleCores = 0.25): Promise<{ busyCores: number; waitedS: number }> {
  const t0 = performance.now();
  let busyCores = NaN;
  for (;;) {
    const b0 = machineBusySeconds();
    await sleep(1000);
    busyCores = machineBusySeconds() - b0;
    const waitedS = (performance.now() - t0) / 1000;
    if (!(busyCores > idleCores) || waitedS >= maxWaitS) return { busyCores, waitedS };
  }
}
