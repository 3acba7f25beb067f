/**
 * Unify end to end: @segment/analytics-node sends to a real Switchyard whose workspace
 * file declares a Unify space; the identity graph is built from the event log by the
 * consumer thread, and Segment's Profile API answers for the resolved profile.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Analytics } from '@segment/analytics-node';
import { Harness } from './helpers/harness.js';
import type { SwitchyardProcess } from './helpers/switchyard.js';
import { waitUntil } from './helpers/e2e.js';

const TOKEN = 'tok_profile_api_0123456789';
const SPACE = 'dev-space';
const WORKSPACE = `workspace: { slug: acme }
sources:
  - slug: web-prod
    writeKey: wk_web_prod
  - slug: backend
    writeKey: wk_backend
unify:
  space: { slug: ${SPACE}, name: Dev }
  sources: [web-prod]
  accessToken: ${TOKEN}
`;

const h = new Harness();
let sy: SwitchyardProcess;

before(async () => {
  sy = await h.start({ workspace: WORKSPACE });
});
after(() => h.cleanup());

async function send(writeKey: string, calls: (a: Analytics) => void): Promise<void> {
  const analytics = new Analytics({ writeKey, host: sy.url, flushAt: 100, flushInterval: 50 });
  const statuses: number[] = [];
  analytics.on('http_response', (r) => statuses.push(r.status));
  calls(analytics);
  await analytics.closeAndFlush({ timeout: 30_000 });
  assert.deepEqual([...new Set(statuses)], [200], 'the Tracking API took every request');
}

const auth = (token: string) => `Basic ${Buffer.from(`${token}:`).toString('base64')}`;

async function profile(identifier: string, resource: string, query = '', token = TOKEN, space = SPACE): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(`${sy.url}/v1/spaces/${space}/collections/users/profiles/${encodeURIComponent(identifier)}/${resource}${query}`, {
    headers: { authorization: auth(token), origin: 'https://evil.example' },
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

test('an anonymous visitor who identifies is one profile, read through the Profile API by user_id, anonymous_id and email', async () => {
  await send('wk_web_prod', (a) => {
    a.page({ anonymousId: 'anon-e2e', name: 'Pricing', properties: { url: 'https://example.com/pricing' } });
  });
  await send('wk_web_prod', (a) => {
    a.identify({ userId: 'u-e2e', anonymousId: 'anon-e2e', traits: { email: 'Ada@Example.COM', name: 'Ada', plan: 'pro' } });
    a.track({ userId: 'u-e2e', event: 'Order Completed', properties: { total: 42 } });
  });
  // A source that is not in the space: its events never reach the graph.
  await send('wk_backend', (a) => {
    a.identify({ userId: 'u-backend', traits: { name: 'Backend' } });
    a.track({ userId: 'u-e2e', event: 'Backend Only' });
  });
  // Sent after the backend's (so later in the log): once it is in the graph, the backend's events were passed over.
  await send('wk_web_prod', (a) => a.track({ userId: 'u-e2e', event: 'Marker' }));

  const events = await waitUntil('the four web events on the profile', async () => {
    const r = await profile('user_id:u-e2e', 'events', '?limit=100');
    return r.status === 200 && r.body.data.length === 4 ? r.body : undefined;
  }, { timeoutMs: 30_000, describe: () => profile('user_id:u-e2e', 'events', '?limit=100') });

  // Events: newest first, Segment's shape, none from the backend source.
  assert.deepEqual(events.data.map((e: any) => [e.type, e.event]), [['track', 'Marker'], ['track', 'Order Completed'], ['identify', null], ['page', 'Pricing']]);
  const segmentId: string = events.data[0].related.users;
  assert.match(segmentId, /^use_[0-9A-Za-z]{27}$/);
  for (const e of events.data) {
    assert.equal(e.source_id, 'web-prod');
    assert.equal(e.related.users, segmentId);
    assert.equal(typeof e.message_id, 'string');
    assert.ok(!Number.isNaN(Date.parse(e.timestamp)));
    assert.equal(typeof e.context, 'object');
  }
  assert.deepEqual(events.data[1].properties, { total: 42 });
  assert.deepEqual(events.data[2].external_ids.map((x: any) => `${x.collection}/${x.type}:${x.id}/${x.encoding}`).sort(),
    ['users/anonymous_id:anon-e2e/none', 'users/email:ada@example.com/none', 'users/user_id:u-e2e/none']);
  assert.deepEqual(events.cursor, { url: `/v1/spaces/${SPACE}/collections/users/profiles/${segmentId}/events`, has_more: false, next: '', limit: 100 });

  // The same profile by every identifier (email in any case: stored lower-cased).
  for (const id of ['user_id:u-e2e', 'anonymous_id:anon-e2e', 'email:ada@example.com', 'email:ADA@example.com', `segment_id:${segmentId}`]) {
    const traits = await profile(id, 'traits');
    assert.equal(traits.status, 200, id);
    assert.deepEqual(traits.body.traits, { email: 'Ada@Example.COM', name: 'Ada', plan: 'pro' }, id);
    assert.deepEqual(traits.body.cursor, { url: `/v1/spaces/${SPACE}/collections/users/profiles/${segmentId}/traits`, has_more: false, next: '', limit: 10 }, id);
    assert.equal(traits.headers.get('access-control-allow-origin'), null, 'the Profile API does not do CORS');
  }
  const ids = await profile('anonymous_id:anon-e2e', 'external_ids');
  assert.equal(ids.status, 200);
  assert.deepEqual(ids.body.data.map((x: any) => `${x.type}:${x.id}`).sort(), ['anonymous_id:anon-e2e', 'email:ada@example.com', 'user_id:u-e2e']);
  for (const x of ids.body.data) {
    assert.equal(x.source_id, 'web-prod');
    assert.equal(x.collection, 'users');
    assert.equal(x.encoding, 'none');
    assert.ok(!Number.isNaN(Date.parse(x.created_at)));
  }
  assert.equal(ids.body.cursor.has_more, false);

  // Traits: include, verbose, paging.
  const some = await profile('email:ada@example.com', 'traits', '?include=name,plan&verbose=true');
  assert.deepEqual(Object.keys(some.body.traits).sort(), ['name', 'plan']);
  assert.equal(some.body.traits.name.value, 'Ada');
  assert.equal(some.body.traits.name.source_id, 'web-prod');
  const page1 = await profile('user_id:u-e2e', 'traits', '?limit=2');
  assert.equal(page1.body.cursor.has_more, true);
  const page2 = await profile('user_id:u-e2e', 'traits', `?limit=2&next=${page1.body.cursor.next}`);
  assert.deepEqual({ ...page1.body.traits, ...page2.body.traits }, { email: 'Ada@Example.COM', name: 'Ada', plan: 'pro' });
  assert.equal(page2.body.cursor.has_more, false);

  // Events: filters and paging.
  const tracks = await profile('user_id:u-e2e', 'events', '?include=Order%20Completed');
  assert.deepEqual(tracks.body.data.map((e: any) => e.event), ['Order Completed']);
  const asc = await profile('user_id:u-e2e', 'events', '?sort=asc&limit=3');
  assert.deepEqual(asc.body.data.map((e: any) => e.type), ['page', 'identify', 'track']);
  assert.equal(asc.body.cursor.has_more, true);
  const rest = await profile('user_id:u-e2e', 'events', `?sort=asc&limit=3&next=${asc.body.cursor.next}`);
  assert.deepEqual(rest.body.data.map((e: any) => e.event), ['Marker']);

  const meta = await profile('user_id:u-e2e', 'metadata');
  assert.equal(meta.status, 200);
  assert.equal(meta.body.metadata.first_source_id, 'web-prod');
  assert.equal(meta.body.metadata.expires_at, null);
  assert.equal(meta.body.metadata.first_message_id, events.data[3].message_id, 'the page made the profile');

  // The other source's user never became a profile.
  const other = await profile('user_id:u-backend', 'traits');
  assert.equal(other.status, 404);
  assert.deepEqual(other.body, { error: { code: 'not_found', message: 'Profile was not found.' } });
});

test('the Profile API refuses a wrong or missing token (401), an unknown profile or space (404) and a bad parameter (400)', async () => {
  const wrong = await profile('user_id:u-e2e', 'traits', '', 'tok_wrong_0123456789abc');
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.error.code, 'authentication_error');
  const none = await fetch(`${sy.url}/v1/spaces/${SPACE}/collections/users/profiles/user_id:u-e2e/traits`);
  assert.equal(none.status, 401);

  const unknown = await profile('user_id:nobody', 'events');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, 'not_found');
  const space = await profile('user_id:u-e2e', 'traits', '', TOKEN, 'another-space');
  assert.equal(space.status, 404);

  for (const [resource, query] of [['events', '?limit=0'], ['events', '?limit=101'], ['traits', '?limit=abc'], ['traits', '?limit=201'], ['external_ids', '?limit=-1']] as const) {
    const r = await profile('user_id:u-e2e', resource, query);
    assert.equal(r.status, 400, `${resource}${query}`);
    assert.equal(r.body.error.code, 'validation_error');
    assert.match(r.body.error.message, /`limit`/, 'the message names the parameter');
  }
  const sort = await profile('user_id:u-e2e', 'events', '?sort=sideways');
  assert.equal(sort.status, 400);
  assert.match(sort.body.error.message, /`sort`/);
  const cursor = await profile('user_id:u-e2e', 'events', '?next=garbage');
  assert.equal(cursor.status, 400);
  assert.match(cursor.body.error.message, /`next`/);
  const identifier = await profile('nocolon', 'traits');
  assert.equal(identifier.status, 400);
  assert.match(identifier.body.error.message, /`identifier`/);
});

test('the Tracking API keeps its own paths: GET on /v1/track is still 405', async () => {
  const res = await fetch(`${sy.url}/v1/track`);
  assert.equal(res.status, 405);
});

test('removing unify: from the workspace file turns the Profile API off and drops the lane', async () => {
  fs.writeFileSync(sy.configFile, WORKSPACE.replace(/unify:[\s\S]*$/, ''));
  await waitUntil('the Profile API to stop answering', async () => (await profile('user_id:u-e2e', 'traits')).status === 404, { timeoutMs: 20_000 });
  const r = await profile('user_id:u-e2e', 'traits');
  assert.deepEqual(r.body, { error: { code: 'not_found', message: 'Space was not found.' } });
  const db = new Database(path.join(sy.dataDir, 'log.db'), { readonly: true });
  try {
    const lanes = (db.prepare(`SELECT lane_id FROM lanes`).all() as { lane_id: string }[]).map((l) => l.lane_id);
    assert.deepEqual(lanes.filter((l) => l.startsWith('unify:')), [], 'no lane holds the log back for a space that is gone');
  } finally {
    db.close();
  }
});

test('the server stops cleanly with the unify thread, and logged no error', async () => {
  const code = await sy.stop();
  assert.equal(code, 0);
  const errors = sy.logs.filter((l) => l.startsWith('{') && (JSON.parse(l) as { level: number }).level >= 50);
  assert.deepEqual(errors, []);
});

test('after a restart the graph is still there, and new events join the same profile', async () => {
  sy = await h.start({ workspace: WORKSPACE, dataDir: sy.dataDir });
  const before = await profile('email:ada@example.com', 'traits');
  assert.equal(before.status, 200);
  assert.equal(before.body.traits.name, 'Ada');
  await send('wk_web_prod', (a) => a.identify({ userId: 'u-e2e', traits: { plan: 'enterprise' } }));
  const traits = await waitUntil('the new trait', async () => {
    const r = await profile('anonymous_id:anon-e2e', 'traits');
    return r.body.traits?.plan === 'enterprise' ? r.body.traits : undefined;
  }, { timeoutMs: 30_000 });
  assert.deepEqual(traits, { email: 'Ada@Example.COM', name: 'Ada', plan: 'enterprise' });
  const events = await profile('user_id:u-e2e', 'events', '?limit=100');
  assert.equal(events.body.data.length, 5);
});
