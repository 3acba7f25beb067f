/**
 * Runs a real Switchyard process (bin/switchyard.js) for tests and benchmarks:
 * a temp data dir, a workspace file, port 0, and the address read from its log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../../bin/switchyard.js', import.meta.url));
/** The Node flags of bin/switchyard.js's `#!` line: tests and benchmarks run the server as `npx switchyard` does. */
export const NODE_FLAGS = shebangFlags();

/** Refuses a `#!` line it cannot read rather than run every test without the server's flags. */
function shebangFlags(): string[] {
  const line = fs.readFileSync(BIN, 'utf8').split('\n', 1)[0]!;
  const m = /^#!\/usr\/bin\/env (?:-S )?node((?: --\S+)*)\s*$/.exec(line);
  if (!m) throw new Error(`bin/switchyard.js's first line is not "#!/usr/bin/env -S node [--flag ...]": ${line}`);
  return m[1]!.split(' ').filter(Boolean);
}

export interface SwitchyardProcess {
  url: string;
  dataDir: string;
  configFile: string;
  child: ChildProcess;
  /** Log lines (JSON) printed so far. */
  logs: string[];
  /** Graceful stop (SIGTERM), resolves on exit. */
  stop(): Promise<number | null>;
  /** SIGKILL, resolves on exit. */
  kill(): Promise<void>;
}

export interface StartOptions {
  /** The workspace file's content (written as YAML or JSON by extension). */
  workspace: string | object;
  /** Reuse a data dir (restart after a kill). */
  dataDir?: string;
  configFile?: string;
  env?: Record<string, string>;
  port?: number;
  /** `--role` (ingest, router, …, comma-separated); absent: the default (all). */
  role?: string;
  /**
   * Write the workspace file before starting (default true). Processes that share a
   * DATA_DIR pass false after the first, so the file is not rewritten under the others' watchers.
   */
  writeConfig?: boolean;
}

export function tempDir(prefix = 'sy-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function startSwitchyard(opts: StartOptions): Promise<SwitchyardProcess> {
  const dataDir = opts.dataDir ?? tempDir();
  const configFile = opts.configFile ?? path.join(dataDir, typeof opts.workspace === 'string' ? 'workspace.yaml' : 'workspace.json');
  if (opts.writeConfig !== false) fs.writeFileSync(configFile, typeof opts.workspace === 'string' ? opts.workspace : JSON.stringify(opts.workspace, null, 2));
  const args = [BIN, 'start', '--port', String(opts.port ?? 0), '--host', '127.0.0.1', '--data-dir', dataDir, '--config', configFile];
  if (opts.role !== undefined) args.push('--role', opts.role);
  const child = spawn(process.execPath, [...NODE_FLAGS, ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`switchyard did not start in 20 s\n${logs.join('\n')}\n${stderr}`)), 20_000);
    rl.on('line', (line) => {
      logs.push(line);
      if (logs.length > 5000) logs.shift();
      try {
        const entry = JSON.parse(line) as { msg?: string; address?: string };
        if (entry.msg === 'switchyard is listening' && entry.address) {
          clearTimeout(timer);
          resolve(entry.address);
        }
      } catch {
        /* not a JSON line */
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`switchyard exited with ${code} before listening\n${logs.join('\n')}\n${stderr}`));
    });
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

/** The exact workspace shape, pointed at the given hook URLs. */
export function workspaceYaml(hookUrls: string[], extra = ''): string {
  return `workspace: { slug: acme }
sources:
  - slug: web-prod
    writeKey: wk_web_prod
destinations:
  - name: Orders webhook
    type: webhook
    sources: [web-prod]
    enabled: true
    settings:
      urls: [${hookUrls.join(', ')}]
      headers: { X-Token: abc }
      sharedSecret: s3cret
${extra}`;
}

/** One bodiless call to a running server's API (no auth: open mode), the JSON answer parsed. */
export async function api(sy: SwitchyardProcess, method: string, p: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${sy.url}${p}`, { method });
  return { status: res.status, body: await res.json() };
}
