import {
  connect,
  createInbox,
  DiscardPolicy,
  headers,
  nanos,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  type Msg,
  type PubAck,
  type StreamConfig,
  type Subscription,
} from 'nats';
import { PAYLOAD_SEPARATOR } from '../../protocol/types.js';
import type { AppendBatch, AppendOutcome, AppendRecord, EventLog, Lane, LaneBacklog, LaneOptions } from '../types.js';
import { NatsLane, isNotFound } from './lane.js';
import { NatsProcessRegistry } from './processes.js';
import { NatsLeases } from './leases.js';
import { NatsFeed } from './feed.js';
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
  /**
   * How appends publish. `pipelined` (default): every record is published with a
   * reply subject on one subscription this log owns, and the append waits once for
   * all the PubAcks (one timer per append). `request`: nats.js `js.publish`, one
   * request (timer, promise, inbox routing) per record; kept for comparison
   * (bench/nats-publish.ts).
   */
  publishMode?: 'pipelined' | 'request';
  /** How long an append waits for its PubAcks before it fails (ingest answers 503). Default 5 s. */
  publishTimeoutMs?: number;
}

/** One append waiting for its PubAcks (pipelined mode). */
interface PendingAppend {
  first: number;
  count: number;
  done: boolean;
  left: number;
  duplicates: number;
  lastSeq: number;
  error: Error | null;
  timer: NodeJS.Timeout;
  resolve: (o: AppendOutcome) => void;
  reject: (err: Error) => void;
}

const decoder = new TextDecoder();

const encoder = new TextEncoder();
/** A record on its way out: the payload as text (append) or as encoded bytes (appendBatch). */
type Outgoing = Omit<AppendRecord, 'payload'> & { payload: string | Uint8Array };
const NEWLINE = PAYLOAD_SEPARATOR.charCodeAt(0);
const bytesOf = (payload: string | Uint8Array): Uint8Array => (typeof payload === 'string' ? encoder.encode(payload) : payload);

