import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { formatConfigErrors, readWorkspaceFile, watchWorkspaceFile, parseWorkspaceFile, type FilePlan } from '../config/workspace-file.js';
import { destinationTypes, setFunctionLookup } from '../destinations/registry.js';
import { functionLookup } from '../router/functions.js';
import { forgetFunctionsExcept, setFunctionSandboxes } from '../functions/deployed.js';
import { openDatabase } from '../log/sqlite/db.js';
import { SqliteEventLog } from '../log/sqlite/log.js';
import type { NatsEventLog } from '../log/nats/log.js';
import { connectNatsLog } from '../log/nats/connect.js';
import { Lease, LocalLeases } from '../log/leases.js';
import { relayDebugger } from './debugger-relay.js';
import { STATS_FEED_MAX_AGE_MS, followStats, publishStats } from '../observability/stats-feed.js';
import type { NatsLogSettings } from '../log/nats/settings.js';
import { HEARTBEAT_MS, SqliteProcessRegistry, type ProcessInfo, type ProcessRegistry } from '../log/processes.js';
import type { EventLog, LaneBacklog } from '../log/types.js';
import http from 'node:http';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { ControlPlaneEmptyError } from '../store/control-plane.js';
import { STATS_RETENTION_MS, StatsRecorder } from '../observability/stats.js';
import { startRouterThread, type RouterHandle } from '../router/host.js';
import { loadOrCreateSecretKey } from '../store/secrets.js';
import { openControlPlane, type ControlPlane } from '../store/control-plane.js';
import { buildApp } from './app.js';
import { createRequestClient } from '../core/request.js';
import { IngestPool } from './ingest-pool.js';
import { startAlertChecks } from './alert-checks.js';
import { moveStatsTablesToStore } from './move-to-store.js';
import { restoreDebugger, saveDebugger, SourceDebugger } from '../observability/debugger.js';
import { FAILURE_LOG_FEED, FAILURE_LOG_RETENTION_MS, FailureLogReplica, pruneFailureLogs } from '../observability/failure-log.js';
import type { Config } from './config.js';
import type { WorkspacePlan } from '../store/plan.js';
import { SYNC_FEED_MAX_AGE_MS, SyncHistory } from '../storage/warehouse/history.js';
import { replicate } from '../core/feed.js';
import type { WarehouseConfig } from '../storage/warehouse/types.js';
import type { LakeConfig } from '../storage/lake/types.js';
import { startWarehouseThread, type WarehousesHandle } from './warehouse-host.js';
import { apiWarehouseConfigs } from '../config/warehouse-settings.js';
import { snapshotOrNull } from './lookup.js';
import { unifyController, type UnifyController } from './unify-host.js';
import { RetlHost } from './retl-host.js';

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/**
 * What a process does (`switchyard start --role …`, comma-separated; default all):
 * ingest = the Tracking API; router = delivery; loader = warehouse loads;
 * scheduler = work that runs once per deployment (alert checks); api = the
 * management API and console. Every process serves /health and /ready.
 */
/** How long *Sync now* waits for a loader in another process to finish the run. */
const SYNC_NOW_TIMEOUT_MS = 120_000;

export const ROLES = ['ingest', 'router', 'loader', 'scheduler', 'api'] as const;
export type Role = (typeof ROLES)[number];

export interface ServerOptions {
  /** Default: every role (today's single process). */
  roles?: ReadonlySet<Role>;
  /** SWITCHYARD_LOG=nats://… : the NATS JetStream log; absent or null: the embedded SQLite log. */
  nats?: NatsLogSettings | null;
}

/** Parses `--role` (`ingest`, `router,api`, `all`). */
export function parseRoles(value: string | undefined): Set<Role> {
  const parts = (value ?? 'all').split(',').map((r) => r.trim()).filter(Boolean);
  const roles = new Set<Role>();
  for (const p of parts) {
    if (p === 'all') ROLES.forEach((r) => roles.add(r));
    else if ((ROLES as readonly string[]).includes(p)) roles.add(p as Role);
    else throw new Error(`--role must be one or more of ${ROLES.join(', ')} or all (comma-separated), got "${p}"`);
  }
  if (roles.size === 0) throw new Error('--role is empty');
  return roles;
}

