import type { NatsLogOptions } from './log.js';

/**
 * What `SWITCHYARD_LOG=nats://…` selects: the servers and the stream settings that are
 * not per-process. Plain data (it crosses into worker threads by structured clone).
 */
export type NatsLogSettings = Pick<NatsLogOptions, 'streamPrefix' | 'subjectRoot' | 'maxAgeMs' | 'maxBytes' | 'replicas' | 'ackWaitMs' | 'maxAckPending'> & {
  servers: string[];
};

const QUERY_KEYS: Record<string, (s: NatsLogSettings, v: string) => void> = {
  replicas: (s, v) => (s.replicas = positiveInt('replicas', v)),
  stream_prefix: (s, v) => (s.streamPrefix = name('stream_prefix', v)),
  subject_root: (s, v) => (s.subjectRoot = name('subject_root', v)),
  max_bytes: (s, v) => (s.maxBytes = positiveInt('max_bytes', v)),
  max_age_hours: (s, v) => (s.maxAgeMs = positiveNumber('max_age_hours', v) * 3_600_000),
  ack_wait_ms: (s, v) => (s.ackWaitMs = positiveInt('ack_wait_ms', v)),
  max_ack_pending: (s, v) => (s.maxAckPending = positiveInt('max_ack_pending', v)),
};

/**
 * Parses `nats://host:port[,nats://host2:port…][?replicas=3&stream_prefix=SWITCHYARD_&…]`.
 * Query keys: replicas, stream_prefix, subject_root, max_bytes, max_age_hours,
 * ack_wait_ms, max_ack_pending. Returns null for the embedded log (unset, empty or
 * `sqlite`); throws with a message naming the variable on anything else.
 */
export function parseLogSetting(value: string | undefined): NatsLogSettings | null {
  const v = value?.trim() ?? '';
  if (v === '' || v === 'sqlite') return null;
  const q = v.indexOf('?');
  const list = q < 0 ? v : v.slice(0, q);
  const servers = list.split(',').map((s) => s.trim()).filter(Boolean);
  if (servers.length === 0 || !servers.every((s) => /^(nats|tls):\/\/[^/?#\s]+\/?$/.test(s))) {
    throw new Error(`SWITCHYARD_LOG must be "sqlite" or nats://host:port[,nats://host:port…][?options], got "${v}"`);
  }
  const settings: NatsLogSettings = { servers: servers.map((s) => s.replace(/\/$/, '')) };
  if (q >= 0) {
    for (const [key, val] of new URLSearchParams(v.slice(q + 1))) {
      const set = QUERY_KEYS[key];
      if (!set) throw new Error(`SWITCHYARD_LOG: unknown option "${key}" (known: ${Object.keys(QUERY_KEYS).join(', ')})`);
      set(settings, val);
    }
  }
  return settings;
}

function positiveInt(key: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`SWITCHYARD_LOG: ${key} must be a positive integer, got "${v}"`);
  return n;
}
function positiveNumber(key: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`SWITCHYARD_LOG: ${key} must be a positive number, got "${v}"`);
  return n;
}
function name(key: string, v: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(v)) throw new Error(`SWITCHYARD_LOG: ${key} may only contain letters, digits, "_" and "-", got "${v}"`);
  return v;
}
