import fs from 'node:fs';

/**
 * The source debugger: a live sample of what a source receives, raw (as the client
 * sent it) and enriched (as stored). It is a sample, not a record: at most
 * `perSecond` events a second per source are kept, the last `perSource` of them in a
 * ring, so watching it never slows ingest and its memory is bounded.
 */
export interface DebuggerEntry {
  receivedAt: string;
  type: string;
  event?: string;
  messageId: string;
  /** The event as the client sent it. */
  raw: unknown;
  /** The event as stored and sent to destinations (JSON). */
  enriched: string;
}

export interface DebuggerFilter {
  type?: string;
  event?: string;
}

type Listener = (entry: DebuggerEntry) => void;

export class SourceDebugger {
  private readonly rings = new Map<string, DebuggerEntry[]>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly budget = new Map<string, { second: number; left: number }>();

  /**
   * Called for each event this process kept: with several processes, ingest ones
   * relay their samples to the ones serving the API (server/debugger-relay.ts).
   */
  onKept?: (sourceId: string, entry: DebuggerEntry) => void;

  constructor(
    private readonly perSource = 200,
    private readonly perSecond = 20,
  ) {}

  /** Whether an event from this source would be kept now (no budget is spent). */
  wants(sourceId: string, now: number): boolean {
    const b = this.budget.get(sourceId);
    return !b || b.second !== Math.floor(now / 1000) || b.left > 0;
  }

  /** Keeps up to this second's remaining budget of the request's events. */
  record(sourceId: string, now: number, events: readonly { raw: unknown; enriched: string; messageId: string }[]): void {
    const second = Math.floor(now / 1000);
    let b = this.budget.get(sourceId);
    if (!b || b.second !== second) this.budget.set(sourceId, (b = { second, left: this.perSecond }));
    const ring = this.rings.get(sourceId) ?? [];
    this.rings.set(sourceId, ring);
    const receivedAt = new Date(now).toISOString();
    for (const e of events) {
      if (b.left <= 0) break;
      b.left--;
      const raw = e.raw as { type?: unknown; event?: unknown } | null;
      const enrichedHead = JSON.parse(e.enriched) as { type: string; event?: string };
      const entry: DebuggerEntry = {
        receivedAt,
        type: enrichedHead.type,
        ...(typeof enrichedHead.event === 'string' ? { event: enrichedHead.event } : typeof raw?.event === 'string' ? { event: raw.event } : {}),
        messageId: e.messageId,
        raw: e.raw,
        enriched: e.enriched,
      };
      this.keep(sourceId, ring, entry);
      this.onKept?.(sourceId, entry);
    }
  }

  /** An event another process kept (it already applied its budget). */
  add(sourceId: string, entry: DebuggerEntry): void {
    const ring = this.rings.get(sourceId) ?? [];
    this.rings.set(sourceId, ring);
    this.keep(sourceId, ring, entry);
  }

  private keep(sourceId: string, ring: DebuggerEntry[], entry: DebuggerEntry): void {
    ring.push(entry);
    if (ring.length > this.perSource) ring.shift();
    for (const listener of this.listeners.get(sourceId) ?? []) listener(entry);
  }

  /** Every source's kept events, oldest first (what `add` takes back after a restart). */
  saved(): [string, DebuggerEntry[]][] {
    return [...this.rings].filter(([, ring]) => ring.length > 0).map(([sourceId, ring]) => [sourceId, [...ring]]);
  }

  /** The kept events, newest first. */
  recent(sourceId: string, filter: DebuggerFilter = {}, limit = this.perSource): DebuggerEntry[] {
    const ring = this.rings.get(sourceId) ?? [];
    const out: DebuggerEntry[] = [];
    for (let i = ring.length - 1; i >= 0 && out.length < limit; i--) if (matches(ring[i]!, filter)) out.push(ring[i]!);
    return out;
  }

  subscribe(sourceId: string, filter: DebuggerFilter, listener: Listener): () => void {
    const wrapped: Listener = (e) => matches(e, filter) && listener(e);
    const set = this.listeners.get(sourceId) ?? new Set();
    this.listeners.set(sourceId, set);
    set.add(wrapped);
    return () => set.delete(wrapped);
  }
}

function matches(e: DebuggerEntry, f: DebuggerFilter): boolean {
  return (!f.type || e.type === f.type) && (!f.event || e.event === f.event);
}

/**
 * The debugger's samples across a restart on one machine (with NATS, the `debugger` feed
 * keeps them): written at a graceful stop to `file` (the owner's only, by rename) and read
 * back at start. A missing or unreadable file is an empty debugger, never a failed start.
 */
export function saveDebugger(dbg: SourceDebugger, file: string): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify({ version: 1, sources: dbg.saved() }), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export function restoreDebugger(dbg: SourceDebugger, file: string, onError: (err: unknown) => void): void {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return; // none saved
  }
  try {
    const saved = JSON.parse(text) as { version?: number; sources?: [string, DebuggerEntry[]][] };
    if (saved.version !== 1 || !Array.isArray(saved.sources)) throw new Error(`${file} is not a saved debugger (version 1)`);
    for (const [sourceId, entries] of saved.sources) {
      if (typeof sourceId !== 'string' || !Array.isArray(entries)) continue;
      for (const e of entries) if (e && typeof e.messageId === 'string' && typeof e.enriched === 'string') dbg.add(sourceId, e);
    }
  } catch (err) {
    onError(err);
  }
}