/** Where each embedded store lives inside DATA_DIR. */
export function dataPaths(dataDir: string) {
  return {
    log: path.join(dataDir, 'log.db'),
    control: path.join(dataDir, 'control.db'),
    stats: path.join(dataDir, 'stats.db'),
    failureLogs: path.join(dataDir, 'failure-logs'),
    debugger: path.join(dataDir, 'debugger.json'),
    warehouseSyncs: path.join(dataDir, 'warehouse-syncs.db'),
    unify: path.join(dataDir, 'unify.db'),
    processes: path.join(dataDir, 'processes.db'),
    retl: path.join(dataDir, 'retl.db'),
  };
}

/**
 * The embedded composition root: one process, all state in DATA_DIR. Ingest and
 * the HTTP API run on this thread, delivery on the router thread.
 */
export async function startServer(config: Config, logger: Logger = pino({ level: config.logLevel }), options: ServerOptions = {}): Promise<RunningServer> {
  const roles: ReadonlySet<Role> = options.roles ?? new Set(ROLES);
  const has = (r: Role) => roles.has(r);
  const natsSettings = options.nats ?? null;
  if (!natsSettings && roles.size < ROLES.length) {
    throw new Error(
      `--role ${[...roles].join(',')} needs a shared event log: set SWITCHYARD_LOG=nats://host:4222. ` +
        'The embedded SQLite log (the default) is read and written by one process, which takes every role.',
    );
  }
  fs.mkdirSync(config.dataDir, { recursive: true });
  const paths = dataPaths(config.dataDir);
  const secretKey = loadOrCreateSecretKey(config.dataDir, config.secretKey);

  // SQLite (the default): control.db in DATA_DIR, its version polled every 100 ms.
  // PostgreSQL (SWITCHYARD_STORE): shared by every process, changes arrive by NOTIFY.
  const controlDb = config.store ? null : openDatabase(paths.control, config.sync, 4);
  const store = await openControlPlane(controlDb ? { sqlite: controlDb } : { postgres: config.store! }, { secretKey });
  // Destination functions are types found in the control plane (the API checks their instances' settings).
  setFunctionLookup(functionLookup(store));
  setFunctionSandboxes(config.functionSandboxes);
  let stopWatching = () => {};
  // Warehouses: the workspace file's (held in memory from the file) merged with the
  // Public API's (control.db), handed to the loader thread at start, on every file
  // apply and whenever the control-plane version changes.
  let filePlan: FilePlan | undefined;
  /** Unify (identity graph + Profile API): set up once the log is open; the file's `unify:` is applied at start and on every file apply. */
  let unify: UnifyController | undefined;
  /** Reverse ETL (the file's `reverseEtl:`): runs in the scheduler process; applied at start and on every file apply. */
  let retl: RetlHost | undefined;
  let warehouseConfigs: WarehouseConfig[] = [];
  let lakeConfigs: LakeConfig[] = [];
  let warehouses: WarehousesHandle | undefined;
  /** Set once this process may run loaders (below); until then reconfiguring waits. */
  let startWarehouses: (() => Promise<WarehousesHandle | undefined>) | undefined;
  let configuredKey = '';
  const mergeWarehouses = () => {
    warehouseConfigs = filePlan ? warehouseConfigsOf(filePlan) : [];
    const snap = snapshotOrNull(store);
    if (snap) {
      const slugs = new Map(snap.sources.map((s) => [s.id, s.slug]));
      const fileIds = new Set((filePlan?.warehouses ?? []).map((w) => w.id));
      warehouseConfigs.push(...apiWarehouseConfigs(snap.warehouses.filter((w) => !fileIds.has(w.id)), (id) => slugs.get(id) ?? id));
    }
    lakeConfigs = filePlan ? lakeConfigsOf(filePlan) : [];
  };
  /** Re-merges and, when anything changed, reconfigures the loader thread; resolves once it applied. */
  let configuring: Promise<void> = Promise.resolve();
  const reconfigureWarehouses = (): Promise<void> => {
    mergeWarehouses();
    const key = JSON.stringify([warehouseConfigs, lakeConfigs]);
    // Unchanged: wait for the apply in flight (another caller may have started it),
    // so an API answer never comes before the loader reads the new configuration.
    if (key === configuredKey || !startWarehouses) return configuring;
    configuredKey = key;
    // In order, and one failure does not stop the ones after it (each caller sees its own).
    configuring = configuring.catch(() => {}).then(async () => {
      warehouses ??= await startWarehouses!();
      await warehouses?.configure(warehouseConfigs, lakeConfigs);
    });
    return configuring;
  };
  const onWarehouses = (plan: FilePlan) => {
    filePlan = plan;
    void reconfigureWarehouses();
    unify?.apply(plan.unify ?? null).catch((err: unknown) => logger.error({ err }, 'applying the Unify configuration failed'));
    retl?.apply(plan.reverseEtl ?? null);
  };
  if (config.configFile) {
    filePlan = await applyFileAtStart(config.configFile, store, logger);
    stopWatching = watchWorkspaceFile(config.configFile, (text) => void applyFileText(config.configFile!, text, store, logger, () => router?.sync(), onWarehouses), {
      onError: (err) => logger.error({ err }, 'watching the workspace file failed'),
    });
  }
  mergeWarehouses();

  let router: RouterHandle | undefined;
  const workspaceId = natsSettings ? await waitForWorkspace(store, logger) : '';
  const sqlite = natsSettings ? null : new SqliteEventLog({
    path: paths.log,
    sync: config.sync,
    dedupeWindowMs: config.dedupeWindowMs,
    retentionMs: config.retentionMs,
    autoCheckpoint: false,
    onCommit: () => router?.wake(),
  });
  const nats = natsSettings
    ? await connectNatsLog({ ...natsSettings, workspaceId, dedupeWindowMs: config.dedupeWindowMs, retentionMs: config.retentionMs, name: `switchyard-${[...roles].join('-')}` })
    : null;
  const log: EventLog = (sqlite ?? nats)!;
  const backlogs = nats ? watchNatsBacklog(nats, has('api'), logger) : null;
  const laneBacklog = (id: string): LaneBacklog | null => (sqlite ? sqlite.laneBacklog(id) : backlogs!.get(id));
  const statsDb = openDatabase(paths.stats, 'normal', 4);
  const stats = new StatsRecorder(statsDb, Date.now, config.metrics);
  if (has('api') || has('scheduler')) {
    const moved = await moveStatsTablesToStore(statsDb, store);
    if (moved && (moved.alertRules > 0 || moved.alertNotifications > 0 || moved.failureLogCollections > 0)) {
      logger.info(moved, 'alert rules, alert notifications and failure-log collections moved from stats.db into the control-plane store');
    }
  }
  const statsTimer = setInterval(() => stats.flush(), 1000);
  // With NATS, metrics travel between processes that do not share a DATA_DIR: every
  // process publishes its figures; API and scheduler processes add the others' to theirs.
  const statsFeed = nats ? await nats.feed('stats', STATS_FEED_MAX_AGE_MS) : null;
  const feedError = (err: unknown) => logger.warn({ err }, 'a NATS feed (metrics, sync runs, failure logs) failed');
  if (statsFeed) publishStats(stats, statsFeed, feedError);
  const statsFollower = statsFeed && (has('api') || has('scheduler')) ? await followStats(stats, statsFeed, feedError) : null;
  // The router thread prunes old figures; without it, this process does.
  const statsPrune = has('router') ? undefined : setInterval(() => stats.prune(STATS_RETENTION_MS), 3_600_000);

  router = !has('router') ? undefined : await startRouterThread({
    logPath: paths.log,
    nats: natsSettings ? { ...natsSettings, workspaceId } : undefined,
    controlPath: paths.control,
    controlStore: config.store,
    statsPath: paths.stats,
    secretKeyHex: secretKey.toString('hex'),
    sync: config.sync,
    dedupeWindowMs: config.dedupeWindowMs,
    retentionMs: config.retentionMs,
    retry: config.retry,
    concurrency: config.deliveryConcurrency,
    functionSandboxes: config.functionSandboxes,
    batchWaitMs: config.batchWaitMs,
    requestTimeoutMs: config.requestTimeoutMs,
    logLevel: config.logLevel,
    failureLogDir: paths.failureLogs,
    metrics: config.metrics,
    outboundOverrides: config.outboundOverrides,
  }, (err) => {
    logger.fatal({ err }, 'the router thread died; exiting so a supervisor restarts Switchyard');
    process.exit(1);
  });

  // Unique per process start: the owner of its leases and its heartbeat key.
  const processId = `${os.hostname().replace(/[^A-Za-z0-9_=-]/g, '_')}-${process.pid}-${randomBytes(3).toString('hex')}`;
  // The loader thread (DuckDB, the AWS SDK, ~33 MB of RSS) starts when there is
  // something to load: a warehouse or a data lake, or (embedded log) a storage lane
  // left by one deleted while the process was down, which the thread removes (a lane
  // nobody reads would keep the log from pruning). With NATS it always starts.
  const warehouseThreadData = {
    logPath: paths.log,
    nats: natsSettings ? { ...natsSettings, workspaceId } : undefined,
    processId,
    historyPath: paths.warehouseSyncs,
    dataDir: config.dataDir,
    sync: config.sync,
    dedupeWindowMs: config.dedupeWindowMs,
    retentionMs: config.retentionMs,
    logLevel: config.logLevel,
  };
  const hasStorageLanes = () => sqlite === null || sqlite.laneIds().some((id) => id.startsWith('warehouse:') || id.startsWith('datalake:'));
  if (has('loader')) startWarehouses = async () => {
    if (warehouseConfigs.length + lakeConfigs.length === 0 && !hasStorageLanes()) return undefined;
    return startWarehouseThread(warehouseThreadData, (err) => {
      logger.fatal({ err }, 'the warehouse thread died; exiting so a supervisor restarts Switchyard');
      process.exit(1);
    });
  };
  // Before listening: each loader's lane exists, so every event accepted from now on is loaded.
  await reconfigureWarehouses();
  // The same for Unify's lane (its consumer thread starts only when `unify:` is configured).
  unify = unifyController({
    logPath: paths.log, unifyPath: paths.unify, sync: config.sync, dedupeWindowMs: config.dedupeWindowMs, retentionMs: config.retentionMs, logLevel: config.logLevel,
  }, sqlite, logger, (err) => {
    logger.fatal({ err }, 'the unify thread died; exiting so a supervisor restarts Switchyard');
    process.exit(1);
  });
  // An invalid file at start keeps the previous configuration: the lane too, until the file is fixed.
  if (filePlan || !config.configFile) await unify.apply(filePlan?.unify ?? null);
  // Public API writes reconfigure at once (warehouses.changed); this catches every other
  // writer of the control plane (another process, a source's slug or deletion) within a second.
  const stopStoreWatch = store.onChange(() => {
    reconfigureWarehouses().catch((err: unknown) => logger.error({ err }, 'reconfiguring the warehouses failed'));
    // Source functions run here: a deleted function's sandboxes are freed.
    const snap = snapshotOrNull(store);
    if (snap) forgetFunctionsExcept(new Set(snap.functions.map((f) => f.id)));
  });
  // The same for destinations when no router runs in this process: with interest
  // retention, JetStream keeps a message only for the consumers that exist when it lands.
  if (nats && has('ingest') && !has('router')) await ensureDestinationLanes(nats, store, logger);
  if (nats && has('ingest') && !has('loader')) await ensureStorageLanes(nats, warehouseConfigs, lakeConfigs, logger);
  const syncHistory = new SyncHistory(paths.warehouseSyncs);
  // Sync history of loaders with another DATA_DIR (their runs travel on a NATS feed).
  const syncsFollower = nats && has('api') ? await replicate(syncHistory, await nats.feed('syncs', SYNC_FEED_MAX_AGE_MS), feedError) : null;
  // Failure logs written by routers with another DATA_DIR, appended to this one's files (downloads serve them).
  const failuresFollower = nats && has('api')
    ? await replicate(new FailureLogReplica(statsDb, paths.failureLogs), await nats.feed(FAILURE_LOG_FEED, FAILURE_LOG_RETENTION_MS), feedError)
    : null;
  // Their files are pruned by the router thread; an API process without one prunes them itself.
  const failurePrune = failuresFollower && !has('router') ? setInterval(() => pruneFailureLogs(paths.failureLogs, Date.now()), 3_600_000) : undefined;

  const fatal = (what: string) => (err: Error) => {
    logger.fatal({ err }, `${what} died; exiting so a supervisor restarts Switchyard`);
    process.exit(1);
  };
  const ingestPool = has('ingest') && config.ingestWorkers > 0 ? new IngestPool(config.ingestWorkers, fatal('an ingest worker')) : undefined;
  const testerHttp = createRequestClient({ timeoutMs: config.requestTimeoutMs, connectionsPerOrigin: 4, overrides: config.outboundOverrides });
  if (has('scheduler')) {
    retl = new RetlHost({ dataDir: config.dataDir, statePath: paths.retl, store, types: destinationTypes, request: testerHttp.request, logger });
    // An invalid file at start keeps the previous configuration (none: Reverse ETL waits for a valid file).
    if (filePlan) retl.apply(filePlan.reverseEtl ?? null);
  }
  const disk = watchDisk(config.dataDir, config.minFreeDiskBytes, logger);
  const isReady = (): { ok: boolean; reason?: string } => {
    if (!disk.ok) return { ok: false, reason: 'free disk space is under the threshold' };
    if (nats) return nats.connected ? { ok: true } : { ok: false, reason: 'the NATS event log is not connected' };
    try {
      sqlite!.db.prepare('BEGIN IMMEDIATE').run();
      sqlite!.db.prepare('ROLLBACK').run();
      return { ok: true };
    } catch (err) {
      return { ok: false, reason: `the event log is not writable: ${(err as Error).message}` };
    }
  };
  // With several processes, ingest ones relay their debugger samples to the API ones (a NATS feed).
  const sourceDebugger = config.debugger && (has('ingest') || has('api')) ? new SourceDebugger() : undefined;
  // On one machine the samples outlive a graceful restart (saved at stop, read back here).
  if (sourceDebugger && !nats) restoreDebugger(sourceDebugger, paths.debugger, (err) => logger.warn({ err }, 'the saved source debugger could not be read; it starts empty'));
  const relay = nats && sourceDebugger ? await relayDebugger(nats, sourceDebugger, processId, { publish: has('ingest'), receive: has('api') },
    (err) => logger.warn({ err }, 'a debugger sample could not be relayed over NATS (published or read); dropped')) : undefined;
  // *Sync now*: the loader thread of this process, else (NATS) the loader process that
  // holds the lease, asked over core NATS; false when none runs it.
  const syncNow = async (kind: 'warehouse' | 'lake', id: string): Promise<boolean> => {
    if (warehouses && (await (kind === 'lake' ? warehouses.syncLake(id) : warehouses.syncNow(id)))) return true;
    if (!nats) return false;
    return (await nats.ask('syncnow', JSON.stringify({ kind, id }), SYNC_NOW_TIMEOUT_MS)) !== undefined;
  };
  const app = !has('ingest') && !has('api') ? null : buildApp({
    logger,
    trustedProxies: config.trustedProxies,
    servesTracking: has('ingest'),
    log,
    laneBacklog,
    store,
    stats,
    statsDb,
    canAccept: () => disk.ok,
    isReady,
    adminToken: config.adminToken,
    testerRequest: testerHttp.request,
    ingestPool,
    emailConfigured: config.alerts.smtpUrl !== undefined,
    debugger: sourceDebugger,
    failureLogDir: paths.failureLogs,
    signingKey: createHmac('sha256', secretKey).update('failure-log-downloads').digest(),
    warehouses: {
      history: syncHistory,
      warehouses: () => warehouseConfigs,
      syncNow: (id) => syncNow('warehouse', id),
      lakes: { history: syncHistory, lakes: () => lakeConfigs, syncNow: (id) => syncNow('lake', id) },
    },
    unify: sqlite ? unify.api : undefined,
    retl,
    publicApi: {
      store,
      iam: store.iam,
      types: destinationTypes,
      warehouses: {
        dataDir: config.dataDir,
        history: syncHistory,
        fileWarehouses: () => filePlan?.warehouses ?? [],
        changed: reconfigureWarehouses,
      },
      onChange: () => router?.sync(),
      secureCookies: config.secureCookies,
    },
  });
  if (app) restrictToRoles(app, roles);
  // Alert checks run in one scheduler process: the holder of the `alerts` lease.
  const alertsLease = !has('scheduler') ? undefined
    : new Lease(nats ? await nats.leases() : new LocalLeases(), 'alerts', processId, {
      onChange: (held) => logger.info({ lease: 'alerts', held }, held ? 'alert checks run in this process' : 'alert checks run in another process'),
      onError: (err) => logger.warn({ err, lease: 'alerts' }, 'renewing a lease failed'),
    });
  await alertsLease?.start();
  const alerts = alertsLease ? startAlertChecks(statsDb, store, config.alerts, testerHttp.request, logger, () => alertsLease.held) : undefined;
  const probe = app ? null : probeServer(isReady);
  const address = app
    ? await app.listen({ port: config.port, host: config.host })
    : await listenProbe(probe!, config.port, config.host);
  const registry: ProcessRegistry = nats ? await nats.processes() : new SqliteProcessRegistry(paths.processes);
  const me: ProcessInfo = {
    id: processId, roles: ROLES.filter(has), host: os.hostname(), pid: process.pid, url: address, log: nats ? 'nats' : 'sqlite',
    startedAt: Date.now(), beatAt: Date.now(), state: 'running',
  };
  const beat = () => registry.put({ ...me, beatAt: Date.now() }).catch((err: unknown) => logger.warn({ err }, 'heartbeat failed'));
  await beat();
  const heartbeat = setInterval(() => void beat(), HEARTBEAT_MS);
  logger.info({ address, dataDir: config.dataDir, roles: me.roles, log: me.log, process: processId }, 'switchyard is listening');

  let closing: Promise<void> | undefined;
  return {
    url: address,
    close() {
      // Order matters: stop taking requests (in-flight ones finish and commit),
      // then commit what is queued, then let the router settle in-flight deliveries.
      closing ??= (async () => {
        stopWatching();
        stopStoreWatch();
        disk.stop();
        clearInterval(heartbeat);
        me.state = 'draining';
        await beat();
        if (app) await app.close();
        if (probe) await new Promise<void>((resolve) => probe.close(() => resolve()));
        alerts?.stop();
        await alertsLease?.stop();
        await ingestPool?.close();
        // Before its HTTP client closes: a sync in flight finishes (or gives up its retries) and records itself.
        await retl?.stop();
        await testerHttp.close();
        if (sqlite) await sqlite.close();
        await router?.stop();
        await warehouses?.stop();
        await unify?.stop();
        backlogs?.stop();
        await relay?.stop();
        if (sourceDebugger && !nats) {
          try {
            saveDebugger(sourceDebugger, paths.debugger);
          } catch (err) {
            logger.warn({ err }, 'the source debugger could not be saved; it starts empty next time');
          }
        }
        await registry.remove(processId).catch((err: unknown) => logger.warn({ err }, 'removing the heartbeat failed'));
        await registry.close();
        await statsFollower?.stop();
        await syncsFollower?.stop();
        await failuresFollower?.stop();
        if (nats) await nats.close();
        syncHistory.close();
        clearInterval(statsTimer);
        clearInterval(statsPrune);
        clearInterval(failurePrune);
        stats.flush();
        statsDb.close();
        await store.close();
        controlDb?.close();
      })();
      return closing;
    },
  };
}

