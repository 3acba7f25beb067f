/**
 * The event-log contract: every EventLog implementation (SQLite now, NATS
 * JetStream in issue #4) must pass these tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AppendRecord, EventLog, Lane, LaneMessage } from '../src/log/types.js';

export interface LogFactory {
  /** Opens the log at a fresh location. */
  create(opts: { dedupeWindowMs: number; retentionMs: number }): Promise<EventLog>;
  /** Closes `log` and opens the same location again (a restart). */
  reopen(log: EventLog): Promise<EventLog>;
  /**
   * False when the log removes settled events itself (JetStream interest retention):
   * prune() then returns 0 and the prune test checks `storedEvents` instead.
   */
  prunesExplicitly?: boolean;
  /** Events the log still holds (required when prunesExplicitly is false). */
  storedEvents?(log: EventLog): Promise<number>;
}

let counter = 0;
function rec(sourceId: string, n: number, messageId = `m-${++counter}`): AppendRecord {
  return { workspaceId: 'ws', sourceId, messageId, payload: JSON.stringify({ n, messageId }), receivedAt: Date.now() };
}
const H = 3_600_000;
/**
 * Retries are scheduled on real time: JetStream redelivers on the server's clock,
 * so a retry's notBefore is `Date.now() + RETRY_MS` and the tests wait for it.
 */
const RETRY_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Fetches until `want` messages arrived or `timeoutMs` passed: the contract allows a
 * message that is due (a retry past its time, one left unsettled by a closed reader)
 * to come back within a bounded wait rather than on the very next fetch.
 */
async function fetchUntil(lane: Lane, want: number, timeoutMs = 5000): Promise<{ got: LaneMessage[]; at: number }> {
  const got: LaneMessage[] = [];
  const end = Date.now() + timeoutMs;
  for (;;) {
    got.push(...(await lane.fetch(want - got.length, Date.now())));
    if (got.length >= want || Date.now() > end) return { got, at: Date.now() };
    await sleep(25);
  }
}

