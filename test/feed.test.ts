/**
 * `replicate` (core/feed.ts): other files' items, each once and in order; a bad item is
 * reported and skipped; an item the local copy could not take (a full disk) is tried
 * again from the stored position, and nothing after it is applied before it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { replicate, type Feed, type FeedReplica } from '../src/core/feed.js';

/** A feed in memory: follow replays from a sequence, then delivers what is published. */
class MemoryFeed implements Feed {
  readonly stream = 'TEST';
  private readonly messages: string[] = [];
  private readonly followers = new Set<(seq: number, data: string) => void>();
  async publish(data: string): Promise<number> {
    this.messages.push(data);
    const seq = this.messages.length;
    for (const f of this.followers) f(seq, data);
    return seq;
  }
  async follow(afterSeq: number, onMessage: (seq: number, data: string) => void) {
    for (let i = afterSeq; i < this.messages.length; i++) onMessage(i + 1, this.messages[i]!);
    this.followers.add(onMessage);
    return { stop: async () => void this.followers.delete(onMessage) };
  }
}

/** A replica that keeps its items and position, and fails as told. */
class ListReplica implements FeedReplica<string> {
  readonly items: string[] = [];
  private cursor = 0;
  failures: { item: string; code?: string; times: number }[] = [];
  origin() { return 'mine'; }
  remoteCursor() { return this.cursor; }
  applyRemote(_feed: string, seq: number, item: string): boolean {
    if (seq <= this.cursor) return false;
    const f = this.failures.find((x) => x.item === item && x.times > 0);
    if (f) {
      f.times--;
      if (!f.code) this.cursor = seq; // a bad item: its position is passed
      throw Object.assign(new Error(`cannot take ${item}`), f.code ? { code: f.code } : {});
    }
    this.cursor = seq;
    this.items.push(item);
    return true;
  }
}

const envelope = (origin: string, item: string) => JSON.stringify({ origin, item });

test('replicate: each item once, in order; a bad item skipped; a full disk retried from the stored position', async () => {
  const feed = new MemoryFeed();
  const replica = new ListReplica();
  const errors: string[] = [];
  await feed.publish(envelope('other', 'a'));
  await feed.publish(envelope('mine', 'own')); // its own file's: held already
  await feed.publish('{not json');
  replica.failures.push({ item: 'bad', times: 1 }, { item: 'c', code: 'ENOSPC', times: 2 });
  const follower = await replicate(replica, feed, (err) => errors.push(String(err)), 20);
  try {
    for (const item of ['b', 'bad', 'c', 'd']) await feed.publish(envelope('other', item));
    assert.deepEqual(replica.items, ['a', 'b'], 'nothing after the item the disk refused, yet');
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(replica.items, ['a', 'b', 'c', 'd'], 'c once the disk took it, then d, each once');
    await feed.publish(envelope('other', 'e'));
    assert.deepEqual(replica.items, ['a', 'b', 'c', 'd', 'e']);
    assert.equal(errors.length, 4, errors.join('\n'));
    assert.match(errors[0]!, /SyntaxError/);
    assert.match(errors[1]!, /cannot take bad/);
    assert.match(errors[2]!, /cannot take c/);
    assert.match(errors[3]!, /cannot take c/);
  } finally {
    await follower.stop();
  }
  await feed.publish(envelope('other', 'f'));
  assert.equal(replica.items.includes('f'), false, 'stopped');
});