async function applyFileAtStart(file: string, store: ControlPlane, logger: Logger): Promise<FilePlan | undefined> {
  const parsed = readWorkspaceFile(file, destinationTypes);
  if (!parsed.ok) {
    const message = formatConfigErrors(file, parsed.error);
    if (store.version() === 0) throw new Error(`the workspace file is invalid and there is no previous configuration:\n${message}`);
    logger.error({ file, errors: parsed.error }, 'the workspace file is invalid; keeping the previous configuration');
    return undefined;
  }
  const report = await store.applyWorkspaceFile(parsed.value);
  logger.info({ file, changed: report.changed, version: report.version }, 'workspace file applied');
  return parsed.value;
}

/** Enabled data lakes with their sources' slugs (a Glue database is named after its source's slug). */
function lakeConfigsOf(plan: WorkspacePlan): LakeConfig[] {
  const slugs = new Map(plan.sources.map((s) => [s.id, s.slug]));
  return (plan.dataLakes ?? []).filter((l) => l.enabled).map((l) => ({
    id: l.id, workspaceId: plan.workspace.id, settings: l.settings,
    sources: l.sourceIds.map((id) => ({ id, slug: slugs.get(id) ?? id })),
  }));
}

/** Enabled warehouses with their sources' slugs (a schema is named after its source's slug). */
function warehouseConfigsOf(plan: WorkspacePlan): WarehouseConfig[] {
  const slugs = new Map(plan.sources.map((s) => [s.id, s.slug]));
  return (plan.warehouses ?? []).filter((w) => w.enabled).map((w) => ({
    id: w.id, type: w.type, settings: w.settings, syncOverrides: w.syncOverrides,
    sources: w.sourceIds.map((id) => ({ id, slug: slugs.get(id) ?? id })),
  }));
}