export interface NatsLogStatus {
  stream: string;
  /** Messages still held (some lane has not settled them). */
  messages: number;
  bytes: number;
  lastSeq: number;
  replicas: number;
  consumers: {
    name: string;
    laneId: string;
    sourceId: string;
    /** Not yet delivered: the consumer's lag behind the stream. */
    pending: number;
    /** Delivered and not acked: in flight somewhere, or waiting for a retry delay. */
    ackPending: number;
    redelivered: number;
    /** Stream sequence of the last delivery and of the ack floor. */
    deliveredSeq: number;
    ackFloorSeq: number;
    lastActive: number | null;
  }[];
}

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
  private wakeTimer: NodeJS.Timeout | null = null;
  private up = true;
  /** Pipelined publishing: reply subjects `<inbox>.<n>`, and the append each n belongs to. */
  private inbox: string | null = null;
  private inboxSub: Subscription | null = null;
  private nextReply = 0;
  private readonly awaiting = new Map<number, PendingAppend>();

  private constructor(
    readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly options: NatsLogOptions,
  ) {
    this.naming = { streamPrefix: options.streamPrefix ?? 'SWITCHYARD_', subjectRoot: options.subjectRoot ?? 'sy' };
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.up = false;
        else if (s.type === 'reconnect') this.up = true;
      }
    })().catch(() => {});
  }

  /** Whether the connection is up (false while reconnecting or once closed): readiness. */
  get connected(): boolean {
    return this.up && !this.nc.isClosed();
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
  append(records: AppendRecord[]): Promise<AppendOutcome> {
    return this.publish(records);
  }

  /** One message per event: the lines of the encoded payloads, published without copying. */
  appendBatch(batch: AppendBatch): Promise<AppendOutcome> {
    const { workspaceId, sourceId, receivedAt, messageIds, payloads } = batch;
    const records: Outgoing[] = new Array(messageIds.length);
    let start = 0;
    for (let i = 0; i < messageIds.length; i++) {
      let end = payloads.indexOf(NEWLINE, start);
      if (end === -1) end = payloads.byteLength;
      records[i] = { workspaceId, sourceId, receivedAt, messageId: messageIds[i]!, payload: payloads.subarray(start, end) };
      start = end + 1;
    }
    return this.publish(records);
  }

  private async publish(records: Outgoing[]): Promise<AppendOutcome> {
    if (this.closed) throw new Error('log is closed');
    if (this.creating.size > 0) await Promise.allSettled([...this.creating]);
    const streams = new Map<string, Promise<string>>();
    for (const r of records) if (!streams.has(r.workspaceId)) streams.set(r.workspaceId, this.stream(r.workspaceId));
    await Promise.all(streams.values());
    const outcome = this.options.publishMode === 'request' ? await this.publishEach(records) : await this.publishPipelined(records);
    if (outcome.accepted > 0) this.announce();
    return outcome;
  }

  private headersFor(r: Outgoing) {
    const h = headers();
    h.set('Sy-Source-Id', encodeURIComponent(r.sourceId));
    h.set('Sy-Message-Id', encodeURIComponent(r.messageId));
    h.set('Sy-Received-At', String(r.receivedAt));
    return h;
  }

  /** Dedupe is per source: the same messageId from two sources is two events. */
  private msgId(r: Outgoing): string {
    return `${token(r.sourceId)}:${encodeURIComponent(r.messageId)}`;
  }

  /** One js.publish (a request) per record. */
  private async publishEach(records: Outgoing[]): Promise<AppendOutcome> {
    const acks: Promise<PubAck>[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      acks[i] = this.js.publish(subjectFor(this.naming, r.workspaceId, r.sourceId), bytesOf(r.payload), {
        msgID: this.msgId(r),
        headers: this.headersFor(r),
        timeout: this.options.publishTimeoutMs ?? 5_000,
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

  /**
   * Every record is published at once with its own reply subject under one inbox this
   * log subscribes to; the PubAcks are counted as they come back and the append
   * settles when the last one arrived (or fails at the first error or the timeout).
   */
  private publishPipelined(records: Outgoing[]): Promise<AppendOutcome> {
    if (!this.inbox) {
      this.inbox = createInbox();
      this.inboxSub = this.nc.subscribe(`${this.inbox}.*`, { callback: (_err, msg) => this.onPubAck(msg) });
    }
    return new Promise<AppendOutcome>((resolve, reject) => {
      const first = this.nextReply;
      this.nextReply += records.length;
      const pending: PendingAppend = {
        first, count: records.length, done: false, left: records.length, duplicates: 0, lastSeq: 0, error: null, resolve, reject,
        timer: setTimeout(() => this.settleAppend(pending, new Error(`NATS did not acknowledge ${pending.left} of ${records.length} publishes in time`)), this.options.publishTimeoutMs ?? 5_000),
      };
      try {
        for (let i = 0; i < records.length; i++) {
          const r = records[i]!;
          const h = this.headersFor(r);
          h.set('Nats-Msg-Id', this.msgId(r));
          this.awaiting.set(first + i, pending);
          this.nc.publish(subjectFor(this.naming, r.workspaceId, r.sourceId), bytesOf(r.payload), { reply: `${this.inbox}.${first + i}`, headers: h });
        }
      } catch (err) {
        this.settleAppend(pending, err as Error);
      }
      if (records.length === 0) this.settleAppend(pending, null);
    });
  }

  private onPubAck(msg: Msg): void {
    const n = Number(msg.subject.slice(this.inbox!.length + 1));
    const pending = this.awaiting.get(n);
    if (!pending) return; // its append already failed (timeout)
    this.awaiting.delete(n);
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      pending.error ??= new Error('no JetStream stream answered the publish (no responders)');
    } else {
      try {
        const ack = JSON.parse(decoder.decode(msg.data)) as { seq?: number; duplicate?: boolean; error?: { code: number; description: string } };
        if (ack.error) pending.error ??= new Error(`JetStream refused a publish: ${ack.error.description} (${ack.error.code})`);
        else {
          if (ack.duplicate) pending.duplicates++;
          if ((ack.seq ?? 0) > pending.lastSeq) pending.lastSeq = ack.seq!;
        }
      } catch (err) {
        pending.error ??= err as Error;
      }
    }
    if (--pending.left === 0) this.settleAppend(pending, pending.error);
  }

  private settleAppend(p: PendingAppend, error: Error | null): void {
    if (p.done) return;
    p.done = true;
    clearTimeout(p.timer);
    if (error) {
      // Forget the rest of this append's replies; a late one is ignored.
      for (let n = p.first; n < p.first + p.count; n++) if (this.awaiting.get(n) === p) this.awaiting.delete(n);
      p.reject(error);
      return;
    }
    p.resolve({ accepted: p.count - p.duplicates, duplicates: p.duplicates, lastSeq: p.lastSeq });
  }
  /**
   * Core NATS subject (outside the stream, nothing stored) on which appends announce
   * new events, so routers in other processes fetch at once instead of at their idle poll.
   */
  private get wakeSubject(): string {
    return `${this.naming.subjectRoot}_wake.${token(this.options.workspaceId)}`;
  }

  /** At most one announcement per 2 ms per process, whatever the request rate. */
  private announce(): void {
    if (this.wakeTimer || this.closed) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      if (!this.closed && !this.nc.isClosed()) this.nc.publish(this.wakeSubject);
    }, 2);
  }

  /** Calls `onNew` when any process appended to this workspace (best effort: a hint, not a guarantee). */
  onAppend(onNew: () => void): () => void {
    const sub = this.nc.subscribe(this.wakeSubject, { callback: () => onNew() });
    return () => sub.unsubscribe();
  }

  /**
   * Core NATS messages (not stored, best effort) to this workspace's other processes
   * on `<subjectRoot>_<channel>.<workspace>`: samples and hints, never events.
   */
  broadcast(channel: string, data: string): void {
    if (!this.closed && !this.nc.isClosed()) this.nc.publish(this.broadcastSubject(channel), encoder.encode(data));
  }

  onBroadcast(channel: string, listener: (data: string) => void): () => void {
    const decoder = new TextDecoder();
    const sub = this.nc.subscribe(this.broadcastSubject(channel), { callback: (_err, msg) => listener(decoder.decode(msg.data)) });
    return () => sub.unsubscribe();
  }

  /**
   * Answers requests on `<subjectRoot>_<channel>.<workspace>` (core NATS
   * request/reply); `handler` resolves to the reply, or to undefined to stay silent
   * (another process may answer: the requester takes the first reply). A handler
   * that throws answers nothing (the requester times out) and goes to `onError`.
   */
  serve(channel: string, handler: (data: string) => Promise<string | undefined>, onError: (err: unknown) => void): () => void {
    const decoder = new TextDecoder();
    const sub = this.nc.subscribe(this.broadcastSubject(channel), {
      callback: (_err, msg) => {
        void handler(decoder.decode(msg.data)).then(
          (reply) => reply !== undefined && msg.respond(encoder.encode(reply)),
          onError,
        );
      },
    });
    return () => sub.unsubscribe();
  }

  /** Asks whichever process serves `channel`; undefined when none answers within `timeoutMs`. */
  async ask(channel: string, data: string, timeoutMs: number): Promise<string | undefined> {
    try {
      const reply = await this.nc.request(this.broadcastSubject(channel), encoder.encode(data), { timeout: timeoutMs });
      return new TextDecoder().decode(reply.data);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'TIMEOUT' || code === '503') return undefined;
      throw err;
    }
  }

  private broadcastSubject(channel: string): string {
    return `${this.naming.subjectRoot}_${token(channel)}.${token(this.options.workspaceId)}`;
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

  /**
   * Creates a lane's consumers (if missing) without reading from it: an ingest process
   * does this for every enabled destination before it accepts events, so that with
   * interest retention nothing it accepts is dropped for want of a reader.
   */
  async ensureLane(options: LaneOptions): Promise<void> {
    const lane = this.lane(options) as NatsLane;
    await lane.whenReady();
    await lane.close();
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

  /** The workspace's process registry (a KV bucket named after the stream), for heartbeats and `status`. */
  async processes(): Promise<NatsProcessRegistry> {
    const stream = await this.stream(this.options.workspaceId);
    return NatsProcessRegistry.open(this.nc, `${stream}_processes`, this.options.replicas ?? 1);
  }

  /**
   * A feed of the workspace (`<stream>_<NAME>`, subject `<subjectRoot>_<name>.<workspace>`)
   * every process publishes to and replays from its own position (./feed.ts).
   */
  async feed(name: string, maxAgeMs: number, maxBytes = 1024 ** 3, perKey?: number): Promise<NatsFeed> {
    const stream = await this.stream(this.options.workspaceId);
    return NatsFeed.open(this.js, this.jsm, {
      stream: `${stream}_${token(name).toUpperCase()}`,
      subject: `${this.naming.subjectRoot}_${token(name)}.${token(this.options.workspaceId)}`,
      maxAgeMs,
      maxBytes,
      replicas: this.options.replicas ?? 1,
      perKey,
    });
  }

  /** The workspace's leases (a KV bucket named after the stream): work that runs in one process only. */
  async leases(ttlMs?: number): Promise<NatsLeases> {
    const stream = await this.stream(this.options.workspaceId);
    return NatsLeases.open(this.nc, `${stream}_leases`, { ttlMs, replicas: this.options.replicas ?? 1 });
  }

  /** The stream and every lane consumer as the server sees them (for `switchyard status`). */
  async status(): Promise<NatsLogStatus> {
    const stream = await this.stream(this.options.workspaceId);
    const info = await this.jsm.streams.info(stream);
    const consumers: NatsLogStatus['consumers'] = [];
    for await (const c of this.jsm.consumers.list(stream)) {
      const d = parseLaneDescription(c.config.description);
      if (!d) continue;
      consumers.push({
        name: c.name,
        ...d,
        pending: c.num_pending,
        ackPending: c.num_ack_pending,
        redelivered: c.num_redelivered,
        deliveredSeq: c.delivered.stream_seq,
        ackFloorSeq: c.ack_floor.stream_seq,
        // Typed as nanos; the server sends an RFC 3339 time.
        lastActive: typeof (c.delivered.last_active as unknown) === 'string' ? Date.parse(c.delivered.last_active as unknown as string) : null,
      });
    }
    return {
      stream,
      messages: info.state.messages,
      bytes: info.state.bytes,
      lastSeq: info.state.last_seq,
      replicas: info.config.num_replicas,
      consumers: consumers.sort((a, b) => a.laneId.localeCompare(b.laneId) || a.sourceId.localeCompare(b.sourceId)),
    };
  }

  /** Deletes the streams this log created or used (tests and tear-down only). */
  async destroy(): Promise<void> {
    for (const p of this.streams.values()) {
      const name = await p.catch(() => null);
      if (name) {
        await this.jsm.streams.delete(name).catch(() => {});
        await this.jsm.streams.delete(`KV_${name}_processes`).catch(() => {}); // the process registry, if any
        await this.jsm.streams.delete(`KV_${name}_leases`).catch(() => {}); // the leases, if any
        for (const feed of ['STATS', 'SYNCS', 'FAILURES', 'DEBUGGER']) await this.jsm.streams.delete(`${name}_${feed}`).catch(() => {}); // feeds, if any
      }
    }
  }

  /** Naks what lanes hold in flight (so another reader gets it at once), then drains. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    await Promise.allSettled([...this.lanes].map((l) => l.close()));
    await this.nc.drain();
  }
}

function atLeast(version: string, min: [number, number, number]): boolean {
  const v = version.split(/[.-]/).slice(0, 3).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) if ((v[i] ?? 0) !== min[i]) return (v[i] ?? 0) > min[i]!;
  return true;
}
