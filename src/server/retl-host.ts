import type { Logger } from 'pino';
import type { RequestFn } from '../core/request.js';
import type { DestinationDefinition } from '../destinations/types.js';
import type { RetlConfig, RetlModel } from '../retl/config.js';
import { destinationDeliverer, type Deliver } from '../retl/deliver.js';
import { extractor, type Extractor } from '../retl/extract.js';
import { RetlState, type SyncRecord } from '../retl/state.js';
import { runSync } from '../retl/sync.js';
import type { ControlPlaneStore } from '../store/types.js';

/**
 * Reverse ETL in this process: the workspace file's `reverseEtl:` (held in memory,
 * applied at start and on every file change), a timer per enabled model with an
 * interval, and manual syncs. One sync at a time per model: a scheduled run that
 * comes due while one is running is skipped (the next interval catches up); a
 * manual one is refused (the API answers 409). Runs are async on this thread: the
 * queries run in the database (pg's socket, DuckDB's own threads); the diff and
 * hashing are JavaScript here, fine for the model sizes of this first slice.
 */
export interface RetlHostDeps {
  dataDir: string;
  statePath: string;
  store: ControlPlaneStore;
  types: ReadonlyMap<string, DestinationDefinition<never>>;
  request: RequestFn;
  logger: Logger;
  /** Tests replace these. */
  extract?: Extractor;
  deliver?: Deliver;
}

export type TriggerResult = { kind: 'done'; sync: SyncRecord } | { kind: 'not-found' } | { kind: 'disabled' } | { kind: 'running' };

export class RetlHost {
  private config: RetlConfig = { sources: [], models: [], mappings: [] };
  private readonly state: RetlState;
  private readonly timers = new Map<string, { key: string; timer: NodeJS.Timeout }>();
  private readonly running = new Map<string, Promise<SyncRecord | undefined>>();
  private readonly extract: Extractor;
  private readonly deliver: Deliver;
  private readonly logger: Logger;
  private stopped = false;
  /** Ends retry waits when the process stops, so shutdown does not wait out a retry window. */
  private readonly stopping = new AbortController();

  constructor(deps: RetlHostDeps) {
    this.state = new RetlState(deps.statePath);
    this.logger = deps.logger.child({ component: 'reverse-etl' });
    this.extract = deps.extract ?? extractor(deps.dataDir);
    this.deliver = deps.deliver ?? destinationDeliverer({
      destinations: () => {
        try {
          return deps.store.snapshot().destinations;
        } catch {
          return []; // no workspace applied yet
        }
      },
      types: deps.types,
      request: deps.request,
      signal: this.stopping.signal,
      clock: {
        now: () => Date.now(),
        random: Math.random,
        sleep: (ms) => new Promise<void>((resolve) => {
          const timer = setTimeout(done, ms);
          const signal = this.stopping.signal;
          function done() {
            clearTimeout(timer);
            signal.removeEventListener('abort', done);
            resolve();
          }
          signal.addEventListener('abort', done);
        }),
      },
    });
  }

  /** The file's configuration (null: none): timers start, restart (changed model) or stop. */
  apply(config: RetlConfig | null): void {
    if (this.stopped) return;
    this.config = config ?? { sources: [], models: [], mappings: [] };
    const wanted = new Map<string, string>();
    for (const m of this.config.models) {
      if (!m.enabled || m.intervalSeconds === undefined) continue;
      const source = this.config.sources.find((s) => s.id === m.sourceId);
      wanted.set(m.id, JSON.stringify([m, source]));
    }
    for (const [id, t] of this.timers) {
      if (wanted.get(id) !== t.key) {
        clearInterval(t.timer);
        this.timers.delete(id);
      }
    }
    for (const [id, key] of wanted) {
      if (this.timers.has(id)) continue;
      const model = this.config.models.find((m) => m.id === id)!;
      const tick = () => void this.start(id, 'schedule');
      // Segment: an interval schedule syncs right away, then every interval.
      const timer = setInterval(tick, model.intervalSeconds! * 1000);
      timer.unref();
      this.timers.set(id, { key, timer });
      setImmediate(tick);
    }
  }

  models(): readonly RetlModel[] {
    return this.config.models;
  }

  model(id: string): RetlModel | undefined {
    return this.config.models.find((m) => m.id === id);
  }

  syncs(modelId: string, limit: number): SyncRecord[] {
    return this.state.syncs(modelId, limit);
  }

  /** A manual sync: resolves when it finished (its history row), or says why it did not run. */
  async trigger(modelId: string): Promise<TriggerResult> {
    const model = this.model(modelId);
    if (!model) return { kind: 'not-found' };
    if (!model.enabled) return { kind: 'disabled' };
    if (this.running.has(modelId)) return { kind: 'running' };
    const sync = await this.start(modelId, 'manual');
    return sync ? { kind: 'done', sync } : { kind: 'running' };
  }

  private start(modelId: string, trigger: SyncRecord['trigger']): Promise<SyncRecord | undefined> {
    if (this.stopped || this.running.has(modelId)) return Promise.resolve(undefined);
    const model = this.model(modelId);
    const source = model && this.config.sources.find((s) => s.id === model.sourceId);
    if (!model || !model.enabled || !source) return Promise.resolve(undefined);
    const mappings = this.config.mappings.filter((m) => m.modelId === modelId);
    const log = this.logger.child({ model: modelId });
    const run = runSync({ model, source, mappings, trigger }, { state: this.state, extract: this.extract, deliver: this.deliver })
      .then((sync) => {
        log[sync.status === 'success' ? 'info' : 'warn']({ sync: sync.id, status: sync.status, added: sync.added, updated: sync.updated, deleted: sync.deleted, delivered: sync.eventsDelivered, failed: sync.eventsFailed, error: sync.error }, 'reverse ETL sync finished');
        return sync;
      }, (err: unknown) => {
        // Only retl.db itself failing gets here (runSync records every other failure).
        log.error({ err }, 'reverse ETL sync could not be recorded');
        return undefined;
      })
      .finally(() => this.running.delete(modelId));
    this.running.set(modelId, run);
    return run;
  }

  /** Stops the timers and waits for the syncs in flight (their snapshots advance before the process exits). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    for (const t of this.timers.values()) clearInterval(t.timer);
    this.timers.clear();
    await Promise.allSettled([...this.running.values()]);
    this.state.close();
  }
}