async function applyFileText(
  file: string, text: string, store: ControlPlane, logger: Logger, changed: () => void, applied: (plan: FilePlan) => void,
): Promise<void> {
  const parsed = parseWorkspaceFile(text, file, destinationTypes);
  if (!parsed.ok) {
    logger.error({ file, errors: parsed.error }, `the workspace file is invalid; keeping the previous configuration\n${formatConfigErrors(file, parsed.error)}`);
    return;
  }
  try {
    const report = await store.applyWorkspaceFile(parsed.value);
    applied(parsed.value);
    if (report.changed) {
      logger.info({ file, version: report.version, created: report.created, updated: report.updated, deleted: report.deleted }, 'workspace file applied');
      changed();
    }
  } catch (err) {
    logger.error({ err, file }, 'the workspace file could not be applied; keeping the previous configuration');
  }
}

/** Free space under the threshold turns ingest into 503s (clients retry) before writes can fail. */
function watchDisk(dir: string, minFreeBytes: number, logger: Logger): { ok: boolean; stop(): void } {
  const state = { ok: true, stop: () => clearInterval(timer) };
  const check = () => {
    fs.statfs(dir, (err, s) => {
      if (err) return;
      const free = s.bavail * s.bsize;
      const ok = free >= minFreeBytes;
      if (ok !== state.ok) logger[ok ? 'info' : 'error']({ freeBytes: free, minFreeBytes }, ok ? 'disk space recovered; accepting events' : 'disk nearly full; refusing events with 503');
      state.ok = ok;
    });
  };
  const timer = setInterval(check, 1000);
  timer.unref();
  check();
  return state;
}

