/**
 * A function's pool of sandboxes (src/functions/pool.ts): invocations that wait on
 * a fetch run side by side up to the pool's size, each sandbox keeps its own
 * globals and logs, and a pool of one runs them one after the other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePool } from '../src/functions/pool.js';
import type { SandboxFetch } from '../src/functions/types.js';

/** A fetch that answers after 200 ms, counting how many were in flight at once. */
function slowFetch() {
  let inFlight = 0;
  let most = 0;
  const fetch: SandboxFetch = async (req) => {
    most = Math.max(most, ++inFlight);
    await new Promise((r) => setTimeout(r, 200));
    inFlight--;
    return { status: 200, statusText: 'OK', headers: [], body: '{}', url: req.url };
  };
  return { fetch, most: () => most };
}

const CODE = `
let calls = 0;
async function onTrack(event) {
  calls++;
  console.log('event', event.n, 'call', calls);
  await fetch('http://127.0.0.1:9/api');
  return { n: event.n, calls };
}`;

test('a pool runs a waiting function\'s invocations side by side, up to its size', async () => {
  const slow = slowFetch();
  const pool = await compilePool(CODE, 'DESTINATION', { fetch: slow.fetch }, 4);
  try {
    assert.deepEqual([...pool.handlers], ['onTrack']);
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: 8 }, (_, n) => pool.invoke('onTrack', [{ n }])));
    const ms = performance.now() - t0;
    assert.ok(results.every((r) => r.ok), JSON.stringify(results.find((r) => !r.ok)));
    assert.ok(slow.most() >= 3 && slow.most() <= 4, `at most 4 fetches at once, and more than one (${slow.most()})`);
    assert.ok(ms < 8 * 200, `8 invocations of 200 ms took ${ms.toFixed(0)} ms, less than one after another`);
    for (const [n, r] of results.entries()) {
      assert.ok(r.ok);
      assert.equal((r.value as { n: number }).n, n);
      assert.equal(r.logs.length, 1, 'each invocation has its own logs');
      assert.match(r.logs[0]!, new RegExp(`^event ${n} call \\d$`));
    }
    const calls = results.map((r) => (r.ok ? (r.value as { calls: number }).calls : 0));
    assert.equal(calls.reduce((a, b) => a + b, 0) > 8, true, 'globals are per sandbox: counters restart in each');
  } finally {
    pool.dispose();
  }
});

test('a pool of one runs invocations one after the other', async () => {
  const slow = slowFetch();
  const pool = await compilePool(CODE, 'DESTINATION', { fetch: slow.fetch }, 1);
  try {
    const results = await Promise.all(Array.from({ length: 3 }, (_, n) => pool.invoke('onTrack', [{ n }])));
    assert.equal(slow.most(), 1);
    assert.deepEqual(results.map((r) => (r.ok ? (r.value as { calls: number }).calls : 0)).sort(), [1, 2, 3], 'one sandbox, one counter');
  } finally {
    pool.dispose();
  }
});
