/**
 * Owns what one test starts (sinks, Switchyard processes, data dirs) and tears
 * all of it down in `cleanup()`, even when the test failed half-way: a failed
 * start or assertion must not leave a listening sink or a server behind, which
 * would keep the test process alive.
 */
import fs from 'node:fs';
import { startSink, type Sink } from './sink.js';
import { startSwitchyard, tempDir, type StartOptions, type SwitchyardProcess } from './switchyard.js';
import { shutdown } from './e2e.js';

export class Harness {
  private readonly sinks: Sink[] = [];
  private readonly servers: SwitchyardProcess[] = [];
  private readonly dirs = new Set<string>();

  async sink(path?: string): Promise<Sink> {
    const s = await startSink(path);
    this.sinks.push(s);
    return s;
  }

  /** A fresh data dir that cleanup() removes. */
  dataDir(): string {
    const dir = tempDir();
    this.dirs.add(dir);
    return dir;
  }

  /** Starts Switchyard; the data dir is always one this harness owns. */
  async start(opts: StartOptions): Promise<SwitchyardProcess> {
    const dataDir = opts.dataDir ?? this.dataDir();
    this.dirs.add(dataDir);
    const sy = await startSwitchyard({ ...opts, dataDir });
    this.servers.push(sy);
    return sy;
  }

  async cleanup(): Promise<void> {
    const errors: unknown[] = [];
    for (const sy of this.servers.splice(0)) {
      await shutdown(sy, { removeDataDir: false }).catch((err: unknown) => errors.push(err));
    }
    for (const s of this.sinks.splice(0)) await s.close();
    for (const dir of this.dirs) fs.rmSync(dir, { recursive: true, force: true });
    this.dirs.clear();
    if (errors.length > 0) throw errors[0];
  }
}
