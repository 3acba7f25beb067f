/**
 * Unify's consumer: reads the event log through the lane `unify:<space id>`
 * (restricted to the space's sources) and applies each batch to the identity graph
 * (`DATA_DIR/unify.db`) in one SQLite transaction, then acks the batch and flushes the
 * lane (at-least-once; the graph skips a (source, messageId) it already applied).
 *
 * Thread: its own worker thread, like the warehouse loader. Every event costs a JSON
 * parse and a handful of indexed SQLite reads and writes; on the main thread that
 * would come out of ingest's time (the HTTP thread owns ingest, docs/architecture.md),
 * and on the router thread out of delivery's. The Profile API reads unify.db from the
 * main thread over its own query-only connection (WAL: readers never block the writer).
 *
 * This one file is both sides: `startUnifyThread` (main thread) starts a Worker on this
 * same module, which runs `consume` when it finds its workerData marker. The worker
 * lives in server/ because it joins two rank-2 capabilities (log, unify).
 *
 * Embedded log only: with NATS, several processes would each hold a unify.db and split
 * the lane's messages between them (needs a lease and a shared store; not built yet).
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import pino, { type Logger } from 'pino';
import type { SyncMode } from '../log/sqlite/db.js';
import { LOST_PAYLOADS_MESSAGE, SqliteEventLog } from '../log/sqlite/log.js';
import type { Lane } from '../log/types.js';
import type { UnifySpace } from '../unify/config.js';
import { openUnifyDb, type UnifyDb } from '../unify/db.js';
import { IdentityGraph } from '../unify/graph.js';
import { settleBatch } from '../unify/settle.js';
import { ProfileReader } from '../unify/query.js';
import type { ProfileApiDeps } from './profile-api.js';

const MARKER = 'switchyard-unify-consumer';
/** Events applied per transaction. */
export const UNIFY_BATCH = 500;
/** How long an idle consumer waits before it looks at the log again. */
const IDLE_POLL_MS = 100;
/** A batch whose transaction failed (disk full, a locked file) is handed out again after this long. */
const RETRY_AFTER_MS = 5_000;
const PRUNE_EVERY_MS = 3_600_000;

export interface UnifyWorkerData {
  marker: typeof MARKER;
  logPath: string;
  unifyPath: string;
  sync: SyncMode;
  dedupeWindowMs: number;
  retentionMs: number;
  logLevel: string;
}

type ToUnify = { type: 'config'; space: UnifySpace | null } | { type: 'stop' };
type FromUnify = { type: 'ready' } | { type: 'applied' } | { type: 'stopped' } | { type: 'error'; message: string };

export interface UnifyHandle {
  /** Applies the space (null: Unify is off); resolves once the lane exists (events accepted from then on are resolved). */
  configure(space: UnifySpace | null): Promise<void>;
  stop(): Promise<void>;
}

export const unifyLaneId = (spaceId: string) => `unify:${spaceId}`;

/** Starts the consumer thread. */
export function startUnifyThread(data: Omit<UnifyWorkerData, 'marker'>, onFatal: (err: Error) => void): Promise<UnifyHandle> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { ...data, marker: MARKER } satisfies UnifyWorkerData });
  const applied: (() => void)[] = [];
  return new Promise((resolve, reject) => {
    let stopped: (() => void) | null = null;
    let ready = false;
    worker.on('message', (msg: FromUnify) => {
      if (msg.type === 'ready') {
        ready = true;
        resolve({
          configure: (space) => new Promise<void>((done) => {
            applied.push(done);
            worker.postMessage({ type: 'config', space } satisfies ToUnify);
          }),
          stop: () => new Promise<void>((done) => {
            stopped = done;
            worker.postMessage({ type: 'stop' } satisfies ToUnify);
          }),
        });
      } else if (msg.type === 'applied') applied.shift()?.();
      else if (msg.type === 'stopped') void worker.terminate().then(() => stopped?.());
      else if (msg.type === 'error') {
        const err = new Error(`unify thread failed: ${msg.message}`);
        if (ready) onFatal(err);
        else reject(err);
      }
    });
    worker.on('error', (err) => (ready ? onFatal(err) : reject(err)));
    worker.on('exit', (code) => {
      if (ready && stopped === null) onFatal(new Error(`unify thread exited with code ${code}`));
    });
  });
}

