/**
 * Delivery semantics against real HTTP receivers: outages with Retry-After,
 * isolation between destinations, permanent errors, retry limits, and retries
 * that outlive a restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from './helpers/harness.js';
import type { Sink, SinkRequest } from './helpers/sink.js';
import { workspaceYaml } from './helpers/switchyard.js';
import { deliveryStats, postTracking, sleep, waitUntil } from './helpers/e2e.js';

/** A second webhook instance on the same source, appended to the workspace file. */
function secondWebhook(name: string, url: string): string {
  return `  - name: ${name}
    type: webhook
    sources: [web-prod]
    settings:
      urls: [${url}]
`;
}

const idOf = (r: SinkRequest) => (JSON.parse(r.body) as { messageId: string }).messageId;

function requestsById(sink: Sink): Map<string, SinkRequest[]> {
  const m = new Map<string, SinkRequest[]>();
  for (const r of sink.received) m.set(idOf(r), [...(m.get(idOf(r)) ?? []), r]);
  return m;
}

test('an outage with Retry-After: everything arrives, retries wait as asked, the healthy destination keeps its latency', async () => {
  const h = new Harness();
  try {
    const a = await h.sink();
    const b = await h.sink();
    const outageMs = 3000;
    let healthyFrom = Infinity;
    const answeredA = new Map<SinkRequest, number>();
    a.respond((r) => {
      const status = r.at < healthyFrom ? 503 : 200;
      answeredA.set(r, status);
      return status === 503 ? { status, headers: { 'retry-after': '2' }, body: 'down for maintenance' } : { status };
    });
    // Backoff alone would retry after 100-200 ms: spacing of ~2 s can only come from Retry-After.
    const sy = await h.start({
      workspace: workspaceYaml([a.url], secondWebhook('Audit webhook', b.url)),
      env: { SWITCHYARD_RETRY_BASE_MS: '200' },
    });
    healthyFrom = Date.now() + outageMs;
    const sentAt = new Map<string, number>();
    for (let round = 0; Date.now() < healthyFrom - 300; round++) {
      const batch = Array.from({ length: 10 }, (_, j) => ({ type: 'track', userId: 'u-1', event: 'Outage', messageId: `out-${round}-${j}` }));
      const t = Date.now();
      const res = await postTracking(sy.url, '/v1/batch', { batch });
      assert.equal(res.status, 200, 'ingest is unaffected by the outage');
      for (const e of batch) sentAt.set(e.messageId, t);
      await sleep(150);
    }
    const total = sentAt.size;
    assert.ok(total >= 100, `sent ${total} events during the outage`);

    // The healthy destination got each event promptly while A was failing.
    await b.waitFor(total, 10_000);
    const latencies = b.received.map((r) => r.at - sentAt.get(idOf(r))!);
    const slowest = Math.max(...latencies);
    assert.ok(slowest < 1000, `Audit webhook delivered every event within 1 s during the outage (slowest ${slowest} ms)`);
    assert.ok(b.received.every((r) => r.at < healthyFrom), 'all of them before the outage ended');

    // Everything reaches A eventually, each event exactly once with a 200.
    await waitUntil('every event delivered to A', () => [...requestsById(a).entries()].filter(([, rs]) => rs.some((r) => answeredA.get(r) === 200)).length === total, {
      timeoutMs: 20_000,
      describe: () => ({ total, requests: a.received.length }),
    });
    const byId = requestsById(a);
    assert.equal(byId.size, total);
    let minGap = Infinity;
    for (const [id, rs] of byId) {
      const oks = rs.filter((r) => answeredA.get(r) === 200);
      assert.equal(oks.length, 1, `${id}: one successful delivery`);
      assert.equal(answeredA.get(rs[rs.length - 1]!), 200, `${id}: no request after the success`);
      assert.equal(answeredA.get(rs[0]!), 503, `${id}: the first attempt hit the outage`);
      for (let i = 1; i < rs.length; i++) minGap = Math.min(minGap, rs[i]!.at - rs[i - 1]!.at);
    }
    assert.ok(minGap >= 1950, `retries honour Retry-After: 2 (shortest gap between attempts of one event: ${minGap} ms)`);

    const [statsA, statsB] = await waitUntil('the delivery endpoint to count both destinations', async () => {
      const s = await Promise.all([deliveryStats(sy.url), deliveryStats(sy.url, 'audit-webhook')]);
      return s[0].delivered === total && s[1].delivered === total && s[0].retrying === 0 ? s : undefined;
    }, { describe: () => Promise.all([deliveryStats(sy.url), deliveryStats(sy.url, 'audit-webhook')]) });
    assert.equal(statsA.deliveredAfterRetry, total, 'Orders webhook: every event delivered after a retry');
    assert.ok(statsA.attemptsFailed >= total, `Orders webhook: failed attempts counted (${statsA.attemptsFailed})`);
    assert.deepEqual(statsA.failed, []);
    assert.deepEqual(statsA.discarded, []);
    assert.equal(statsB.deliveredFirstAttempt, total, 'Audit webhook: every event on the first attempt');
    assert.equal(statsB.attemptsFailed, 0);
    assert.ok(statsB.latencyMs.p99 !== null && statsB.latencyMs.p99 < 1000, `Audit webhook p99 ${statsB.latencyMs.p99} ms`);
    assert.ok(statsA.latencyMs.p50 !== null && statsA.latencyMs.p50 >= 1500, `Orders webhook p50 reflects the outage (${statsA.latencyMs.p50} ms)`);
  } finally {
    await h.cleanup();
  }
});

