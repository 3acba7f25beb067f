/**
 * The router's thread. Delivery (JSON parsing, HTTP, settlement writes) runs here
 * so it never competes with the HTTP front for the main event loop; on two cores
 * ingest and delivery each get one. It opens its own connections to the same
 * SQLite files (WAL lets them read while the ingest thread writes).
 */
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { createRequestClient } from '../core/request.js';
import type { RetryPolicy } from '../core/retry.js';
import { destinationTypes, setFunctionLookup } from '../destinations/registry.js';
import { functionLookup } from './functions.js';
import { setFunctionSandboxes } from '../functions/deployed.js';
import { openDatabase, type SyncMode } from '../log/sqlite/db.js';
import { LOST_PAYLOADS_MESSAGE, SqliteEventLog } from '../log/sqlite/log.js';
import { connectNatsLog } from '../log/nats/connect.js';
import { STATS_FEED_MAX_AGE_MS, publishStats } from '../observability/stats-feed.js';
import type { NatsLogSettings } from '../log/nats/settings.js';
import { STATS_RETENTION_MS, StatsRecorder } from '../observability/stats.js';
import { FAILURE_LOG_FEED, FAILURE_LOG_RETENTION_MS, FailureLogReplica, FailureLogWriter, publishFailureLogs } from '../observability/failure-log.js';
import { openControlPlane, type PostgresStoreSettings } from '../store/control-plane.js';
import { Router, type RouterLog } from './router.js';

export interface RouterWorkerData {
  logPath: string;
  /** The NATS JetStream log (SWITCHYARD_LOG=nats://…) for this workspace; absent: the SQLite log at logPath. */
  nats?: NatsLogSettings & { workspaceId: string };
  controlPath: string;
  /** SWITCHYARD_STORE: the PostgreSQL control-plane store; absent: SQLite at controlPath. */
  controlStore?: PostgresStoreSettings;
  statsPath: string;
  secretKeyHex: string;
  sync: SyncMode;
  dedupeWindowMs: number;
  retentionMs: number;
  retry: RetryPolicy;
  concurrency: number;
  /** Sandboxes per function (SWITCHYARD_FUNCTION_SANDBOXES). */
  functionSandboxes: number;
  batchWaitMs: number;
  requestTimeoutMs: number;
  logLevel: string;
  failureLogDir: string;
  metrics: boolean;
  /** Origin → origin rewrites for outbound requests (SWITCHYARD_OUTBOUND_OVERRIDES); a Map survives structured clone. */
  outboundOverrides?: ReadonlyMap<string, string>;
}

export type ToRouter = { type: 'wake' } | { type: 'sync' } | { type: 'stop' };
export type FromRouter = { type: 'ready' } | { type: 'stopped' } | { type: 'error'; message: string };

const SYNC_POLL_MS = 500;
const PRUNE_EVERY_MS = 60_000;

