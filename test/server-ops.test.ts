import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSwitchyard, workspaceYaml } from './helpers/switchyard.js';
import { startSink } from './helpers/sink.js';

const AUTH = { authorization: `Basic ${Buffer.from('wk_web_prod:').toString('base64')}`, 'content-type': 'application/json' };

test('the workspace rate limit delays routing but drops nothing', async () => {
  const sink = await startSink();
  const yaml = workspaceYaml([sink.url]).replace('workspace: { slug: acme }', 'workspace: { slug: acme, rateLimit: 100 }');
  const sy = await startSwitchyard({ workspace: yaml });
  try {
    const batch = Array.from({ length: 300 }, (_, i) => ({ type: 'track', userId: `u${i}`, event: 'Rated', properties: { i } }));
    const sentAt = Date.now();
    const res = await fetch(`${sy.url}/v1/batch`, { method: 'POST', headers: AUTH, body: JSON.stringify({ batch }) });
    assert.equal(res.status, 200, 'events over the limit are still accepted');
    await sink.waitFor(300, 20_000);
    const span = sink.received[299]!.at - sentAt;
    // 100/s with a one-second burst: 300 events need about 2 s more.
    assert.ok(span >= 1500, `300 events at 100/s took ${span} ms`);
    const ids = new Set(sink.received.map((r) => (JSON.parse(r.body) as { properties: { i: number } }).properties.i));
    assert.equal(ids.size, 300, 'every event arrives once');
  } finally {
    await sy.stop();
    await sink.close();
  }
});

test('context.ip comes from X-Forwarded-For only when the peer is a trusted proxy', async () => {
  const sink = await startSink();
  const trusted = await startSwitchyard({ workspace: workspaceYaml([sink.url]), env: { SWITCHYARD_TRUSTED_PROXIES: '127.0.0.1' } });
  const untrusted = await startSwitchyard({ workspace: workspaceYaml([sink.url]) });
  try {
    for (const sy of [trusted, untrusted]) {
      const res = await fetch(`${sy.url}/v1/track`, {
        method: 'POST',
        headers: { ...AUTH, 'x-forwarded-for': '203.0.113.7' },
        body: JSON.stringify({ userId: 'u', event: 'Proxied' }),
      });
      assert.equal(res.status, 200);
    }
    await sink.waitFor(2);
    const ips = sink.received.map((r) => (JSON.parse(r.body) as { context: { ip: string } }).context.ip).sort();
    assert.deepEqual(ips, ['127.0.0.1', '203.0.113.7']);
  } finally {
    await trusted.stop();
    await untrusted.stop();
    await sink.close();
  }
});

test('with free disk under the threshold, ingest answers 503 and /ready says why; /health stays up', async () => {
  const sink = await startSink();
  const sy = await startSwitchyard({ workspace: workspaceYaml([sink.url]), env: { SWITCHYARD_MIN_FREE_DISK_MB: String(1024 * 1024 * 1024) } });
  try {
    const res = await fetch(`${sy.url}/v1/track`, { method: 'POST', headers: AUTH, body: JSON.stringify({ userId: 'u', event: 'x' }) });
    assert.equal(res.status, 503);
    assert.match(((await res.json()) as { error: string }).error, /disk/);
    const ready = await fetch(`${sy.url}/ready`);
    assert.equal(ready.status, 503);
    assert.match(((await ready.json()) as { reason: string }).reason, /disk/);
    assert.equal((await fetch(`${sy.url}/health`)).status, 200);
  } finally {
    await sy.stop();
    await sink.close();
  }
});

test('browsers get CORS answers and the analytics.js settings for a write key', async () => {
  const sink = await startSink();
  const sy = await startSwitchyard({ workspace: workspaceYaml([sink.url]) });
  try {
    const pre = await fetch(`${sy.url}/v1/t`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'https://shop.example');
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
    const settings = await fetch(`${sy.url}/v1/projects/wk_web_prod/settings`);
    assert.equal(settings.status, 200);
    const body = (await settings.json()) as { integrations: Record<string, { apiKey: string; apiHost: string }> };
    assert.equal(body.integrations['Segment.io']!.apiKey, 'wk_web_prod');
    assert.equal(body.integrations['Segment.io']!.apiHost, `${new URL(sy.url).host}/v1`);
    assert.equal((await fetch(`${sy.url}/v1/projects/nope/settings`)).status, 404);
    assert.equal((await fetch(`${sy.url}/ready`)).status, 200);
  } finally {
    await sy.stop();
    await sink.close();
  }
});

test('no driver is loaded until it is needed: DuckDB, the S3 client, nats, pg and nodemailer stay unloaded at start, in the HTTP thread and in the loaders\' modules', async () => {
  // Loading them at start cost ~37 MB of RSS on every server (bench: backlog, session 10);
  // the loader thread holds DuckDB only for a DuckDB warehouse or a lake, pg only for PostgreSQL.
  const modules = ['../src/cli/main.js', '../src/storage/warehouse/dialects.js', '../src/storage/lake/loader.js'].map((m) => fileURLToPath(new URL(m, import.meta.url)));
  const script = `import { createRequire } from 'node:module';
    for (const m of ${JSON.stringify(modules)}) await import(m);
    console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;
  const loaded = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as string[];
  assert.ok(loaded.some((f) => f.includes('/node_modules/fastify/')), 'the probe sees the CommonJS modules the server loads');
  for (const pkg of ['@duckdb/', '@aws-sdk/', 'nats', 'pg', 'nodemailer']) {
    const hits = loaded.filter((f) => f.includes(`/node_modules/${pkg}${pkg.endsWith('/') ? '' : '/'}`));
    assert.deepEqual(hits, [], `${pkg} is loaded at start`);
  }
});
