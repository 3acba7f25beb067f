import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { formatConfigErrors, readWorkspaceFile, watchWorkspaceFile, parseWorkspaceFile } from '../config/workspace-file.js';
import { destinationTypes } from '../destinations/registry.js';
import { openDatabase } from '../log/sqlite/db.js';
import { SqliteEventLog } from '../log/sqlite/log.js';
import { StatsRecorder } from '../observability/stats.js';
import { startRouterThread, type RouterHandle } from '../router/host.js';
import { loadOrCreateSecretKey } from '../store/secrets.js';
import { openSqliteControlPlane, type SqliteControlPlane } from '../store/sqlite.js';
import { buildApp } from './app.js';
import { createRequestClient } from '../core/request.js';
import { IngestPool } from './ingest-pool.js';
import { startAlertChecks } from './alert-checks.js';
import { SourceDebugger } from '../observability/debugger.js';
import type { Config } from './config.js';
import type { WorkspacePlan } from '../store/plan.js';
import { SyncHistory } from '../storage/warehouse/history.js';
import type { WarehouseConfig } from '../storage/warehouse/types.js';
import { startWarehouseThread, type WarehousesHandle } from './warehouse-host.js';

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/** Where each embedded store lives inside DATA_DIR. */
export function dataPaths(dataDir: string) {
  return {
    log: path.join(dataDir, 'log.db'),
    control: path.join(dataDir, 'control.db'),
    stats: path.join(dataDir, 'stats.db'),
    failureLogs: path.join(dataDir, 'failure-logs'),
    warehouseSyncs: path.join(dataDir, 'warehouse-syncs.db'),
  };
}

/**
 * The embedded composition root: one process, all state in DATA_DIR. Ingest and
 * the HTTP API run on this thread, delivery on the router thread.
 */
