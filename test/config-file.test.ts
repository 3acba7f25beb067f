/**
 * The workspace file as configuration-as-code on a running server: edits take
 * effect, a bad edit is refused with the path of the bad field while the
 * previous configuration keeps working, and a bad file at first start stops the
 * server with that path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Harness } from './helpers/harness.js';
import { startSwitchyard, workspaceYaml } from './helpers/switchyard.js';
import { postTracking, sleep, waitUntil } from './helpers/e2e.js';

/** Replaces the file the way editors and deploy tools do: write a temp file, rename it over. */
function replaceFile(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

const sixUrls = (base: string) => Array.from({ length: 6 }, (_, i) => `${base}?n=${i}`);

test('editing the workspace file re-routes events; an invalid edit is refused and the previous configuration stays', async () => {
  const h = new Harness();
  try {
    const first = await h.sink();
    const second = await h.sink();
    const sy = await h.start({ workspace: workspaceYaml([first.url]) });
    assert.equal((await postTracking(sy.url, '/v1/track', { userId: 'u', event: 'Before Edit', messageId: 'cfg-0' })).status, 200);
    await first.waitFor(1);

    // 1. Point the webhook at the second sink, editing in place.
    fs.writeFileSync(sy.configFile, workspaceYaml([second.url]));
    const editedAt = Date.now();
    let probe = 0;
    await waitUntil('events to reach the second sink after the edit', async () => {
      await postTracking(sy.url, '/v1/track', { userId: 'u', event: 'Probe', messageId: `cfg-probe-${probe++}` });
      return second.received.length > 0;
    }, { timeoutMs: 5000, intervalMs: 200 });
    const tookMs = Date.now() - editedAt;
    const firstCount = first.received.length;
    for (let i = 0; i < 5; i++) assert.equal((await postTracking(sy.url, '/v1/track', { userId: 'u', event: 'After Edit', messageId: `cfg-after-${i}` })).status, 200);
    await waitUntil('the five events at the second sink', () => second.received.filter((r) => r.body.includes('After Edit')).length === 5);
    await sleep(300);
    assert.equal(first.received.length, firstCount, 'nothing goes to the old URL after the edit took effect');
    assert.ok(second.received.every((r) => r.headers['x-token'] === 'abc'), 'headers from the file still apply');
    assert.ok(tookMs < 5000, `the edit took effect in ${tookMs} ms`);
    const probes = (s: typeof first) => s.received.map((r) => (JSON.parse(r.body) as { messageId: string }).messageId).filter((id) => id.startsWith('cfg-probe-'));
    await waitUntil('every probe sent around the edit to be delivered', () => probes(first).length + probes(second).length >= probe, { timeoutMs: 5000 });
    assert.deepEqual([...probes(first), ...probes(second)].sort(), Array.from({ length: probe }, (_, i) => `cfg-probe-${i}`).sort(), 'no event lost or doubled across the change');

    // 2. An invalid file (6 URLs; at most 5 are allowed), replaced atomically.
    const logsBefore = sy.logs.length;
    replaceFile(sy.configFile, workspaceYaml(sixUrls(second.url)));
    const errorLine = await waitUntil('the server to log the bad path', () => sy.logs.slice(logsBefore).find((l) => l.includes('destinations[0].settings.urls')), {
      timeoutMs: 5000,
      describe: () => sy.logs.slice(logsBefore),
    });
    const entry = JSON.parse(errorLine) as { level: number; msg: string };
    assert.ok(entry.level >= 50, 'logged as an error');
    assert.match(errorLine, /at most 5 URLs/);
    assert.match(errorLine, /keeping the previous configuration/);

    const secondCount = second.received.length;
    assert.equal((await postTracking(sy.url, '/v1/track', { userId: 'u', event: 'After Bad Edit', messageId: 'cfg-bad' })).status, 200);
    await second.waitFor(secondCount + 1);
    await sleep(300);
    assert.equal(second.received.length, secondCount + 1, 'the previous configuration (one URL) still delivers, once');
    const destinations = (await (await fetch(`${sy.url}/api/v1/destinations`)).json()) as { data: { destinations: { id: string; enabled: boolean }[] } };
    assert.deepEqual(destinations.data.destinations.map((d) => [d.id, d.enabled]), [['orders-webhook', true]]);

    // 3. Fixing the file applies again.
    replaceFile(sy.configFile, workspaceYaml([first.url]));
    let fix = 0;
    await waitUntil('events to reach the first sink again after the fix', async () => {
      await postTracking(sy.url, '/v1/track', { userId: 'u', event: 'Probe', messageId: `cfg-fix-${fix++}` });
      return first.received.length > firstCount;
    }, { timeoutMs: 5000, intervalMs: 200 });
  } finally {
    await h.cleanup();
  }
});

test('starting with an invalid workspace file and no previous configuration fails, naming the bad path', async () => {
  const h = new Harness();
  const dataDir = h.dataDir();
  try {
    await assert.rejects(
      startSwitchyard({ workspace: workspaceYaml(sixUrls('http://127.0.0.1:9/hook')), dataDir }),
      (err: Error) => {
        assert.match(err.message, /exited with 1/, 'the process exits with status 1');
        assert.match(err.message, /destinations\[0\]\.settings\.urls/, 'the error names the bad path');
        assert.match(err.message, /at most 5 URLs/);
        assert.match(err.message, /workspace\.yaml/, 'the error names the file');
        return true;
      },
    );
    // A typo in a field name is refused too, by path, rather than ignored.
    const typo = workspaceYaml(['http://127.0.0.1:9/hook']).replace('writeKey:', 'writekey:');
    await assert.rejects(startSwitchyard({ workspace: typo, dataDir }), /sources\[0\]\.writekey/);
  } finally {
    await h.cleanup();
  }
});

test('a disabled source answers 401 and delivers nothing; enabling it in the file lets events through', async () => {
  const h = new Harness();
  try {
    const sink = await h.sink();
    const file = (enabled: boolean) =>
      workspaceYaml([sink.url]).replace('    writeKey: wk_web_prod\n', `    writeKey: wk_web_prod\n    enabled: ${enabled}\n`);
    assert.match(file(false), /enabled: false/);
    const sy = await h.start({ workspace: file(false) });
    const res = await postTracking(sy.url, '/v1/track', { userId: 'u', event: 'While Disabled', messageId: 'dis-1' });
    assert.equal(res.status, 401);
    assert.match((res.body as { error: string }).error, /disabled/);
    const settings = await fetch(`${sy.url}/v1/projects/wk_web_prod/settings`);
    assert.equal(settings.status, 404, 'the browser library gets no settings for a disabled source');

    fs.writeFileSync(sy.configFile, file(true));
    await waitUntil('the source to accept events once enabled', async () => {
      const r = await postTracking(sy.url, '/v1/track', { userId: 'u', event: 'Enabled', messageId: 'dis-2' });
      return r.status === 200;
    }, { timeoutMs: 5000, intervalMs: 200 });
    await sink.waitFor(1);
    await sleep(300);
    assert.deepEqual(sink.received.map((r) => (JSON.parse(r.body) as { messageId: string }).messageId), ['dis-2'], 'only the event sent while enabled is delivered');
  } finally {
    await h.cleanup();
  }
});