export function logContract(name: string, factory: LogFactory): void {
  const open = () => factory.create({ dedupeWindowMs: 24 * H, retentionMs: 0 });

  test(`${name}: a lane receives its sources' events in order, starting at the end of the log`, async () => {
    const log = await open();
    await log.append([rec('a', 0)]); // before the lane exists: not replayed
    const lane = log.lane({ laneId: 'l1', sourceIds: ['a'] });
    await log.append([rec('a', 1), rec('b', 99), rec('a', 2)]);
    await log.append([rec('a', 3)]);
    const got = await lane.fetch(10, Date.now());
    assert.deepEqual(got.map((m) => JSON.parse(m.payload).n), [1, 2, 3]);
    assert.ok(got.every((m) => m.attempt === 1 && m.firstAttemptAt === null && m.sourceId === 'a'));
    assert.deepEqual(await lane.fetch(10, Date.now()), [], 'in-flight messages are not handed out twice');
    await log.close();
  });

  test(`${name}: a (source, messageId) seen inside the window is acknowledged but handed to lanes once`, async () => {
    const log = await open();
    const lane = log.lane({ laneId: 'l1', sourceIds: ['a', 'b'] });
    const first = await log.append([rec('a', 1, 'dup'), rec('a', 2, 'dup'), rec('b', 3, 'dup')]);
    assert.equal(first.accepted + first.duplicates, 3, 'every record is acknowledged');
    await log.append([rec('a', 4, 'dup')]);
    const got = await lane.fetch(10, Date.now());
    assert.deepEqual(got.map((m) => JSON.parse(m.payload).n), [1, 3], 'the first of each (source, messageId) only');
    for (const m of got) lane.ack(m);
    await lane.flush();
    const reopened = await factory.reopen(log);
    const again = reopened.lane({ laneId: 'l1', sourceIds: ['a', 'b'] });
    await reopened.append([rec('b', 5, 'dup'), rec('b', 6)]);
    const afterRestart = await again.fetch(10, Date.now());
    assert.deepEqual(afterRestart.map((m) => JSON.parse(m.payload).n), [6], 'the dedupe window survives a restart');
    await reopened.close();
  });

  test(`${name}: a batch appended as encoded lines reads back as one event per line, in order`, async () => {
    const log = await open();
    const lane = log.lane({ laneId: 'l1', sourceIds: ['a'] });
    const payloads = [{ n: 1, s: 'é ✓' }, { n: 2 }, { n: 3, nested: { a: [1, 2] } }].map((p) => JSON.stringify(p));
    const messageIds = ['b-1', 'b-2', 'b-3'];
    const first = await log.appendBatch({ workspaceId: 'ws', sourceId: 'a', receivedAt: 1_700_000_000_000, messageIds, payloads: Buffer.from(payloads.join('\n')) });
    assert.equal(first.accepted + first.duplicates, 3);
    // The same ids again (a client retry): acknowledged, handed to lanes once.
    await log.appendBatch({ workspaceId: 'ws', sourceId: 'a', receivedAt: 1_700_000_000_001, messageIds, payloads: Buffer.from(payloads.join('\n')) });
    await log.append([rec('a', 4)]);
    const { got } = await fetchUntil(lane, 4);
    assert.deepEqual(got.map((m) => m.payload).slice(0, 3), payloads);
    assert.deepEqual(got.map((m) => m.messageId).slice(0, 3), messageIds);
    assert.equal(JSON.parse(got[3]!.payload).n, 4);
    assert.ok(got.slice(0, 3).every((m) => m.sourceId === 'a' && m.receivedAt === 1_700_000_000_000));
    assert.deepEqual(await lane.fetch(10, Date.now()), [], 'the repeated batch is not handed out again');
    await log.close();
  });

  test(`${name}: appends made together are committed together and all resolve`, async () => {
    const log = await open();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append([rec('a', i), rec('a', i)])));
    assert.equal(results.reduce((n, r) => n + r.accepted, 0), 100);
    const seqs = results.map((r) => r.lastSeq);
    assert.ok(seqs.every((s) => s > 0));
    await log.close();
  });

  test(`${name}: acked messages are not handed out again after a restart; unsettled ones are`, async () => {
    let log = await open();
    let lane = log.lane({ laneId: 'l1', sourceIds: ['a'] });
    await log.append([rec('a', 1), rec('a', 2), rec('a', 3)]);
    const got = await lane.fetch(10, Date.now());
    lane.ack(got[0]!);
    lane.ack(got[2]!); // 2 is still in flight: the cursor must not pass it
    await lane.flush();
    log = await factory.reopen(log);
    lane = log.lane({ laneId: 'l1', sourceIds: ['a'] });
    const { got: redelivered } = await fetchUntil(lane, 1);
    redelivered.push(...(await lane.fetch(10, Date.now())));
    assert.equal(JSON.parse(redelivered[0]!.payload).n, 2, 'the unsettled message comes back');
    assert.ok(redelivered.every((m) => JSON.parse(m.payload).n !== 1), 'an acked message never comes back');
    await log.close();
  });

  test(`${name}: retry hands the message back at its time with the next attempt number, across restarts`, async () => {
    let log = await open();
    let lane = log.lane({ laneId: 'l1', sourceIds: ['a'] });
    const beforeAppend = Date.now();
    await log.append([rec('a', 1)]);
    const t0 = Date.now();
    const [m] = await lane.fetch(10, t0);
    const due1 = Date.now() + RETRY_MS;
    lane.retry(m!, due1, t0);
    assert.deepEqual(await lane.fetch(10, Date.now()), [], 'a retry is not handed out before its time, even before flush');
    await lane.flush();
    assert.deepEqual(await lane.fetch(10, Date.now()), [], 'not before its time');
    assert.equal(await lane.nextRetryAt(), due1);
    assert.deepEqual(await lane.backlog(), { pending: 0, retrying: 1 });
    log = await factory.reopen(log);
    lane = log.lane({ laneId: 'l1', sourceIds: ['a'] });
    const first = await fetchUntil(lane, 1);
    const again = first.got[0];
    assert.ok(again, 'the retry comes back after a restart');
    assert.ok(first.at >= due1, 'not before its time');
    assert.equal(again.attempt, 2);
    // SQLite records the first attempt; JetStream keeps no such time and reports the
    // publish time: either way a time no later than the first attempt, kept after.
    assert.ok(again.firstAttemptAt !== null && again.firstAttemptAt >= beforeAppend && again.firstAttemptAt <= t0, `first attempt time ${again.firstAttemptAt}`);
    const due2 = Date.now() + RETRY_MS;
    lane.retry(again, due2, Date.now());
    await lane.flush();
    const second = await fetchUntil(lane, 1);
    const third = second.got[0];
    assert.ok(third && second.at >= due2);
    assert.equal(third.attempt, 3);
    assert.equal(third.firstAttemptAt, again.firstAttemptAt, 'the first attempt time is kept');
    lane.ack(third);
    assert.deepEqual(await lane.fetch(10, Date.now() + 999_999), [], 'an acked retry is not handed out again, even before flush');
    await lane.flush();
    assert.deepEqual(await lane.fetch(10, Date.now() + 999_999), []);
    assert.equal(await lane.nextRetryAt(), null);
    await log.close();
  });

  test(`${name}: a large append is handed out in slices, in order, once; a retried item keeps its payload`, async () => {
    const log = await open();
    const lane = log.lane({ laneId: 'l1', sourceIds: ['a'] });
    await log.append(Array.from({ length: 300 }, (_, i) => rec('a', i)));
    await log.append([rec('b', 1000), rec('a', 300)]);
    const seen: number[] = [];
    let due = 0;
    for (let round = 0; round < 10 && seen.length < 301; round++) {
      const got = await lane.fetch(70, Date.now());
      assert.ok(got.length <= 70);
      for (const m of got) {
        const n = JSON.parse(m.payload).n as number;
        seen.push(n);
        if (n === 150) lane.retry(m, (due = Date.now() + 3 * RETRY_MS), Date.now());
        else lane.ack(m);
      }
      await lane.flush();
    }
    assert.deepEqual(seen, Array.from({ length: 301 }, (_, i) => i));
    assert.deepEqual(await lane.fetch(70, Date.now()), [], 'handed out once; the retry is not due yet');
    const { got, at } = await fetchUntil(lane, 1, 3 * RETRY_MS + 5000);
    const retried = got[0];
    assert.ok(at >= due);
    assert.equal(JSON.parse(retried!.payload).n, 150);
    assert.equal(retried!.attempt, 2);
    await log.close();
  });

  test(`${name}: a retry settled right after another retry was delivered still comes due`, async () => {
    const log = await open();
    const lane = log.lane({ laneId: 'l1', sourceIds: ['a'] });
    await log.append([rec('a', 1), rec('a', 2)]);
    const [m1, m2] = await lane.fetch(10, Date.now());
    lane.retry(m1!, Date.now(), Date.now()); // due at once
    await lane.flush();
    const first = await fetchUntil(lane, 1);
    assert.equal(first.got[0]?.attempt, 2);
    lane.ack(first.got[0]!);
    await lane.flush();
    const due = Date.now() + RETRY_MS;
    lane.retry(m2!, due, Date.now());
    // Asked while nothing is due and the retry is not flushed yet: it must still come due once flushed.
    assert.deepEqual(await lane.fetch(10, Date.now()), [], 'not before its time');
    await lane.flush();
    const second = await fetchUntil(lane, 1);
    assert.equal(second.got[0] && JSON.parse(second.got[0].payload).n, 2, 'the retry comes back');
    assert.ok(second.at >= due, 'not before its time');
    await log.close();
  });

  test(`${name}: a failed message is never handed out again, and lanes are independent`, async () => {
    const log = await open();
    const l1 = log.lane({ laneId: 'l1', sourceIds: ['a'] });
    const l2 = log.lane({ laneId: 'l2', sourceIds: ['a'] });
    await log.append([rec('a', 1)]);
    const [m1] = await l1.fetch(10, Date.now());
    l1.fail(m1!, 'HTTP 400');
    await l1.flush();
    assert.deepEqual(await l1.fetch(10, Date.now() + H), []);
    assert.deepEqual(await l1.backlog(), { pending: 0, retrying: 0 }, 'a failed message is settled, not waiting');
    const [m2] = await l2.fetch(10, Date.now());
    assert.equal(JSON.parse(m2!.payload).n, 1, 'another lane still gets the event');
    await log.deleteLane('l2');
    await log.close();
  });

  test(`${name}: prune keeps what any lane still needs and deletes what all lanes are past`, async () => {
    const log = await open();
    const fast = log.lane({ laneId: 'fast', sourceIds: ['a'] });
    const slow = log.lane({ laneId: 'slow', sourceIds: ['a'] });
    await log.append([rec('a', 1), rec('a', 2), rec('a', 3)]);
    for (const m of await fast.fetch(10, Date.now())) fast.ack(m);
    await fast.flush();
    const [s1] = await slow.fetch(1, Date.now());
    const due = Date.now() + RETRY_MS;
    slow.retry(s1!, due, Date.now());
    await slow.flush();
    await sleep(1100); // past the retention (0) by the log's clock granularity
    await log.append([rec('a', 4)]);
    const firstPrune = await log.prune(Date.now());
    if (factory.prunesExplicitly === false) assert.equal(firstPrune, 0);
    // The slow lane's retry (event 1) and its unread events (2, 3) must survive.
    const { got: retried } = await fetchUntil(slow, 4, due - Date.now() + 5000);
    assert.deepEqual(retried.map((m) => JSON.parse(m.payload).n).sort(), [1, 2, 3, 4]);
    for (const m of retried) slow.ack(m);
    await slow.flush();
    for (const m of await fast.fetch(10, Date.now())) fast.ack(m);
    await fast.flush();
    await sleep(1100);
    await log.append([rec('a', 5)]);
    const deleted = await log.prune(Date.now());
    if (factory.prunesExplicitly === false) {
      // The log drops settled events itself: only event 5 (no lane is past it) is held.
      assert.equal(deleted, 0);
      let stored = -1;
      for (let i = 0; i < 40 && stored !== 1; i++, await sleep(50)) stored = await factory.storedEvents!(log);
      assert.equal(stored, 1, 'events every lane is past are no longer held');
    } else {
      assert.ok(deleted > 0, `events every lane is past are pruned (deleted ${deleted})`);
    }
    const [next] = await fast.fetch(10, Date.now());
    assert.equal(JSON.parse(next!.payload).n, 5, 'sequences keep increasing after a prune');
    await log.close();
  });
}