export async function startServer(config: Config, logger: Logger = pino({ level: config.logLevel })): Promise<RunningServer> {
  fs.mkdirSync(config.dataDir, { recursive: true });
  const paths = dataPaths(config.dataDir);
  const secretKey = loadOrCreateSecretKey(config.dataDir, config.secretKey);

  const controlDb = openDatabase(paths.control, config.sync, 4);
  // Ingest asks for a source per request: re-check the control-plane version at most every 100 ms.
  const store = openSqliteControlPlane(controlDb, { secretKey, versionCheckMs: 100 });
  let stopWatching = () => {};
  // Warehouses come from the workspace file only (not stored in control.db yet).
  let warehouseConfigs: WarehouseConfig[] = [];
  let warehouses: WarehousesHandle | undefined;
  const onWarehouses = (plan: WorkspacePlan) => {
    warehouseConfigs = warehouseConfigsOf(plan);
    void warehouses?.configure(warehouseConfigs);
  };
  if (config.configFile) {
    const plan = applyFileAtStart(config.configFile, store, logger);
    if (plan) warehouseConfigs = warehouseConfigsOf(plan);
    stopWatching = watchWorkspaceFile(config.configFile, (text) => applyFileText(config.configFile!, text, store, logger, () => router?.sync(), onWarehouses), {
      onError: (err) => logger.error({ err }, 'watching the workspace file failed'),
    });
  }

  let router: RouterHandle | undefined;
  const log = new SqliteEventLog({
    path: paths.log,
    sync: config.sync,
    dedupeWindowMs: config.dedupeWindowMs,
    retentionMs: config.retentionMs,
    autoCheckpoint: false,
    onCommit: () => router?.wake(),
  });
  const statsDb = openDatabase(paths.stats, 'normal', 4);
  const stats = new StatsRecorder(statsDb, Date.now, config.metrics);
  const statsTimer = setInterval(() => stats.flush(), 1000);

  router = await startRouterThread({
    logPath: paths.log,
    controlPath: paths.control,
    statsPath: paths.stats,
    secretKeyHex: secretKey.toString('hex'),
    sync: config.sync,
    dedupeWindowMs: config.dedupeWindowMs,
    retentionMs: config.retentionMs,
    retry: config.retry,
    concurrency: config.deliveryConcurrency,
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

  warehouses = await startWarehouseThread({
    logPath: paths.log,
    historyPath: paths.warehouseSyncs,
    dataDir: config.dataDir,
    sync: config.sync,
    dedupeWindowMs: config.dedupeWindowMs,
    retentionMs: config.retentionMs,
    logLevel: config.logLevel,
  }, (err) => {
    logger.fatal({ err }, 'the warehouse thread died; exiting so a supervisor restarts Switchyard');
    process.exit(1);
  });
  // Before listening: each loader's lane exists, so every event accepted from now on is loaded.
  await warehouses.configure(warehouseConfigs);
  const syncHistory = new SyncHistory(paths.warehouseSyncs);

  const fatal = (what: string) => (err: Error) => {
    logger.fatal({ err }, `${what} died; exiting so a supervisor restarts Switchyard`);
    process.exit(1);
  };
  const ingestPool = config.ingestWorkers > 0 ? new IngestPool(config.ingestWorkers, fatal('an ingest worker')) : undefined;
  const testerHttp = createRequestClient({ timeoutMs: config.requestTimeoutMs, connectionsPerOrigin: 4, overrides: config.outboundOverrides });
  const disk = watchDisk(config.dataDir, config.minFreeDiskBytes, logger);
  const app = buildApp({
    logger,
    trustedProxies: config.trustedProxies,
    log,
    laneBacklog: (id) => log.laneBacklog(id),
    store,
    stats,
    statsDb,
    canAccept: () => disk.ok,
    isReady: () => {
      if (!disk.ok) return { ok: false, reason: 'free disk space is under the threshold' };
      try {
        log.db.prepare('BEGIN IMMEDIATE').run();
        log.db.prepare('ROLLBACK').run();
        return { ok: true };
      } catch (err) {
        return { ok: false, reason: `the event log is not writable: ${(err as Error).message}` };
      }
    },
    adminToken: config.adminToken,
    testerRequest: testerHttp.request,
    ingestPool,
    emailConfigured: config.alerts.smtpUrl !== undefined,
    debugger: config.debugger ? new SourceDebugger() : undefined,
    failureLogDir: paths.failureLogs,
    signingKey: createHmac('sha256', secretKey).update('failure-log-downloads').digest(),
    warehouses: {
      history: syncHistory,
      warehouses: () => warehouseConfigs,
      syncNow: (id) => warehouses!.syncNow(id),
    },
  });
  const alerts = startAlertChecks(statsDb, config.alerts, testerHttp.request, logger);
  const address = await app.listen({ port: config.port, host: config.host });
  logger.info({ address, dataDir: config.dataDir }, 'switchyard is listening');

  let closing: Promise<void> | undefined;
  return {
    url: address,
    close() {
      // Order matters: stop taking requests (in-flight ones finish and commit),
      // then commit what is queued, then let the router settle in-flight deliveries.
      closing ??= (async () => {
        stopWatching();
        disk.stop();
        await app.close();
        alerts.stop();
        await ingestPool?.close();
        await testerHttp.close();
        await log.close();
        await router!.stop();
        await warehouses!.stop();
        syncHistory.close();
        clearInterval(statsTimer);
        stats.flush();
        statsDb.close();
        store.close();
        controlDb.close();
      })();
      return closing;
    },
  };
}

function applyFileAtStart(file: string, store: SqliteControlPlane, logger: Logger): WorkspacePlan | undefined {
  const parsed = readWorkspaceFile(file, destinationTypes);
  if (!parsed.ok) {
    const message = formatConfigErrors(file, parsed.error);
    if (store.version() === 0) throw new Error(`the workspace file is invalid and there is no previous configuration:\n${message}`);
    logger.error({ file, errors: parsed.error }, 'the workspace file is invalid; keeping the previous configuration');
    return undefined;
  }
  const report = store.applyWorkspaceFile(parsed.value);
  logger.info({ file, changed: report.changed, version: report.version }, 'workspace file applied');
  return parsed.value;
}

/** Enabled warehouses with their sources' slugs (a schema is named after its source's slug). */
function warehouseConfigsOf(plan: WorkspacePlan): WarehouseConfig[] {
  const slugs = new Map(plan.sources.map((s) => [s.id, s.slug]));
  return (plan.warehouses ?? []).filter((w) => w.enabled).map((w) => ({
    id: w.id, type: w.type, settings: w.settings, syncOverrides: w.syncOverrides,
    sources: w.sourceIds.map((id) => ({ id, slug: slugs.get(id) ?? id })),
  }));
}

function applyFileText(
  file: string, text: string, store: SqliteControlPlane, logger: Logger, changed: () => void, applied: (plan: WorkspacePlan) => void,
): void {
  const parsed = parseWorkspaceFile(text, file, destinationTypes);
  if (!parsed.ok) {
    logger.error({ file, errors: parsed.error }, `the workspace file is invalid; keeping the previous configuration\n${formatConfigErrors(file, parsed.error)}`);
    return;
  }
  try {
    const report = store.applyWorkspaceFile(parsed.value);
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
