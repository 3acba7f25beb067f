import {
  connect,
  DiscardPolicy,
  headers,
  nanos,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  type PubAck,
  type StreamConfig,
} from 'nats';
import type { AppendOutcome, AppendRecord, EventLog, Lane, LaneBacklog, LaneOptions } from '../types.js';
import { NatsLane, isNotFound } from './lane.js';
import { parseLaneDescription, streamName, streamSubjects, subjectFor, token, type Naming } from './names.js';

export interface NatsLogOptions {
  /** e.g. `nats://127.0.0.1:4222` (a list for a cluster). */
  servers: string | string[];
  /** The workspace whose stream lanes read (one Switchyard deployment = one workspace). */
  workspaceId: string;
  /** Stream names are `<streamPrefix><workspace>`. Default `SWITCHYARD_`. */
  streamPrefix?: string;
  /** Subjects are `<subjectRoot>.<workspace>.<source>`. Default `sy`. */
  subjectRoot?: string;
  /**
   * The stream's `duplicate_window`: a (source, messageId) published again within it is
   * acknowledged and not stored. JetStream keeps these ids in server memory.
   */
  dedupeWindowMs: number;
  /**
   * Accepted for parity with the SQLite log. The stream uses interest retention: a
   * message is removed as soon as every lane has acked (or terminated) it, so no
   * delivered history is kept and there is nothing for a retention period to prune.
   */
  retentionMs: number;
  /**
   * Optional hard age limit (stream `max_age`). It drops messages whatever their
   * state, undelivered ones included: a safety valve for disk, off by default.
   */
  maxAgeMs?: number;
  /** Stream `max_bytes`; when full, publishes are refused (`discard: new`) and ingest answers 503. */
  maxBytes?: number;
  /** Stream `num_replicas` (1, 3 or 5 on a cluster). Default 1. */
  replicas?: number;
  /** Consumer `ack_wait`: a message handed out and not settled within it is redelivered. Default 30 s. */
  ackWaitMs?: number;
  /** Consumer `max_ack_pending` (in-flight plus retries waiting for their delay). Default 100,000. */
  maxAckPending?: number;
  /** Name shown in the server's connection list. */
  name?: string;
}

const encoder = new TextEncoder();

/**
 * The distributed log on NATS JetStream (issue #4). One stream per workspace
 * (`SWITCHYARD_<workspace>`, subjects `sy.<workspace>.<source>`, file storage,
 * interest retention), one durable pull consumer per (lane, source). See
 * docs/architecture.md "The event log" for how each contract point maps.
 */
export class NatsEventLog implements EventLog {
  private readonly naming: Naming;
  private readonly streams = new Map<string, Promise<string>>();
  private readonly lanes = new Set<NatsLane>();
  /** Lanes whose consumers are still being created: appends wait for them. */
  private readonly creating = new Set<Promise<unknown>>();
  private closed = false;

  private constructor(
    readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly options: NatsLogOptions,
  ) {
    this.naming = { streamPrefix: options.streamPrefix ?? 'SWITCHYARD_', subjectRoot: options.subjectRoot ?? 'sy' };
  }