/** Waits until the control plane names a workspace (the NATS stream is per workspace). */
async function waitForWorkspace(store: ControlPlane, logger: Logger): Promise<string> {
  let warned = false;
  for (;;) {
    try {
      await store.refresh();
      return store.snapshot().workspace.id;
    } catch (err) {
      if (!(err instanceof ControlPlaneEmptyError)) throw err;
    }
    if (!warned) logger.warn('waiting for a workspace in the control plane (a workspace file, --config, in the shared DATA_DIR)');
    warned = true;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Creates the lanes (durable consumers) of every enabled destination before an ingest-only process accepts events. */
async function ensureDestinationLanes(log: NatsEventLog, store: ControlPlane, logger: Logger): Promise<void> {
  const snapshot = store.snapshot();
  const lanes = snapshot.destinations.filter((d) => d.enabled && d.sourceIds.length > 0);
  for (const d of lanes) await log.ensureLane({ laneId: d.id, sourceIds: d.sourceIds });
  logger.info({ lanes: lanes.length }, 'destination lanes exist on the NATS stream');
}

/**
 * The same for warehouses and data lakes when no loader runs in this process: their
 * lanes must exist before events are accepted, or interest retention drops them.
 */
async function ensureStorageLanes(log: NatsEventLog, warehouses: readonly WarehouseConfig[], lakes: readonly LakeConfig[], logger: Logger): Promise<void> {
  for (const w of warehouses) await log.ensureLane({ laneId: `warehouse:${w.id}`, sourceIds: w.sources.map((s) => s.id) });
  for (const l of lakes) await log.ensureLane({ laneId: `datalake:${l.id}`, sourceIds: l.sources.map((s) => s.id) });
  if (warehouses.length + lakes.length > 0) logger.info({ lanes: warehouses.length + lakes.length }, 'warehouse and data lake lanes exist on the NATS stream');
}

/**
 * The API asks for a lane's backlog synchronously; with NATS it is read from the
 * server every 2 s in one consumer listing (only when this process serves the API).
 */
function watchNatsBacklog(log: NatsEventLog, enabled: boolean, logger: Logger): { get(id: string): LaneBacklog | null; stop(): void } {
  let current = new Map<string, LaneBacklog>();
  const refresh = () =>
    log.status().then(
      (s) => {
        const next = new Map<string, LaneBacklog>();
        for (const c of s.consumers) {
          const b = next.get(c.laneId) ?? { pending: 0, retrying: 0 };
          b.pending += c.pending;
          b.retrying += c.ackPending;
          next.set(c.laneId, b);
        }
        current = next;
      },
      (err: unknown) => logger.debug({ err }, 'reading lane backlogs from NATS failed'),
    );
  const timer = enabled ? setInterval(() => void refresh(), 2000) : null;
  timer?.unref();
  if (enabled) void refresh();
  return { get: (id) => current.get(id) ?? null, stop: () => timer && clearInterval(timer) };
}

/** An ingest-only process serves the Tracking API (and probes); an api-only one everything else. */
function restrictToRoles(app: ReturnType<typeof buildApp>, roles: ReadonlySet<Role>): void {
  const ingest = roles.has('ingest');
  const api = roles.has('api');
  if (ingest && api) return;
  app.addHook('onRequest', async (req, reply) => {
    const url = req.url;
    if (url === '/health' || url === '/ready' || url.startsWith('/health?') || url.startsWith('/ready?')) return;
    const tracking = url.startsWith('/v1/') || url === '/v1';
    if (tracking ? ingest : api) return;
    return reply.code(404).send({ success: false, error: `not served by this process (roles: ${[...roles].join(', ')})` });
  });
}

/** /health and /ready only, for processes without the Tracking API or the API (router, loader, scheduler). */
function probeServer(isReady: () => { ok: boolean; reason?: string }): http.Server {
  return http.createServer((req, res) => {
    const url = (req.url ?? '').split('?')[0];
    const send = (status: number, body: object) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url !== '/health' && url !== '/ready') return send(404, { status: 'not found', error: 'this process serves /health and /ready only' });
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { status: 'method not allowed' });
    if (url === '/health') return send(200, { status: 'ok' });
    if (url === '/ready') {
      const r = isReady();
      return send(r.ok ? 200 : 503, r.ok ? { status: 'ready' } : { status: 'not ready', reason: r.reason });
    }
  });
}

function listenProbe(server: http.Server, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const a = server.address() as AddressInfo;
      resolve(`http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
    });
  });
}
