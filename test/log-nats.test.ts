/**
 * The log contract on NATS JetStream. Needs a JetStream-enabled server on
 * SWITCHYARD_TEST_NATS (default 127.0.0.1:4222; `.ci/run` starts one). If it is not
 * running these tests fail: they never skip.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { NatsEventLog, type NatsLogOptions } from '../src/log/nats/log.js';
import type { EventLog, LaneMessage } from '../src/log/types.js';
import { logContract } from './log-contract.js';

const servers = process.env.SWITCHYARD_TEST_NATS ?? '127.0.0.1:4222';
const opened = new WeakMap<EventLog, NatsLogOptions>();
const created: NatsLogOptions[] = [];
/** Every log a test opened: closed at the end even when a test failed (else the process hangs). */
const logs = new Set<NatsEventLog>();
async function connectLog(options: NatsLogOptions): Promise<NatsEventLog> {
  const log = await NatsEventLog.connect(options);
  logs.add(log);
  return log;
}

logContract('nats', {
  async create(opts) {
    const id = randomBytes(4).toString('hex');
    const options: NatsLogOptions = {
      servers,
      workspaceId: 'ws',
      streamPrefix: `SYTEST_${id}_`,
      subjectRoot: `sytest_${id}`,
      name: 'switchyard-log-test',
      ...opts,
    };
    created.push(options);
    const log = await connectLog(options);
    opened.set(log, options);
    return log;
  },
  async reopen(log) {
    const options = opened.get(log)!;
    await log.close();
    const next = await connectLog(options);
    opened.set(next, options);
    return next;
  },
  prunesExplicitly: false,
  storedEvents: (log) => (log as NatsEventLog).storedCount(),
});

// Delete every test stream (their consumers go with them).
after(async () => {
  for (const log of logs) await log.close().catch(() => {});
  for (const options of created) {
    const log = await NatsEventLog.connect(options);
    await log.destroy();
    await log.close();
  }
});

// JetStream-specific behaviour beyond the shared contract.
const H = 3_600_000;
async function openLog(extra: Partial<NatsLogOptions> = {}): Promise<NatsEventLog> {
  const id = randomBytes(4).toString('hex');
  const options: NatsLogOptions = {
    servers, workspaceId: 'ws.1 x', streamPrefix: `SYTEST_${id}_`, subjectRoot: `sytest_${id}`, dedupeWindowMs: H, retentionMs: 0, ...extra,
  };
  created.push(options);
  return connectLog(options);
}
const rec = (sourceId: string, n: number) => ({ workspaceId: 'ws.1 x', sourceId, messageId: `m.${n} *>`, payload: JSON.stringify({ n }), receivedAt: 1_700_000_000_000 + n });

test('nats: after a crash (no graceful close) an unsettled message comes back once ack_wait has passed', async () => {
  const options = { ackWaitMs: 1000 };
  const log = await openLog(options);
  const lane = log.lane({ laneId: 'l1', sourceIds: ['a'] });
  await log.append([rec('a', 1)]);
  const [m] = await lane.fetch(10, Date.now());
  assert.equal(m!.messageId, 'm.1 *>');
  assert.equal(m!.receivedAt, 1_700_000_000_001);
  await log.nc.close(); // a crash: nothing nak'd
  const next = await connectLog(created.at(-1)!);
  const again = next.lane({ laneId: 'l1', sourceIds: ['a'] });
  assert.deepEqual(await again.fetch(10, Date.now()), [], 'still owned by the crashed reader until ack_wait');
  let got: LaneMessage[] = [];
  for (let i = 0; i < 60 && got.length === 0; i++, await new Promise((r) => setTimeout(r, 50))) got = await again.fetch(10, Date.now());
  assert.equal(got.length, 1);
  assert.equal(got[0]!.attempt, 2);
  again.ack(got[0]!);
  await next.close();
});

test('nats: ids are encoded into NATS tokens; laneIds, source changes and deleteLane', async () => {
  const log = await openLog();
  log.lane({ laneId: 'warehouse:w.1', sourceIds: ['src.a', 'src b'] });
  const dest = log.lane({ laneId: 'dest_1', sourceIds: ['src.a'] });
  await log.append([rec('src.a', 1), rec('src b', 2), rec('src.a', 1)]);
  assert.deepEqual((await log.laneIds()).sort(), ['dest_1', 'warehouse:w.1']);
  const got = await dest.fetch(10, Date.now());
  assert.deepEqual(got.map((m) => [m.sourceId, JSON.parse(m.payload).n]), [['src.a', 1]], 'per-source dedupe; only its source');
  // The same lane id with fewer sources: the dropped source's consumer goes away.
  const narrowed = log.lane({ laneId: 'warehouse:w.1', sourceIds: ['src b'] });
  assert.deepEqual((await narrowed.fetch(10, Date.now())).map((m) => m.sourceId), ['src b']);
  assert.deepEqual(await log.laneBacklog('warehouse:w.1'), { pending: 0, retrying: 1 }, 'one in flight (seen from the API side)');
  await log.deleteLane('warehouse:w.1');
  assert.deepEqual(await log.laneIds(), ['dest_1']);
  assert.equal(await log.laneBacklog('warehouse:w.1'), null);
  await log.close();
});

test('nats: when flush resolves the server has applied every settlement (one confirmation per consumer)', async () => {
  const log = await openLog();
  const lane = log.lane({ laneId: 'l1', sourceIds: ['a', 'b'] });
  await log.append(Array.from({ length: 400 }, (_, i) => rec(i % 2 ? 'a' : 'b', i)));
  const got = await lane.fetch(400, Date.now());
  assert.equal(got.length, 400);
  assert.ok(got.every((m, i) => i === 0 || m.seq > got[i - 1]!.seq), 'merged by stream sequence');
  got.forEach((m, i) => (i % 100 === 7 ? lane.retry(m, Date.now() + 60_000, Date.now()) : i % 100 === 9 ? lane.fail(m, 'HTTP 400') : lane.ack(m)));
  await lane.flush();
  assert.deepEqual(await lane.backlog(), { pending: 0, retrying: 4 }, 'read right after flush, no waiting');
  assert.equal(await log.storedCount(), 4, 'acked and terminated messages are gone from the stream');
  await log.close();
});
