/**
 * The warehouse loader's thread (issue #6). Loads are CPU-heavy (JSON parsing,
 * SQL text) and DuckDB runs in-process, so they get their own thread, away from
 * ingest and delivery. It opens its own connection to the event log and reads one
 * lane per warehouse (`warehouse:<id>`; the router leaves lanes with ':' alone):
 * the embedded SQLite log, or the NATS JetStream log when SWITCHYARD_LOG is set.
 * Each warehouse and data lake loads only in the process holding its lease
 * (`warehouse:<id>`, `datalake:<id>`; ../log/leases.ts): with several loader
 * processes the others stand by and take over when the holder stops or dies.
 * The composition lives in server/ because it joins two rank-2 capabilities
 * (log, storage) that never import each other.
 */
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import pino, { type Logger } from 'pino';
import type { SyncMode } from '../log/sqlite/db.js';
import { LOST_PAYLOADS_MESSAGE, SqliteEventLog } from '../log/sqlite/log.js';
import { connectNatsLog } from '../log/nats/connect.js';
import type { NatsLogSettings } from '../log/nats/settings.js';
import { Lease, LocalLeases, type LeaseStore } from '../log/leases.js';
import type { EventLog } from '../log/types.js';
import { openDuckDb, openPostgres } from '../storage/warehouse/dialects.js';
import { SYNC_FEED_MAX_AGE_MS, SyncHistory } from '../storage/warehouse/history.js';
import { publisher } from '../core/feed.js';
import { syncTiming } from '../storage/scheduled-sync.js';
import { WarehouseLoader } from '../storage/warehouse/loader.js';
import type { WarehouseConfig } from '../storage/warehouse/types.js';
import { DEFAULT_LAKE_SYNC_SECONDS, LakeLoader } from '../storage/lake/loader.js';
import type { LakeConfig } from '../storage/lake/types.js';

export interface WarehouseWorkerData {
  logPath: string;
  historyPath: string;
  dataDir: string;
  sync: SyncMode;
  dedupeWindowMs: number;
  retentionMs: number;
  logLevel: string;
  /** The NATS JetStream log for this workspace; absent: the SQLite log at logPath. */
  nats?: NatsLogSettings & { workspaceId: string };
  /** Owner of this process's leases (its process id). */
  processId: string;
}

export type ToWarehouses =
  /** `lakes` absent: the data lakes stay as they are. */
  | { type: 'config'; warehouses: WarehouseConfig[]; lakes?: LakeConfig[] }
  | { type: 'sync'; id: string; requestId: number; kind?: 'warehouse' | 'lake' }
  | { type: 'stop' };
export type FromWarehouses =
  | { type: 'ready' }
  | { type: 'applied' }
  | { type: 'synced'; requestId: number; found: boolean }
  | { type: 'stopped' }
  | { type: 'error'; message: string };

/**
 * Default schedule. Segment syncs at most hourly; an embedded DuckDB file is
 * cheap to load and people expect to query what they just sent, so it defaults
 * to a minute. PostgreSQL keeps Segment's hour. `syncIntervalSeconds` overrides both.
 */
export const DEFAULT_SYNC_SECONDS = { duckdb: 60, postgres: 3600 } as const;

const OPEN_RETRY_MS = 30_000;

interface Running {
  key: string;
  loader: WarehouseLoader;
}