async function main(): Promise<void> {
  const data = workerData as RouterWorkerData;
  const port = parentPort!;
  const logger = pino({ level: data.logLevel, base: { thread: 'router' } });
  const statsDb = openDatabase(data.statsPath, 'normal', 4);
  const stats = new StatsRecorder(statsDb, Date.now, data.metrics);
  // SQLite: dedupe happens here (the Sequencer) and is counted here; NATS dedupes at
  // publish (Nats-Msg-Id) and the ingest side counts the duplicates.
  const sqlite = data.nats ? null : new SqliteEventLog({
    path: data.logPath,
    sync: data.sync,
    dedupeWindowMs: data.dedupeWindowMs,
    retentionMs: data.retentionMs,
    onDuplicates: (sourceId, n) => stats.count(`source:${sourceId}`, 'duplicate', n),
    onLostPayloads: (lost) => logger.error(lost, LOST_PAYLOADS_MESSAGE),
  });
  const nats = data.nats
    ? await connectNatsLog({ ...data.nats, dedupeWindowMs: data.dedupeWindowMs, retentionMs: data.retentionMs, name: 'switchyard-router' })
    : null;
  const log: RouterLog = (sqlite ?? nats)!;
  // Delivery figures reach the API processes that do not share this DATA_DIR.
  if (nats) publishStats(stats, await nats.feed('stats', STATS_FEED_MAX_AGE_MS), (err) => logger.warn({ err }, 'publishing metrics to the NATS feed failed'));
  const controlDb = data.controlStore ? null : openDatabase(data.controlPath, data.sync, 4);
  const store = await openControlPlane(controlDb ? { sqlite: controlDb } : { postgres: data.controlStore! },
    { secretKey: Buffer.from(data.secretKeyHex, 'hex') });
  setFunctionLookup(functionLookup(store));
  setFunctionSandboxes(data.functionSandboxes);
  const failureLog = new FailureLogWriter(data.failureLogDir);
  // Failure logs reach the API processes that do not share this DATA_DIR.
  if (nats) {
    publishFailureLogs(failureLog, await nats.feed(FAILURE_LOG_FEED, FAILURE_LOG_RETENTION_MS), new FailureLogReplica(statsDb, data.failureLogDir).origin(),
      (err) => logger.warn({ err }, 'publishing failure logs to the NATS feed failed'));
  }
  const http = createRequestClient({ timeoutMs: data.requestTimeoutMs, connectionsPerOrigin: data.concurrency, overrides: data.outboundOverrides });
  const router = new Router({
    log,
    store,
    types: destinationTypes,
    request: http.request,
    updateDestinationSecret: (id, key, value) => void store.updateDestinationSecret(id, key, value).catch((err: unknown) =>
      logger.error({ err, destination: id }, 'storing refreshed credentials failed')),
    policy: data.retry,
    stats,
    logger,
    concurrency: data.concurrency,
    batchWaitMs: data.batchWaitMs,
    failureLog,
    now: Date.now,
    random: Math.random,
  });

  let syncing: Promise<void> = Promise.resolve();
  const sync = () => {
    syncing = syncing.then(() => router.sync()).catch((err: unknown) => logger.error({ err }, 'applying configuration failed'));
    return syncing;
  };
  await sync();
  // A change from any process (NOTIFY on PostgreSQL, polling on SQLite) applies now, not at the next poll.
  const stopOnChange = store.onChange(() => void sync());
  // Appends in any ingest process announce themselves: fetch now rather than at the idle poll.
  const unsubscribe = nats?.onAppend(() => router.wake()) ?? (() => {});
  // Which destinations log their failures: set through any API process, so read from
  // the store. One read at a time; a failed one keeps the previous set (the next second tries again).
  let readingCollections: Promise<void> | undefined;
  const readCollections = () => {
    readingCollections ??= store.enabledFailureLogCollections()
      .then((collections) => router.setFailureLogCollections(collections))
      .catch((err: unknown) => logger.warn({ err }, 'reading the failure-log collections from the store failed; keeping the previous ones'))
      .finally(() => (readingCollections = undefined));
  };
  const timers = [
    setInterval(() => void sync(), SYNC_POLL_MS),
    setInterval(() => {
      stats.flush();
      readCollections();
      try {
        failureLog.flush();
      } catch (err) {
        logger.error({ err }, 'writing failure logs failed');
      }
    }, 1000),
    setInterval(() => {
      failureLog.prune();
      stats.prune(STATS_RETENTION_MS);
    }, 3_600_000),
    // The ingest connection never checkpoints (it would stall a commit); this thread does.
    setInterval(() => {
      try {
        sqlite?.checkpoint();
      } catch (err) {
        logger.error({ err }, 'WAL checkpoint failed');
      }
    }, 1000),
    // JetStream prunes by itself (interest retention): prune() is a no-op there.
    setInterval(() => {
      log.prune(Date.now()).then(
        (n) => n > 0 && logger.info({ deleted: n }, 'pruned delivered events'),
        (err: unknown) => logger.error({ err }, 'pruning failed'),
      );
    }, PRUNE_EVERY_MS),
  ];

  port.on('message', (msg: ToRouter) => {
    if (msg.type === 'wake') router.wake();
    else if (msg.type === 'sync') void sync();
    else if (msg.type === 'stop') {
      for (const t of timers) clearInterval(t);
      unsubscribe();
      stopOnChange();
      void (async () => {
        await syncing;
        await readingCollections;
        await router.stop();
        stats.flush();
        failureLog.flush();
        await http.close();
        await log.close();
        await store.close();
        controlDb?.close();
        statsDb.close();
        port.postMessage({ type: 'stopped' } satisfies FromRouter);
      })();
    }
  });
  port.postMessage({ type: 'ready' } satisfies FromRouter);
}

main().catch((err: unknown) => {
  parentPort?.postMessage({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies FromRouter);
});
