import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { startSwitchyard, workspaceYaml } from './helpers/switchyard.js';
import { startSink } from './helpers/sink.js';

const AUTH = { authorization: `Basic ${Buffer.from('wk_web_prod:').toString('base64')}`, 'content-type': 'application/json' };
const ADMIN = { authorization: 'Bearer admin-secret' };

interface Entry {
  type: string;
  event?: string;
  messageId: string;
  raw: { writeKey?: string; event?: string };
  enriched: { receivedAt: string; channel: string; writeKey?: string };
}

/** Opens the SSE stream and collects events until `until` says stop. */
function stream(url: string, until: (events: { event: string; data: unknown }[]) => boolean): Promise<{ event: string; data: unknown }[]> {
  return new Promise((resolve, reject) => {
    const got: { event: string; data: unknown }[] = [];
    const req = http.get(url, { headers: ADMIN }, (res) => {
      assert.equal(res.headers['content-type'], 'text/event-stream');
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString();
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) got.push({ event, data: JSON.parse(data) });
          if (until(got)) {
            req.destroy();
            resolve(got);
          }
        }
      });
    });
    req.on('error', (err) => (got.length ? resolve(got) : reject(err)));
    setTimeout(() => (req.destroy(), reject(new Error(`stream timed out with ${got.length} events`))), 10_000);
  });
}

test('the source debugger shows raw and enriched events, newest first, live over SSE, filtered', async () => {
  const sink = await startSink();
  const sy = await startSwitchyard({ workspace: workspaceYaml([sink.url]), env: { SWITCHYARD_ADMIN_TOKEN: 'admin-secret' } });
  try {
    const send = (body: object, path = 'track') =>
      fetch(`${sy.url}/v1/${path}`, { method: 'POST', headers: AUTH, body: JSON.stringify(body) }).then((r) => assert.equal(r.status, 200));
    await send({ userId: 'u1', event: 'First' });
    await send({ userId: 'u1', traits: { plan: 'pro' } }, 'identify');
    await fetch(`${sy.url}/v1/t`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ writeKey: 'wk_web_prod', anonymousId: 'a1', event: 'Browser' }) });

    assert.equal((await fetch(`${sy.url}/api/v1/sources/web-prod/debugger/recent`)).status, 401, 'the admin token guards it');
    const recent = (await (await fetch(`${sy.url}/api/v1/sources/web-prod/debugger/recent`, { headers: ADMIN })).json()) as { data: { events: Entry[] } };
    assert.deepEqual(recent.data.events.map((e) => e.event ?? e.type), ['Browser', 'identify', 'First'], 'newest first');
    const browser = recent.data.events[0]!;
    assert.equal(browser.raw.writeKey, 'wk_web_prod', 'raw is what the client sent');
    assert.equal(browser.enriched.writeKey, undefined, 'enriched is what is stored');
    assert.equal(browser.enriched.channel, 'client');
    const tracks = (await (await fetch(`${sy.url}/api/v1/sources/web-prod/debugger/recent?type=track&event=First`, { headers: ADMIN })).json()) as { data: { events: Entry[] } };
    assert.deepEqual(tracks.data.events.map((e) => e.event), ['First']);

    const live = stream(`${sy.url}/api/v1/sources/web-prod/debugger?type=track`, (got) => got.some((g) => g.event === 'event'));
    await new Promise((r) => setTimeout(r, 300));
    await send({ userId: 'u2', traits: {} }, 'identify'); // filtered out of the stream
    await send({ userId: 'u2', event: 'Live One' });
    const got = await live;
    assert.equal(got[0]!.event, 'recent');
    assert.deepEqual((got[0]!.data as Entry[]).map((e) => e.event), ['Browser', 'First']);
    const liveEvents = got.filter((g) => g.event === 'event').map((g) => (g.data as Entry).event);
    assert.deepEqual(liveEvents, ['Live One']);
    assert.equal((await fetch(`${sy.url}/api/v1/sources/nope/debugger/recent`, { headers: ADMIN })).status, 404);
  } finally {
    await sy.stop();
    await sink.close();
  }
});

test('under load the debugger keeps a bounded sample and every event is still accepted', async () => {
  const sink = await startSink();
  const sy = await startSwitchyard({ workspace: workspaceYaml([sink.url]) });
  try {
    const batch = (n: number) => ({ batch: Array.from({ length: 100 }, (_, i) => ({ type: 'track', userId: 'u', event: `E${n}-${i}`, properties: { pad: 'x'.repeat(200) } })) });
    for (let n = 0; n < 20; n++) {
      const r = await fetch(`${sy.url}/v1/batch`, { method: 'POST', headers: AUTH, body: JSON.stringify(batch(n)) });
      assert.equal(r.status, 200);
    }
    const recent = (await (await fetch(`${sy.url}/api/v1/sources/web-prod/debugger/recent`)).json()) as { data: { events: Entry[] } };
    assert.ok(recent.data.events.length > 0 && recent.data.events.length <= 200, `a bounded sample (${recent.data.events.length})`);
    await sink.waitFor(2000, 20_000);
  } finally {
    await sy.stop();
    await sink.close();
  }
});

test('on one machine the debugger keeps its samples across a graceful restart; a damaged saved file starts it empty', async () => {
  const sink = await startSink();
  const first = await startSwitchyard({ workspace: workspaceYaml([sink.url]), env: { SWITCHYARD_ADMIN_TOKEN: 'admin-secret' } });
  const recent = async (url: string) =>
    ((await (await fetch(`${url}/api/v1/sources/web-prod/debugger/recent`, { headers: ADMIN })).json()) as { data: { events: Entry[] } }).data.events;
  let second: Awaited<ReturnType<typeof startSwitchyard>> | undefined;
  try {
    for (const event of ['Before One', 'Before Two']) {
      const res = await fetch(`${first.url}/v1/track`, { method: 'POST', headers: AUTH, body: JSON.stringify({ userId: 'u1', event }) });
      assert.equal(res.status, 200);
    }
    assert.equal(await first.stop(), 0);
    const saved = fs.statSync(path.join(first.dataDir, 'debugger.json'));
    assert.equal(saved.mode & 0o777, 0o600, 'the saved samples are the owner\'s only');
    second = await startSwitchyard({ workspace: workspaceYaml([sink.url]), dataDir: first.dataDir, env: { SWITCHYARD_ADMIN_TOKEN: 'admin-secret' } });
    assert.deepEqual((await recent(second.url)).map((e) => e.event), ['Before Two', 'Before One'], 'newest first, as before the restart');
    const res = await fetch(`${second.url}/v1/track`, { method: 'POST', headers: AUTH, body: JSON.stringify({ userId: 'u1', event: 'After' }) });
    assert.equal(res.status, 200);
    assert.deepEqual((await recent(second.url)).map((e) => e.event), ['After', 'Before Two', 'Before One']);
    assert.equal(await second.stop(), 0);
    fs.writeFileSync(path.join(first.dataDir, 'debugger.json'), '{"version": 1, "sources": [[');
    second = await startSwitchyard({ workspace: workspaceYaml([sink.url]), dataDir: first.dataDir, env: { SWITCHYARD_ADMIN_TOKEN: 'admin-secret' } });
    assert.deepEqual(await recent(second.url), [], 'a damaged file: an empty debugger, and the server runs');
  } finally {
    await second?.stop();
    await first.stop();
    await sink.close();
  }
});