test('a 400 is discarded after one request; an always-500 receiver gets exactly 1 + SWITCHYARD_MAX_RETRIES attempts', async () => {
  const h = new Harness();
  try {
    const rejecting = await h.sink();
    rejecting.respond(() => ({ status: 400, headers: { 'content-type': 'application/json' }, body: '{"error":"unknown field total"}' }));
    const broken = await h.sink();
    broken.respond(() => ({ status: 500, body: 'boom' }));
    const sy = await h.start({
      workspace: workspaceYaml([rejecting.url], secondWebhook('Flaky webhook', broken.url)),
      env: { SWITCHYARD_MAX_RETRIES: '2', SWITCHYARD_RETRY_BASE_MS: '100' },
    });
    const res = await postTracking(sy.url, '/v1/track', { userId: 'u-2', event: 'Order Completed', messageId: 'perm-1', properties: { total: 10 } });
    assert.equal(res.status, 200);

    const [orders, flaky] = await waitUntil('the 400 discarded and the 500s given up', async () => {
      const s = await Promise.all([deliveryStats(sy.url), deliveryStats(sy.url, 'flaky-webhook')]);
      return s[0].discarded.length > 0 && s[1].failed.length > 0 && s[1].retrying === 0 ? s : undefined;
    }, { describe: () => Promise.all([deliveryStats(sy.url), deliveryStats(sy.url, 'flaky-webhook')]) });
    await sleep(1000); // backoff with base 100 ms would have retried several times by now

    assert.equal(rejecting.received.length, 1, 'a 400 is not retried');
    assert.deepEqual(orders.discarded, [{ reason: 'HTTP 400', count: 1 }]);
    assert.equal(orders.delivered, 0);
    assert.deepEqual(orders.failed, []);
    const sample = orders.failures.find((f) => f.reason === 'HTTP 400');
    assert.ok(sample, 'a failure sample is kept for HTTP 400');
    assert.equal(sample.count, 1);
    assert.equal(sample.sample.messageId, 'perm-1');
    assert.match(sample.sample.event, /Order Completed/, 'the sample holds the event');
    const exchange = sample.sample.exchanges[0]!;
    assert.equal(exchange.request.method, 'POST');
    assert.equal(exchange.request.url, rejecting.url);
    assert.match(exchange.request.body, /"messageId":"perm-1"/, 'the sample holds the request body');
    assert.equal(exchange.response?.status, 400);
    assert.match(exchange.response?.body ?? '', /unknown field total/, 'the sample holds the response body');
    const sentHeaders = JSON.stringify(exchange.request.headers);
    assert.ok(!sentHeaders.includes('abc'), `the configured header's value is not shown: ${sentHeaders}`);

    assert.equal(broken.received.length, 3, 'exactly 3 attempts with SWITCHYARD_MAX_RETRIES=2');
    assert.equal(flaky.failed.length, 1);
    assert.match(flaky.failed[0]!.reason, /retries_exhausted/);
    assert.match(flaky.failed[0]!.reason, /HTTP 500/, 'the reason names the last error');
    assert.equal(flaky.failed[0]!.count, 1);
    assert.equal(flaky.attemptsFailed, 3);
    assert.equal(flaky.delivered, 0);
    const flakySample = flaky.failures.find((f) => /retries_exhausted/.test(f.reason));
    assert.equal(flakySample?.sample.exchanges[0]?.response?.status, 500);
    assert.equal(flakySample?.sample.attempt, 3);
  } finally {
    await h.cleanup();
  }
});

