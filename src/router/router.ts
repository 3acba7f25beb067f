import type { Logger } from 'pino';
import type { RetryPolicy } from '../core/retry.js';
import type { RequestFn } from '../core/request.js';
import type { DestinationDefinition, PersistSecret } from '../destinations/types.js';
import type { EventLog } from '../log/types.js';
import type { StatsRecorder } from '../observability/stats.js';
import type { EventType } from '../protocol/types.js';
import { ControlPlaneEmptyError } from '../store/control-plane.js';
import type { ControlPlaneSnapshot, ControlPlaneStore, DestinationInstance } from '../store/types.js';
import { LaneRunner } from './lane-runner.js';
import { splitConnectionMode } from '../core/route.js';
import type { FailureLogWriter } from '../observability/failure-log.js';
import { functionRevision, withInsert } from './functions.js';
import { forgetFunctionsExcept } from '../functions/deployed.js';

/**
 * What the router needs of a log: the contract plus the list of lanes that exist
 * (to drop the ones whose destination is gone). SQLite answers synchronously,
 * NATS (the lanes are the stream's consumers) asynchronously.
 */
export type RouterLog = EventLog & { laneIds(): string[] | Promise<string[]> };

export interface RouterDeps {
  log: RouterLog;
  store: ControlPlaneStore;
  types: ReadonlyMap<string, DestinationDefinition<never>>;
  request: RequestFn;
  /**
   * Writes a new value of an instance's secret setting (refreshed OAuth tokens) to
   * the control plane; it bumps the version, so the next sync rebuilds that runner
   * (the old one stops gracefully, the new one resumes the same lane). None: tokens
   * stay in memory.
   */
  updateDestinationSecret?: (destinationId: string, key: string, value: unknown) => void;
  policy: RetryPolicy;
  stats: StatsRecorder;
  logger: Logger;
  concurrency: number;
  batchWaitMs: number;
  failureLog: FailureLogWriter;
  now: () => number;
  random: () => number;
}

/**
 * Keeps one LaneRunner per enabled destination instance in line with the
 * control plane. A changed instance (settings, sources, rate) gets a new runner on
 * the same lane, so its cursor and pending retries carry over. A disabled or
 * deleted instance loses its lane: like Segment, events that arrive while a
 * destination is off are not delivered to it later.
 */
export class Router {
  private readonly runners = new Map<string, { runner: LaneRunner; fingerprint: string }>();
  private syncedVersion = -1;
  private collections = new Map<string, string>();

  constructor(private readonly deps: RouterDeps) {}

  async sync(): Promise<void> {
    // Another thread or process may have written: read the version now rather than wait for the store's poll.
    await this.deps.store.refresh();
    const version = this.deps.store.version();
    if (version === this.syncedVersion) return;
    let snapshot;
    try {
      snapshot = this.deps.store.snapshot();
    } catch (err) {
      if (err instanceof ControlPlaneEmptyError) return; // nothing configured yet
      throw err;
    }
    this.syncedVersion = snapshot.version;
    forgetFunctionsExcept(new Set(snapshot.functions.map((f) => f.id)));
    const rate = snapshot.workspace.rateLimitPerSecond;
    const wanted = new Map(snapshot.destinations.filter((d) => d.enabled && d.sourceIds.length > 0).map((d) => [d.id, d]));
    for (const [id, entry] of this.runners) {
      const next = wanted.get(id);
      if (next && fingerprint(next, rate, snapshot) === entry.fingerprint) continue;
      this.runners.delete(id);
      await entry.runner.stop();
    }
    // Destination lanes are named by the instance id (which never contains ':');
    // other consumers of the log (warehouse loaders, ...) name theirs `kind:id`.
    for (const laneId of await this.deps.log.laneIds()) {
      if (!laneId.includes(':') && !wanted.has(laneId)) await this.deps.log.deleteLane(laneId);
    }
    for (const [id, instance] of wanted) {
      if (this.runners.has(id)) continue;
      const runner = this.createRunner(instance, rate, snapshot);
      if (!runner) continue;
      this.runners.set(id, { runner, fingerprint: fingerprint(instance, rate, snapshot) });
      runner.setFailureLogCollection(this.collections.get(id) ?? null);
      runner.start();
    }
  }

  private createRunner(instance: DestinationInstance, rateLimitPerSecond: number, snapshot: ControlPlaneSnapshot): LaneRunner | null {
    const logger = this.deps.logger.child({ destination: instance.id });
    const found = this.deps.types.get(instance.type) as DestinationDefinition<unknown> | undefined;
    const definition = found && withInsert(snapshot, instance, found);
    if (!definition) {
      logger.error({ type: instance.type }, 'unknown destination type; not delivering');
      return null;
    }
    // The connection mode rides in the stored settings under a reserved key (core/route.ts).
    const { connectionMode, settings } = splitConnectionMode(instance.settings);
    const parsed = definition.settingsSchema.safeParse(settings);
    if (!parsed.success) {
      logger.error({ issues: parsed.error.issues.map((i) => i.path.join('.')) }, 'invalid destination settings; not delivering');
      return null;
    }
    return new LaneRunner({
      lane: this.deps.log.lane({ laneId: instance.id, sourceIds: instance.sourceIds }),
      target: {
        destinationName: definition.name,
        instanceName: instance.name,
        supportedTypes: new Set<EventType>(definition.supportedTypes),
        connectionMode,
      },
      definition,
      settings: parsed.data,
      filters: instance.filters,
      request: this.deps.request,
      persist: this.persistFor(instance.id, logger),
      policy: this.deps.policy,
      stats: this.deps.stats,
      logger,
      concurrency: this.deps.concurrency,
      batchWaitMs: this.deps.batchWaitMs,
      rateLimitPerSecond,
      failureLog: this.deps.failureLog,
      now: this.deps.now,
      random: this.deps.random,
    });
  }

  private persistFor(destinationId: string, logger: Logger): PersistSecret | undefined {
    const update = this.deps.updateDestinationSecret;
    if (!update) return undefined;
    return (key, value) => {
      try {
        update(destinationId, key, value);
        logger.info({ key }, 'stored a refreshed secret setting');
      } catch (err) {
        logger.error({ err, key }, 'storing a refreshed secret setting failed; it stays in memory');
      }
      return Promise.resolve();
    };
  }

  /** Failure log collection per destination instance (instance id → collection id). */
  setFailureLogCollections(collections: Map<string, string>): void {
    this.collections = collections;
    for (const [id, { runner }] of this.runners) runner.setFailureLogCollection(collections.get(id) ?? null);
  }

  wake(): void {
    for (const { runner } of this.runners.values()) runner.wake();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.runners.values()].map(({ runner }) => runner.stop()));
    this.runners.clear();
  }
}

function fingerprint(d: DestinationInstance, rate: number, snap: ControlPlaneSnapshot): string {
  return JSON.stringify([d.name, d.type, d.sourceIds, d.settings, d.filters, rate, functionRevision(snap, d)]);
}
