import type { KV, NatsConnection } from 'nats';
import { STALE_MS, type ProcessInfo, type ProcessRegistry } from '../processes.js';

/**
 * The process registry in a NATS KV bucket (one per workspace stream): one key per
 * process, the bucket's TTL forgets a process that stopped beating (SIGKILL) after
 * four times STALE_MS.
 */
export class NatsProcessRegistry implements ProcessRegistry {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection, bucket: string, replicas = 1): Promise<NatsProcessRegistry> {
    const kv = await nc.jetstream().views.kv(bucket, { history: 1, ttl: STALE_MS * 4, replicas });
    return new NatsProcessRegistry(kv);
  }

  async put(info: ProcessInfo): Promise<void> {
    await this.kv.put(info.id, JSON.stringify(info));
  }

  async remove(id: string): Promise<void> {
    await this.kv.purge(id);
  }

  async list(): Promise<ProcessInfo[]> {
    const out: ProcessInfo[] = [];
    const keys: string[] = [];
    for await (const k of await this.kv.keys()) keys.push(k);
    for (const k of keys.sort()) {
      const e = await this.kv.get(k);
      if (e && e.operation === 'PUT' && e.value.length > 0) out.push(e.json<ProcessInfo>());
    }
    return out;
  }

  async close(): Promise<void> {}
}
