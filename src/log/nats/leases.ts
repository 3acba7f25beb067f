import type { KV, NatsConnection } from 'nats';
import type { LeaseStore } from '../leases.js';
import { token, untoken } from './names.js';

/** How long a lease lives without renewal (its holder renews every third of it). */
export const LEASE_TTL_MS = 15_000;

/**
 * Leases in a NATS KV bucket: one key per lease holding its owner. Taking a free
 * lease is `create` (fails when the key exists); renewing is `update` at the
 * revision read, so two processes can never both succeed; the bucket's TTL drops a
 * lease whose holder stopped renewing (SIGKILL, partition).
 */
export class NatsLeases implements LeaseStore {
  private constructor(private readonly kv: KV, readonly ttlMs: number) {}

  static async open(nc: NatsConnection, bucket: string, options: { ttlMs?: number; replicas?: number } = {}): Promise<NatsLeases> {
    const ttlMs = options.ttlMs ?? LEASE_TTL_MS;
    const kv = await nc.jetstream().views.kv(bucket, { history: 1, ttl: ttlMs, replicas: options.replicas ?? 1 });
    return new NatsLeases(kv, ttlMs);
  }

  async tryAcquire(name: string, owner: string): Promise<boolean> {
    const key = token(name);
    const entry = await this.kv.get(key);
    const free = !entry || entry.operation !== 'PUT' || entry.value.length === 0;
    try {
      if (free) await this.kv.create(key, owner);
      else if (entry.string() === owner) await this.kv.update(key, owner, entry.revision);
      else return false;
      return true;
    } catch (err) {
      // Lost a race (another process created or renewed first): not ours.
      if (isWrongLastSequence(err)) return false;
      throw err;
    }
  }

  /** Every lease held now: its name, its holder (a process id) and when it was last renewed. */
  async list(): Promise<{ name: string; owner: string; renewedAt: number }[]> {
    const keys: string[] = [];
    for await (const k of await this.kv.keys()) keys.push(k);
    const out: { name: string; owner: string; renewedAt: number }[] = [];
    for (const k of keys.sort()) {
      const e = await this.kv.get(k);
      if (e && e.operation === 'PUT' && e.value.length > 0) out.push({ name: untoken(k), owner: e.string(), renewedAt: e.created.getTime() });
    }
    return out;
  }

  async release(name: string, owner: string): Promise<void> {
    const key = token(name);
    const entry = await this.kv.get(key);
    if (!entry || entry.operation !== 'PUT' || entry.string() !== owner) return;
    await this.kv.delete(key, { previousSeq: entry.revision }).catch((err: unknown) => {
      if (!isWrongLastSequence(err)) throw err;
    });
  }
}

function isWrongLastSequence(err: unknown): boolean {
  const e = err as { code?: string; api_error?: { err_code?: number }; message?: string };
  return e.api_error?.err_code === 10071 || /wrong last sequence|key exists/i.test(e.message ?? '');
}