/** Lanes `unify:*` other than `keep` (a space removed or renamed, also while the server was down): they would hold back log pruning forever. */
async function dropOtherLanes(log: SqliteEventLog, keep: string | null): Promise<void> {
  for (const id of log.laneIds()) if (id.startsWith('unify:') && id !== keep) await log.deleteLane(id);
}

/** The worker's side: one lane, one graph, one loop. */
async function consume(data: UnifyWorkerData): Promise<void> {
  const port = parentPort!;
  const logger: Logger = pino({ level: data.logLevel, base: { thread: 'unify' } });
  const log = new SqliteEventLog({
    path: data.logPath,
    sync: data.sync,
    dedupeWindowMs: data.dedupeWindowMs,
    retentionMs: data.retentionMs,
    onLostPayloads: (lost) => logger.error(lost, LOST_PAYLOADS_MESSAGE),
  });
  let db: UnifyDb | null = null;
  let graph: IdentityGraph | null = null;
  let lane: Lane | null = null;
  let laneKey = '';
  let stopping = false;
  const pending: (UnifySpace | null)[] = [];
  let wake: (() => void) | null = null;
  const nap = (ms: number) => new Promise<void>((r) => {
    const t = setTimeout(() => { wake = null; r(); }, ms);
    wake = () => { clearTimeout(t); wake = null; r(); };
  });

  const apply = async (space: UnifySpace | null) => {
    const key = space ? JSON.stringify([space.id, space.sourceIds]) : '';
    if (lane && key !== laneKey) {
      await lane.close();
      lane = null;
    }
    await dropOtherLanes(log, space ? unifyLaneId(space.id) : null);
    if (!space) {
      laneKey = '';
      return;
    }
    db ??= openUnifyDb(data.unifyPath, { sync: data.sync === 'full' ? 'full' : 'normal' });
    const onReset = (previous: string) => logger.warn({ previous, space: space.id }, 'the Unify space id changed: its identity graph starts empty');
    if (graph) graph.configure(space, onReset);
    else graph = new IdentityGraph(db, space, { onReset });
    if (!lane) {
      // A new lane starts at the end of the log: events from now on (no replay of history).
      lane = log.lane({ laneId: unifyLaneId(space.id), sourceIds: space.sourceIds });
      laneKey = key;
      logger.info({ space: space.id, sources: space.sourceIds, rules: space.rules.map((r) => r.type) }, 'unify consumer started');
    }
  };

  const applyPending = async () => {
    while (pending.length > 0) {
      try {
        await apply(pending.shift()!);
      } catch (err) {
        logger.error({ err }, 'applying the Unify configuration failed');
      }
      port.postMessage({ type: 'applied' } satisfies FromUnify);
    }
  };

  let prunedAt = 0;
  const step = async (): Promise<boolean> => {
    if (!lane || !graph) return false;
    const batch = await lane.fetch(UNIFY_BATCH, Date.now());
    if (batch.length === 0) {
      // The read cursor may have passed other sources' events: make that durable too
      // (a no-op when it did not move), or the lane would hold back log pruning.
      await lane.flush();
      return false;
    }
    let invalid = 0;
    let firstError: unknown;
    const settled = settleBatch(batch, (ms) => {
      try {
        invalid += graph!.applyBatch(ms).invalid;
      } catch (err) {
        firstError ??= err;
        throw err;
      }
    }, lane, Date.now(), RETRY_AFTER_MS);
    if (invalid > 0) logger.warn({ invalid }, 'unify: events that are not JSON objects were skipped');
    // Nothing of a failed batch is in the graph (one transaction): a storage error hands it out again later.
    if (settled.retried > 0) logger.error({ err: firstError, events: settled.retried }, 'applying events to the identity graph failed; retrying them');
    for (const f of settled.failed) {
      const m = f.message as (typeof batch)[number];
      logger.error({ source: m.sourceId, messageId: m.messageId, reason: f.reason }, 'unify: an event the graph cannot apply was set aside (failed on the lane)');
    }
    // Acks become durable only after the graph committed: a crash in between re-delivers, and the graph skips what it applied.
    await lane.flush();
    if (Date.now() - prunedAt > PRUNE_EVERY_MS) {
      prunedAt = Date.now();
      graph.prune(prunedAt);
    }
    return batch.length === UNIFY_BATCH;
  };

  const loop = (async () => {
    while (!stopping) {
      await applyPending();
      let busy = false;
      try {
        busy = await step();
      } catch (err) {
        logger.error({ err }, 'reading the unify lane failed');
      }
      if (!busy && !stopping && pending.length === 0) await nap(IDLE_POLL_MS);
    }
  })();

  port.on('message', (msg: ToUnify) => {
    if (msg.type === 'config') {
      pending.push(msg.space);
      wake?.();
    } else if (msg.type === 'stop') {
      stopping = true;
      wake?.();
      void (async () => {
        await loop;
        // Apply what was asked before the stop, so every configure() resolves.
        await applyPending();
        await lane?.close();
        await log.close();
        db?.close();
        port.postMessage({ type: 'stopped' } satisfies FromUnify);
      })().catch((err: unknown) => port.postMessage({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies FromUnify));
    }
  });
  port.postMessage({ type: 'ready' } satisfies FromUnify);
}

if (!isMainThread && (workerData as Partial<UnifyWorkerData> | null)?.marker === MARKER) {
  consume(workerData as UnifyWorkerData).catch((err: unknown) => {
    parentPort?.postMessage({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies FromUnify);
  });
}

/**
 * What the server holds: the consumer thread (started when a space is first
 * configured), the space the Profile API answers for, and the API's reader.
 */
export interface UnifyController {
  /** Applies the workspace file's `unify:` (null: absent); resolves once the consumer's lane exists. */
  apply(space: UnifySpace | null): Promise<void>;
  readonly api: ProfileApiDeps;
  stop(): Promise<void>;
}

export function unifyController(
  data: Omit<UnifyWorkerData, 'marker'>,
  /** The embedded log (null with NATS, where Unify does not run yet). */
  log: SqliteEventLog | null,
  logger: Logger,
  onFatal: (err: Error) => void,
): UnifyController {
  let handle: UnifyHandle | undefined;
  let current: UnifySpace | null = null;
  let readerDb: UnifyDb | undefined;
  let reader: ProfileReader | undefined;
  let chain: Promise<void> = Promise.resolve();
  let warned = false;
  const apply = async (space: UnifySpace | null) => {
    if (!log) {
      if (space && !warned) logger.warn('unify: the identity graph runs with the embedded event log only; SWITCHYARD_LOG=nats is set, so Unify is off');
      warned = true;
      return;
    }
    if (space) handle ??= await startUnifyThread(data, onFatal);
    if (handle) await handle.configure(space);
    // No thread: still drop a lane left by a space removed while the server was down.
    else await dropOtherLanes(log, null);
    current = space;
  };
  return {
    apply: (space) => (chain = chain.catch(() => {}).then(() => apply(space))),
    api: {
      space: () => current,
      reader: () => {
        readerDb ??= openUnifyDb(data.unifyPath, { readOnly: true });
        return (reader ??= new ProfileReader(readerDb));
      },
    },
    async stop() {
      await chain.catch(() => {});
      await handle?.stop();
      readerDb?.close();
    },
  };
}
