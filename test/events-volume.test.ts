/**
 * `EventsApi.getEventsVolumeFromWorkspace` of the official Public API client: the
 * workspace's event volume by minute, hour or day, grouped by source, event name and
 * type, filtered, paginated, scoped to a role's sources, and bad queries refused with
 * the field named.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventsApi } from '@segment/public-api-sdk-typescript';
import { startSwitchyard } from './helpers/switchyard.js';
import { client, rejects } from './helpers/public-api.js';

const WORKSPACE = `workspace: { slug: acme }
sources:
  - slug: web
    writeKey: wk_web
  - slug: app
    writeKey: wk_app
destinations: []
`;

test('the official client reads the event volume, grouped, filtered, paginated and scoped', async () => {
  const sy = await startSwitchyard({ workspace: WORKSPACE, env: { SWITCHYARD_ADMIN_TOKEN: 'tok' } });
  try {
    const send = (key: string, body: object) => fetch(`${sy.url}/v1/track`, {
      method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    for (let i = 0; i < 3; i++) assert.equal((await send('wk_web', { userId: 'u', event: 'Order Completed' })).status, 200);
    assert.equal((await send('wk_web', { userId: 'u', event: 'Viewed' })).status, 200);
    assert.equal((await fetch(`${sy.url}/v1/page`, {
      method: 'POST', headers: { authorization: `Basic ${Buffer.from('wk_app:').toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ anonymousId: 'a', name: 'Home' }),
    })).status, 200);
    assert.equal((await send('wk_app', { userId: 'u', event: 'Signed Up' })).status, 200);

    const events = client(EventsApi, sy.url, 'tok');
    // The previous hour, this one and the next (the hour may turn during the test).
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const start = new Date(hour - 3_600_000).toISOString();
    const end = new Date(hour + 2 * 3_600_000).toISOString();
    type Volume = Awaited<ReturnType<EventsApi['getEventsVolumeFromWorkspace']>>['body']['data'];
    let all: NonNullable<Volume>;
    // Figures are flushed each second.
    for (let tries = 0; ; tries++) {
      all = (await events.getEventsVolumeFromWorkspace('HOUR', start, end)).body.data!;
      if (all.result[0]?.total === 6 || tries > 40) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(all.path, '/events/volume');
    assert.deepEqual([all.query.workspaceId, all.query.granularity, all.query.startTime, all.query.endTime], ['acme', 'HOUR', start, end]);
    assert.equal(all.result.length, 1);
    assert.equal(all.result[0]!.total, 6);
    assert.deepEqual(all.result[0]!.series.map((p) => p.time), [0, 1, 2].map((i) => new Date(hour + (i - 1) * 3_600_000).toISOString()), 'every bucket of the window, empty ones too');
    assert.equal(all.result[0]!.series[0]!.count, 0);
    assert.equal(all.result[0]!.series.reduce((n, p) => n + p.count, 0), 6);

    const grouped = (await events.getEventsVolumeFromWorkspace('HOUR', start, end, ['source', 'eventName'])).body.data!;
    const rows = (v: NonNullable<Volume>) => v.result.map((r) => `${r.source?.slug ?? '-'} ${r.eventType ?? '-'} ${r.eventName ?? '-'} ${r.total}`).sort();
    assert.deepEqual(rows(grouped), ['app - Home 1', 'app - Signed Up 1', 'web - Order Completed 3', 'web - Viewed 1']);
    assert.equal(grouped.result[0]!.eventName, 'Order Completed', 'largest total first');
    assert.deepEqual(grouped.result[0]!.source && { ...grouped.result[0]!.source }, { id: 'web', slug: 'web', name: 'web' });
    const byType = (await events.getEventsVolumeFromWorkspace('DAY', start, end, ['eventType'])).body.data!;
    assert.deepEqual(rows(byType), ['- page - 1', '- track - 5']);
    const filtered = (await events.getEventsVolumeFromWorkspace('MINUTE', start, end, ['eventName'], ['web'], undefined, ['TRACK'])).body.data!;
    assert.deepEqual(rows(filtered), ['- - Order Completed 3', '- - Viewed 1']);
    assert.equal(filtered.result[0]!.series.length, 180, 'three hours by minute');
    assert.equal(filtered.result[0]!.series.reduce((n, p) => n + p.count, 0), 3);
    // Pagination over the series.
    const p1 = (await events.getEventsVolumeFromWorkspace('HOUR', start, end, ['eventName'], undefined, undefined, undefined, undefined, { count: 3 })).body.data!;
    assert.equal(p1.result.length, 3);
    assert.equal(p1.pagination!.totalEntries, 4);
    const p2 = (await events.getEventsVolumeFromWorkspace('HOUR', start, end, ['eventName'], undefined, undefined, undefined, undefined, { count: 3, cursor: p1.pagination!.next! })).body.data!;
    assert.equal(p2.result.length, 1);

    // A role scoped to the app source counts only app's events, and cannot name web.
    const made = await fetch(`${sy.url}/tokens`, {
      method: 'POST', headers: { authorization: 'Bearer tok', 'content-type': 'application/json' },
      body: JSON.stringify({ description: 'app', permissions: [{ roleId: 'source-read-only', resources: [{ type: 'SOURCE', id: 'app' }] }] }),
    });
    const scoped = client(EventsApi, sy.url, ((await made.json()) as { data: { token: string } }).data.token);
    assert.deepEqual(rows((await scoped.getEventsVolumeFromWorkspace('HOUR', start, end, ['source'])).body.data!), ['app - - 2']);
    await rejects(scoped.getEventsVolumeFromWorkspace('HOUR', start, end, undefined, ['web']), 404, (e) => e.field === 'sourceId');

    // Bad queries name their field.
    await rejects(events.getEventsVolumeFromWorkspace('WEEK' as never, start, end), 400, (e) => e.field === 'granularity');
    await rejects(events.getEventsVolumeFromWorkspace('HOUR', end, start), 400, (e) => e.field === 'endTime');
    await rejects(events.getEventsVolumeFromWorkspace('HOUR', 'yesterday', end), 400, (e) => e.field === 'startTime');
    await rejects(events.getEventsVolumeFromWorkspace('HOUR', start, end, ['country']), 400, (e) => e.field === 'groupBy');
    await rejects(events.getEventsVolumeFromWorkspace('HOUR', start, end, undefined, undefined, undefined, undefined, ['1.2.0']), 400, (e) => e.field === 'appVersion');
    await rejects(events.getEventsVolumeFromWorkspace('MINUTE', new Date(Date.now() - 13 * 86_400_000).toISOString(), end), 400, (e) => e.field === 'granularity');
  } finally {
    await sy.stop();
  }
});