async function main(): Promise<void> {
  const data = workerData as WarehouseWorkerData;
  const port = parentPort!;
  const logger: Logger = pino({ level: data.logLevel, base: { thread: 'warehouses' } });
  const nats = data.nats
    ? await connectNatsLog({ ...data.nats, dedupeWindowMs: data.dedupeWindowMs, retentionMs: data.retentionMs, name: 'switchyard-loader' })
    : null;
  const log: EventLog & { laneIds(): string[] | Promise<string[]> } = nats
    ?? new SqliteEventLog({
      path: data.logPath,
      sync: data.sync,
      dedupeWindowMs: data.dedupeWindowMs,
      retentionMs: data.retentionMs,
      onLostPayloads: (lost) => logger.error(lost, LOST_PAYLOADS_MESSAGE),
    });
  const leaseStore: LeaseStore = nats ? await nats.leases() : new LocalLeases();
  const laneIdsWith = async (prefix: string) => (await log.laneIds()).filter((id) => id.startsWith(prefix));
  // One lease per warehouse and data lake; gaining or losing one re-applies the configuration.
  const leases = new Map<string, Lease>();
  const holds = async (key: string): Promise<boolean> => {
    let lease = leases.get(key);
    if (!lease) {
      lease = new Lease(leaseStore, key, data.processId, {
        onChange: (held) => {
          logger.info({ lease: key, held }, held ? 'lease gained: loading here' : 'lease lost: another process loads');
          if (leases.get(key) === lease) void apply(current);
        },
        onError: (err) => logger.warn({ err, lease: key }, 'renewing a lease failed'),
      });
      leases.set(key, lease);
      await lease.start();
    }
    return lease.held;
  };
  const releaseUnwanted = async (wanted: ReadonlySet<string>) => {
    for (const [key, lease] of leases) {
      if (wanted.has(key)) continue;
      leases.delete(key);
      await lease.stop();
    }
  };
  const history = new SyncHistory(data.historyPath);
  // API processes on other machines list these runs (they replay the feed; server/main.ts).
  if (nats) history.onRecord = publisher(await nats.feed('syncs', SYNC_FEED_MAX_AGE_MS), history.origin(), (err) => logger.warn({ err }, 'publishing a sync run to the NATS feed failed'));
  const running = new Map<string, Running>();

  const start = async (c: WarehouseConfig): Promise<Running> => {
    const openDialect = c.type === 'duckdb'
      ? () => openDuckDb(path.resolve(data.dataDir, c.settings.path ?? 'warehouse.duckdb'))
      : () => openPostgres(c.settings.url!);
    // Fail at configuration time when the target cannot be reached at all (retried every OPEN_RETRY_MS).
    await (await openDialect()).close();
    const lane = log.lane({ laneId: `warehouse:${c.id}`, sourceIds: c.sources.map((s) => s.id) });
    const loader = new WarehouseLoader({ config: c, lane, openDialect, history, logger: logger.child({ warehouse: c.id }) });
    // The first run creates the lane's cursor, so events sent from now on are loaded.
    await loader.syncNow();
    loader.start(syncTiming(c.settings, DEFAULT_SYNC_SECONDS[c.type]));
    logger.info({ warehouse: c.id, type: c.type, sources: c.sources.map((s) => s.slug) }, 'warehouse loader started');
    return { key: JSON.stringify(c), loader };
  };

  // Data lakes (lane `datalake:<id>`): a lake always starts; a target that fails
  // (bad credentials, unreachable endpoint) fails its syncs, each with a failed sync report.
  const lakes = new Map<string, { key: string; loader: LakeLoader }>();
  const applyLakes = async (wanted: LakeConfig[]) => {
    const byId = new Map(wanted.map((l) => [l.id, l]));
    const held = new Set<string>();
    for (const l of wanted) if (await holds(`datalake:${l.id}`)) held.add(l.id);
    for (const [id, r] of lakes) {
      const l = byId.get(id);
      if (l && held.has(id) && JSON.stringify(l) === r.key) continue;
      await r.loader.stop();
      lakes.delete(id);
    }
    for (const laneId of await laneIdsWith('datalake:')) if (!byId.has(laneId.slice('datalake:'.length))) await log.deleteLane(laneId);
    for (const l of wanted) {
      if (lakes.has(l.id) || !held.has(l.id)) continue;
      try {
        const lane = log.lane({ laneId: `datalake:${l.id}`, sourceIds: l.sources.map((s) => s.id) });
        const loader = new LakeLoader({ config: l, lane, dataDir: data.dataDir, history, logger: logger.child({ lake: l.id }) });
        await loader.syncNow();
        loader.start((l.settings.syncIntervalSeconds ?? DEFAULT_LAKE_SYNC_SECONDS[l.settings.s3 ? 's3' : 'local']) * 1000);
        lakes.set(l.id, { key: JSON.stringify(l), loader });
        logger.info({ lake: l.id, sources: l.sources.map((s) => s.slug), target: l.settings.s3 ? 's3' : 'local' }, 'data lake loader started');
      } catch (err) {
        logger.error({ err, lake: l.id }, 'the data lake loader could not start');
      }
    }
  };

  let applying: Promise<void> = Promise.resolve();
  let current: WarehouseConfig[] = [];
  let currentLakes: LakeConfig[] = [];
  const apply = (warehouses: WarehouseConfig[], lakeConfigs: LakeConfig[] = currentLakes) => {
    current = warehouses;
    currentLakes = lakeConfigs;
    applying = applying.then(async () => {
      await releaseUnwanted(new Set([...warehouses.map((w) => `warehouse:${w.id}`), ...lakeConfigs.map((l) => `datalake:${l.id}`)]));
      await applyLakes(lakeConfigs);
      const wanted = new Map(warehouses.map((w) => [w.id, w]));
      const held = new Set<string>();
      for (const w of warehouses) if (await holds(`warehouse:${w.id}`)) held.add(w.id);
      for (const [id, r] of running) {
        const w = wanted.get(id);
        if (w && held.has(id) && JSON.stringify(w) === r.key) continue;
        await r.loader.stop();
        running.delete(id);
      }
      // Lanes of warehouses no longer running (removed or disabled while the server was
      // down, too) would hold the log back from pruning forever: drop them, as the router
      // does for disabled destinations.
      for (const laneId of await laneIdsWith('warehouse:')) if (!wanted.has(laneId.slice('warehouse:'.length))) await log.deleteLane(laneId);
      for (const w of warehouses) {
        if (running.has(w.id) || !held.has(w.id)) continue;
        try {
          running.set(w.id, await start(w));
        } catch (err) {
          // Unreachable target: the lane keeps the events; retried every OPEN_RETRY_MS.
          logger.error({ err, warehouse: w.id }, 'the warehouse could not be opened; retrying');
          history.record({ warehouseId: w.id, sourceId: '', runId: 'open', startedAt: Date.now(), finishedAt: Date.now(), status: 'failed', rows: {}, error: `opening the warehouse failed: ${(err as Error).message}` });
        }
      }
    });
    return applying;
  };

  const reopen = setInterval(() => {
    const idle = (key: string) => leases.get(key)?.held !== false;
    if (current.some((w) => !running.has(w.id) && idle(`warehouse:${w.id}`)) || currentLakes.some((l) => !lakes.has(l.id) && idle(`datalake:${l.id}`))) void apply(current);
  }, OPEN_RETRY_MS);

  // With NATS, *Sync now* from an API process elsewhere reaches the loader that holds
  // the warehouse's (or lake's) lease; the others stay silent.
  const stopServing = nats?.serve('syncnow', async (data) => {
    const { kind, id } = JSON.parse(data) as { kind: 'warehouse' | 'lake'; id: string };
    const r = kind === 'lake' ? lakes.get(id) : running.get(id);
    if (!r) return undefined;
    await r.loader.syncNow();
    return JSON.stringify({ found: true });
  }, (err) => logger.error({ err }, 'a Sync now request from another process failed')) ?? (() => {});

  port.on('message', (msg: ToWarehouses) => {
    if (msg.type === 'config') void apply(msg.warehouses, msg.lakes).then(() => port.postMessage({ type: 'applied' } satisfies FromWarehouses));
    else if (msg.type === 'sync' && msg.kind === 'lake') {
      const r = lakes.get(msg.id);
      void (r ? r.loader.syncNow() : Promise.resolve()).then(() =>
        port.postMessage({ type: 'synced', requestId: msg.requestId, found: r !== undefined } satisfies FromWarehouses));
    } else if (msg.type === 'sync') {
      const r = running.get(msg.id);
      void (r ? r.loader.syncNow() : Promise.resolve()).then(() =>
        port.postMessage({ type: 'synced', requestId: msg.requestId, found: r !== undefined } satisfies FromWarehouses));
    } else if (msg.type === 'stop') {
      clearInterval(reopen);
      stopServing();
      void (async () => {
        await applying;
        for (const r of running.values()) await r.loader.stop().catch((err: unknown) => logger.error({ err }, 'stopping a loader failed'));
        for (const r of lakes.values()) await r.loader.stop().catch((err: unknown) => logger.error({ err }, 'stopping a data lake loader failed'));
        // Freed at once, so a standby loader process takes over without waiting for the TTL.
        await releaseUnwanted(new Set());
        history.close();
        await log.close();
        port.postMessage({ type: 'stopped' } satisfies FromWarehouses);
      })();
    }
  });
  port.postMessage({ type: 'ready' } satisfies FromWarehouses);
}

main().catch((err: unknown) => {
  parentPort?.postMessage({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies FromWarehouses);
});