  /** Connects; rejects (it never waits forever) when the server is unreachable. */
  static async connect(options: NatsLogOptions): Promise<NatsEventLog> {
    const nc = await connect({ servers: options.servers, name: options.name ?? 'switchyard-log', maxReconnectAttempts: -1 });
    try {
      const jsm = await nc.jetstreamManager();
      const log = new NatsEventLog(nc, jsm, nc.jetstream(), options);
      await log.stream(options.workspaceId);
      return log;
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  /** Creates the workspace's stream if needed (once per process) and returns its name. */
  stream(workspaceId: string): Promise<string> {
    let p = this.streams.get(workspaceId);
    if (!p) {
      p = this.ensureStream(workspaceId);
      p.catch(() => this.streams.delete(workspaceId));
      this.streams.set(workspaceId, p);
    }
    return p;
  }

  private async ensureStream(workspaceId: string): Promise<string> {
    const name = streamName(this.naming, workspaceId);
    const o = this.options;
    const config: Partial<StreamConfig> = {
      name,
      subjects: [streamSubjects(this.naming, workspaceId)],
      retention: RetentionPolicy.Interest,
      storage: StorageType.File,
      num_replicas: o.replicas ?? 1,
      duplicate_window: nanos(o.dedupeWindowMs),
      max_age: o.maxAgeMs ? nanos(o.maxAgeMs) : 0,
      max_bytes: o.maxBytes ?? -1,
      discard: DiscardPolicy.New,
    };
    try {
      const info = await this.jsm.streams.info(name);
      const c = info.config;
      if (c.duplicate_window !== config.duplicate_window || c.max_age !== config.max_age || c.max_bytes !== config.max_bytes || c.num_replicas !== config.num_replicas) {
        await this.jsm.streams.update(name, { ...c, ...config, subjects: c.subjects });
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.jsm.streams.add(config);
    }
    return name;
  }

  /**
   * Publishes every record (concurrently) and resolves once the server has
   * acknowledged all of them (PubAck = stored, replicated to the stream's quorum).
   * Appends wait for lanes still being created by this process, so a lane opened
   * before an append sees it. A refused publish rejects the whole append; the ones
   * that did land are deduplicated (Nats-Msg-Id) when the client retries.
   */
  async append(records: AppendRecord[]): Promise<AppendOutcome> {
    if (this.closed) throw new Error('log is closed');
    if (this.creating.size > 0) await Promise.allSettled([...this.creating]);
    const streams = new Map<string, Promise<string>>();
    for (const r of records) if (!streams.has(r.workspaceId)) streams.set(r.workspaceId, this.stream(r.workspaceId));
    await Promise.all(streams.values());
    const acks: Promise<PubAck>[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const h = headers();
      h.set('Sy-Source-Id', encodeURIComponent(r.sourceId));
      h.set('Sy-Message-Id', encodeURIComponent(r.messageId));
      h.set('Sy-Received-At', String(r.receivedAt));
      acks[i] = this.js.publish(subjectFor(this.naming, r.workspaceId, r.sourceId), encoder.encode(r.payload), {
        // Dedupe is per source: the same messageId from two sources is two events.
        msgID: `${token(r.sourceId)}:${encodeURIComponent(r.messageId)}`,
        headers: h,
      });
    }
    let duplicates = 0;
    let lastSeq = 0;
    for (const pa of await Promise.all(acks)) {
      if (pa.duplicate) duplicates++;
      if (pa.seq > lastSeq) lastSeq = pa.seq;
    }
    return { accepted: records.length - duplicates, duplicates, lastSeq };
  }

  lane(options: LaneOptions): Lane {
    const lane = new NatsLane(
      {
        nc: this.nc,
        js: this.js,
        jsm: this.jsm,
        stream: () => this.stream(this.options.workspaceId),
        subjectOf: (sourceId) => subjectFor(this.naming, this.options.workspaceId, sourceId),
        ackWaitMs: this.options.ackWaitMs ?? 30_000,
        maxAckPending: this.options.maxAckPending ?? 100_000,
        settleTimeoutMs: 5_000,
        termReasons: atLeast(this.nc.info?.version ?? '0.0.0', [2, 11, 0]),
        onClose: () => this.lanes.delete(lane),
      },
      options,
    );
    this.lanes.add(lane);
    const ready = lane.whenReady();
    this.creating.add(ready);
    ready.then(
      () => this.creating.delete(ready),
      () => {
        this.creating.delete(ready);
        this.lanes.delete(lane);
      },
    );
    return lane;
  }

  /** (lane, source) consumers of the workspace stream, read back from their descriptions. */
  private async laneConsumers(): Promise<{ name: string; laneId: string; sourceId: string }[]> {
    const stream = await this.stream(this.options.workspaceId);
    const out: { name: string; laneId: string; sourceId: string }[] = [];
    for await (const c of this.jsm.consumers.list(stream)) {
      const d = parseLaneDescription(c.config.description);
      if (d) out.push({ name: c.name, ...d });
    }
    return out;
  }

  /** Lanes that exist on the server (all processes), for the router's clean-up. */
  async laneIds(): Promise<string[]> {
    return [...new Set((await this.laneConsumers()).map((c) => c.laneId))];
  }

  /** A lane's backlog read from the server (for the API, which holds no Lane objects). */
  async laneBacklog(laneId: string): Promise<LaneBacklog | null> {
    const stream = await this.stream(this.options.workspaceId);
    const mine = (await this.laneConsumers()).filter((c) => c.laneId === laneId);
    if (mine.length === 0) return null;
    let pending = 0;
    let retrying = 0;
    for (const c of mine) {
      const info = await this.jsm.consumers.info(stream, c.name);
      pending += info.num_pending;
      retrying += info.num_ack_pending; // includes messages in flight in some process
    }
    return { pending, retrying };
  }

  /** Deletes the lane's durable consumers; with interest retention the server then drops what only it held. */
  async deleteLane(laneId: string): Promise<void> {
    const stream = await this.stream(this.options.workspaceId);
    for (const c of await this.laneConsumers()) {
      if (c.laneId !== laneId) continue;
      try {
        await this.jsm.consumers.delete(stream, c.name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }

  /**
   * Nothing to do: interest retention removes a message once every lane's consumer
   * has acked or terminated it (JetStream does the pruning). Returns 0.
   */
  async prune(_now: number): Promise<number> {
    return 0;
  }

  /** Messages the workspace stream still holds (the ones some lane has not settled). */
  async storedCount(): Promise<number> {
    const info = await this.jsm.streams.info(await this.stream(this.options.workspaceId));
    return info.state.messages;
  }

  /** Deletes the streams this log created or used (tests and tear-down only). */
  async destroy(): Promise<void> {
    for (const p of this.streams.values()) {
      const name = await p.catch(() => null);
      if (name) await this.jsm.streams.delete(name).catch(() => {});
    }
  }

  /** Naks what lanes hold in flight (so another reader gets it at once), then drains. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.lanes].map((l) => l.close()));
    await this.nc.drain();
  }
}

function atLeast(version: string, min: [number, number, number]): boolean {
  const v = version.split(/[.-]/).slice(0, 3).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) if ((v[i] ?? 0) !== min[i]) return (v[i] ?? 0) > min[i]!;
  return true;
}
