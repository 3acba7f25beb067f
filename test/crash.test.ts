/**
 * Durability under kill -9: every event that got a 200 reaches the destination,
 * even when the process is SIGKILLed in the middle of a load and restarted on the
 * same data directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from './helpers/harness.js';
import { workspaceYaml } from './helpers/switchyard.js';
import { basicAuth, deliveryStats, sleep, waitUntil, WRITE_KEY } from './helpers/e2e.js';

const CLIENTS = 16;
const EVENTS_PER_BATCH = 20;
const LOAD_BEFORE_KILL_MS = 1000;

test('SIGKILL during a load, and again during catch-up, loses no acknowledged event', async () => {
  const h = new Harness();
  try {
    const sink = await h.sink();
    const workspace = workspaceYaml([sink.url]);
    let sy = await h.start({ workspace });
    const { dataDir, configFile } = sy;
    const acked = new Set<string>();
    let connectionErrors = 0;
    let otherFailures = 0;
    let inFlightAtKill = 0;
    let inFlight = 0;
    let stop = false;
    const url = `${sy.url}/v1/batch`;
    const auth = basicAuth(WRITE_KEY);

    const client = async (c: number) => {
      for (let b = 0; !stop; b++) {
        const ids = Array.from({ length: EVENTS_PER_BATCH }, (_, j) => `crash-${c}-${b}-${j}`);
        const body = JSON.stringify({
          batch: ids.map((messageId, j) => ({ type: 'track', messageId, userId: `u-${c}`, event: 'Load Tested', properties: { c, b, j, pad: 'x'.repeat(200) } })),
          sentAt: new Date().toISOString(),
        });
        inFlight++;
        try {
          const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body, signal: AbortSignal.timeout(15_000) });
          await res.arrayBuffer();
          if (res.status === 200) for (const id of ids) acked.add(id);
          else otherFailures++;
        } catch {
          // The connection died with the process: not acknowledged, allowed to be missing.
          connectionErrors++;
          stop = true;
        } finally {
          inFlight--;
        }
      }
    };
    const load = Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
    await sleep(LOAD_BEFORE_KILL_MS);
    inFlightAtKill = inFlight;
    await sy.kill();
    stop = true;
    await load;

    assert.ok(acked.size >= 1000, `the load was real: ${acked.size} events acknowledged before the kill`);
    assert.ok(inFlightAtKill > 0 && connectionErrors > 0, `the kill hit requests in flight (${inFlightAtKill} in flight, ${connectionErrors} connection errors)`);
    assert.equal(otherFailures, 0, 'no request was refused before the kill');
    const deliveredBeforeRestart = new Set(sink.received.map((r) => (JSON.parse(r.body) as { messageId: string }).messageId)).size;

    // Restart, and kill it again while it is catching up on deliveries: the lane's
    // cursor must not have passed events whose delivery was cut off.
    sy = await h.start({ workspace, dataDir, configFile });
    const catchUpFrom = sink.received.length;
    const remaining = acked.size - deliveredBeforeRestart;
    const target = catchUpFrom + Math.max(0, Math.min(500, Math.floor(remaining / 2)));
    await waitUntil('deliveries to resume after the restart', () => sink.received.length >= target, { timeoutMs: 20_000, intervalMs: 20 });
    await sy.kill();
    const deliveredBeforeSecondKill = sink.received.length;
    sy = await h.start({ workspace, dataDir, configFile });
    const seen = new Set<string>();
    let scanned = 0;
    const missing = () => {
      for (; scanned < sink.received.length; scanned++) seen.add((JSON.parse(sink.received[scanned]!.body) as { messageId: string }).messageId);
      let n = 0;
      for (const id of acked) if (!seen.has(id)) n++;
      return n;
    };
    await waitUntil('every acknowledged event at the sink after the restart', () => missing() === 0, {
      timeoutMs: 60_000,
      intervalMs: 250,
      describe: () => ({ acknowledged: acked.size, missing: missing(), deliveredBeforeRestart, deliveredBeforeSecondKill, sinkRequests: sink.received.length }),
    });
    // Duplicates are allowed (at-least-once), but nothing beyond what was sent may appear.
    for (const id of seen) assert.match(id, /^crash-\d+-\d+-\d+$/);

    // The restarted server catches up completely and reports it.
    const stats = await waitUntil('the lane to drain after the restart', async () => {
      const s = await deliveryStats(sy.url, undefined, '10m');
      return s.backlog === 0 && s.retrying === 0 ? s : undefined;
    }, { describe: () => deliveryStats(sy.url, undefined, '10m') });
    assert.deepEqual(stats.failed, []);
    assert.deepEqual(stats.discarded, []);
    console.log(`crash: ${acked.size} acknowledged, ${deliveredBeforeRestart} delivered before the kill, ${sink.received.length - seen.size} duplicate deliveries, ${connectionErrors} requests cut off`);
  } finally {
    await h.cleanup();
  }
});