test('non-retryable and retryable statuses: 501 is discarded, 429 and timeouts are retried', async () => {
  const h = new Harness();
  try {
    const sink = await h.sink();
    const attempts = new Map<string, number>();
    sink.respond((r) => {
      const e = JSON.parse(r.body) as { event: string };
      const n = (attempts.get(e.event) ?? 0) + 1;
      attempts.set(e.event, n);
      if (e.event === 'Not Implemented') return { status: 501 };
      if (e.event === 'Rate Limited') return n === 1 ? { status: 429 } : { status: 200 };
      if (e.event === 'Slow') return n === 1 ? { status: 200, delayMs: 1500 } : { status: 200 };
      return { status: 200 };
    });
    const sy = await h.start({
      workspace: workspaceYaml([sink.url]),
      env: { SWITCHYARD_RETRY_BASE_MS: '100', SWITCHYARD_REQUEST_TIMEOUT_MS: '500' },
    });
    for (const event of ['Not Implemented', 'Rate Limited', 'Slow']) {
      assert.equal((await postTracking(sy.url, '/v1/track', { userId: 'u-5', event })).status, 200);
    }
    const stats = await waitUntil('two deliveries and one discard', async () => {
      const s = await deliveryStats(sy.url);
      return s.delivered >= 2 && s.discarded.length === 1 ? s : undefined;
    }, { describe: () => deliveryStats(sy.url) });
    await sleep(500);
    assert.equal(attempts.get('Not Implemented'), 1, '501 is not retried');
    assert.deepEqual(stats.discarded, [{ reason: 'HTTP 501', count: 1 }]);
    assert.equal(attempts.get('Rate Limited'), 2, '429 is retried');
    assert.equal(attempts.get('Slow'), 2, 'a timed-out request is retried');
    assert.equal(stats.delivered, 2, 'each event delivered once');
    assert.equal(stats.deliveredAfterRetry, 2);
  } finally {
    await h.cleanup();
  }
});

test('retries follow the configured backoff: with SWITCHYARD_RETRY_BASE_MS=100 a transient 503 is retried in well under a second', async () => {
  const h = new Harness();
  try {
    const sink = await h.sink();
    let n = 0;
    sink.respond(() => (++n % 2 === 1 ? { status: 503 } : { status: 200 }));
    const sy = await h.start({ workspace: workspaceYaml([sink.url]), env: { SWITCHYARD_RETRY_BASE_MS: '100' } });
    const gaps: number[] = [];
    for (let i = 0; i < 3; i++) {
      const from = sink.received.length;
      assert.equal((await postTracking(sy.url, '/v1/track', { userId: 'u-6', event: `Blip ${i}` })).status, 200);
      await sink.waitFor(from + 2, 10_000);
      gaps.push(sink.received[from + 1]!.at - sink.received[from]!.at);
      await sleep(300);
    }
    // The first retry waits 50-100 ms (base 100 ms, jitter in the upper half); allow scheduling slack.
    assert.ok(Math.max(...gaps) < 400, `gaps between the 503 and its retry: ${gaps.join(', ')} ms`);
  } finally {
    await h.cleanup();
  }
});

test('a pending retry survives a graceful restart and is delivered afterwards', async () => {
  const h = new Harness();
  try {
    const sink = await h.sink();
    let up = false;
    sink.respond(() => (up ? { status: 200 } : { status: 503, headers: { 'retry-after': '3' } }));
    const workspace = workspaceYaml([sink.url]);
    let sy = await h.start({ workspace, env: { SWITCHYARD_RETRY_BASE_MS: '200' } });
    const { dataDir, configFile } = sy;
    assert.equal((await postTracking(sy.url, '/v1/track', { userId: 'u-3', event: 'Survivor', messageId: 'survivor-1' })).status, 200);
    await sink.waitFor(1, 10_000);
    await waitUntil('the event to be waiting for a retry', async () => (await deliveryStats(sy.url)).retrying === 1, {
      describe: () => deliveryStats(sy.url),
    });
    const exit = await sy.stop();
    assert.equal(exit, 0, 'graceful stop exits 0');
    assert.equal(sink.received.length, 1, 'no retry before the stop (Retry-After: 3)');

    up = true;
    sy = await h.start({ workspace, dataDir, configFile, env: { SWITCHYARD_RETRY_BASE_MS: '200' } });
    await sink.waitFor(2, 15_000);
    assert.equal(idOf(sink.received[1]!), 'survivor-1');
    assert.ok(sink.received[1]!.at - sink.received[0]!.at >= 2950, 'the retry still waited for Retry-After across the restart');
    const stats = await waitUntil('the retry to be counted as delivered', async () => {
      const s = await deliveryStats(sy.url);
      return s.delivered >= 1 && s.retrying === 0 ? s : undefined;
    }, { describe: () => deliveryStats(sy.url) });
    await sleep(300);
    assert.equal(sink.received.length, 2, 'delivered once after the restart');
    assert.equal(stats.delivered, 1);
    assert.equal(stats.deliveredAfterRetry, 1, 'delivered as a retry, not as a new event');
  } finally {
    await h.cleanup();
  }
});
