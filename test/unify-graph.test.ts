/**
 * The identity graph (src/unify) on its own: Segment's flat matching logic, merge
 * protection by limit and priority, where identifiers are promoted from, traits,
 * and idempotent re-delivery. The database is a real unify.db in a temp directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultIdentityRules, type UnifySpace } from '../src/unify/config.js';
import { openUnifyDb, type UnifyDb } from '../src/unify/db.js';
import { IdentityGraph, type GraphMessage } from '../src/unify/graph.js';
import { ProfileReader } from '../src/unify/query.js';
import { extractExternalIds } from '../src/unify/extract.js';

const SPACE: UnifySpace = {
  id: 'dev', slug: 'dev', name: 'dev', sourceIds: ['web'], accessToken: 'x'.repeat(16), rules: defaultIdentityRules(), blockedValues: [],
};

function fresh(space: UnifySpace = SPACE, eventsPerProfile?: number): { db: UnifyDb; graph: IdentityGraph; reader: ProfileReader; close(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-unify-'));
  const db = openUnifyDb(path.join(dir, 'unify.db'));
  return {
    db,
    graph: new IdentityGraph(db, space, { eventsPerProfile }),
    reader: new ProfileReader(db),
    close: () => {
      db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

let n = 0;
const at = Date.parse('2026-01-01T00:00:00Z');
function msg(body: Record<string, unknown>, opts: { sourceId?: string; messageId?: string; receivedAt?: number } = {}): GraphMessage {
  const messageId = opts.messageId ?? `m-${++n}`;
  const receivedAt = opts.receivedAt ?? at + n * 1000;
  return { sourceId: opts.sourceId ?? 'web', messageId, receivedAt, payload: JSON.stringify({ type: 'track', event: 'E', messageId, timestamp: new Date(receivedAt).toISOString(), ...body }) };
}

const idsOf = (reader: ProfileReader, profileId: string) =>
  reader.externalIds(profileId, { limit: 100 })!.items.map((x) => `${x.type}:${x.id}`).sort();

test('an anonymous visitor who then identifies is one profile, found by every identifier', (t) => {
  const g = fresh();
  t.after(g.close);
  g.graph.applyBatch([msg({ type: 'page', name: 'Pricing', anonymousId: 'anon-1' })]);
  const anon = g.reader.find('anonymous_id', 'anon-1');
  assert.ok(anon?.startsWith('use_'), 'the page made a profile with a segment id');
  const counts = g.graph.applyBatch([
    msg({ type: 'identify', anonymousId: 'anon-1', userId: 'u1', traits: { email: 'Ada@Example.COM', name: 'Ada' } }),
    msg({ userId: 'u1', event: 'Order Completed' }),
  ]);
  assert.deepEqual(counts, { applied: 2, duplicates: 0, unresolved: 0, invalid: 0, merges: 0 });
  assert.equal(g.reader.find('user_id', 'u1'), anon);
  assert.equal(g.reader.find('email', 'ada@example.com'), anon, 'email is stored lower-cased');
  assert.equal(g.reader.find('email', 'ADA@example.com'), anon, 'and looked up lower-cased');
  assert.equal(g.reader.find('segment_id', anon!), anon);
  assert.deepEqual(idsOf(g.reader, anon!), ['anonymous_id:anon-1', 'email:ada@example.com', 'user_id:u1']);
  assert.equal(g.reader.events(anon!, { limit: 10, sort: 'desc' })!.items.length, 3);
});

test('two profiles that one event ties together merge into the older; the other segment id still finds it', (t) => {
  const g = fresh();
  t.after(g.close);
  g.graph.applyBatch([msg({ anonymousId: 'a1' }), msg({ anonymousId: 'a2', userId: 'u1' })]);
  const p1 = g.reader.find('anonymous_id', 'a1')!;
  const p2 = g.reader.find('user_id', 'u1')!;
  assert.notEqual(p1, p2);
  const counts = g.graph.applyBatch([msg({ type: 'identify', anonymousId: 'a1', userId: 'u1' })]);
  assert.equal(counts.merges, 1);
  assert.equal(g.reader.find('user_id', 'u1'), p1, 'the older profile survives');
  assert.equal(g.reader.find('segment_id', p2), p1, 'the merged-away id follows the merge');
  assert.deepEqual(idsOf(g.reader, p1), ['anonymous_id:a1', 'anonymous_id:a2', 'user_id:u1']);
  assert.equal(g.reader.events(p1, { limit: 10, sort: 'desc' })!.items.length, 3, 'the events of both profiles');
});

test('merge protection: a second user on a shared anonymous id gets a profile of their own (user_id limit 1)', (t) => {
  const g = fresh();
  t.after(g.close);
  g.graph.applyBatch([msg({ type: 'identify', anonymousId: 'shared-ipad', userId: 'alice', traits: { name: 'Alice' } })]);
  const counts = g.graph.applyBatch([msg({ type: 'identify', anonymousId: 'shared-ipad', userId: 'bob', traits: { name: 'Bob' } })]);
  assert.equal(counts.merges, 0);
  const alice = g.reader.find('user_id', 'alice')!;
  const bob = g.reader.find('user_id', 'bob')!;
  assert.ok(bob, 'bob has a profile');
  assert.notEqual(alice, bob, 'the two users were not merged');
  // anonymous_id ranks below user_id: it was demoted on bob's event, so it stays alice's.
  assert.equal(g.reader.find('anonymous_id', 'shared-ipad'), alice);
  assert.deepEqual(idsOf(g.reader, bob), ['user_id:bob']);
  assert.equal(g.reader.traits(alice, { limit: 10 })!.items.find(([k]) => k === 'name')![1].value, 'Alice');
  assert.equal(g.reader.traits(bob, { limit: 10 })!.items.find(([k]) => k === 'name')![1].value, 'Bob');
});

test("merge protection, the seed's example: a new user_id with a known email makes a new profile (email is demoted)", (t) => {
  const g = fresh();
  t.after(g.close);
  g.graph.applyBatch([msg({ type: 'identify', userId: 'abc123', traits: { email: 'jane@example1.com' } })]);
  g.graph.applyBatch([msg({ type: 'identify', userId: 'abc456', traits: { email: 'jane@example1.com' } })]);
  const first = g.reader.find('user_id', 'abc123')!;
  const second = g.reader.find('user_id', 'abc456')!;
  assert.notEqual(first, second);
  assert.equal(g.reader.find('email', 'jane@example1.com'), first);
  assert.deepEqual(idsOf(g.reader, second), ['user_id:abc456']);
});

test('a limit above 1 lets a profile collect values up to the limit, and no further', (t) => {
  const rules = [{ type: 'user_id', limit: 1, priority: 1 }, { type: 'anonymous_id', limit: 2, priority: 2 }];
  const g = fresh({ ...SPACE, rules });
  t.after(g.close);
  g.graph.applyBatch([msg({ userId: 'u', anonymousId: 'a1' }), msg({ userId: 'u', anonymousId: 'a2' }), msg({ userId: 'u', anonymousId: 'a3' })]);
  const p = g.reader.find('user_id', 'u')!;
  assert.deepEqual(idsOf(g.reader, p), ['anonymous_id:a1', 'anonymous_id:a2', 'user_id:u']);
  assert.equal(g.reader.find('anonymous_id', 'a3'), undefined, 'the third anonymous id was demoted, not added');
  assert.equal(g.reader.events(p, { limit: 10, sort: 'desc' })!.items.length, 3, 'the event itself still joined the profile');
});

test('a limit with a frequency counts only values seen within its window ("1 weekly")', (t) => {
  const rules = [{ type: 'user_id', limit: 1, priority: 1 }, { type: 'anonymous_id', limit: 1, priority: 2, frequency: 'weekly' as const }];
  const g = fresh({ ...SPACE, rules });
  t.after(g.close);
  const day = 86_400_000;
  g.graph.applyBatch([msg({ userId: 'u', anonymousId: 'a1' }, { receivedAt: at })]);
  g.graph.applyBatch([msg({ userId: 'u', anonymousId: 'a2' }, { receivedAt: at + day })]);
  const p = g.reader.find('user_id', 'u')!;
  assert.equal(g.reader.find('anonymous_id', 'a2'), undefined, 'a1 was seen a day ago: a second value breaks 1 weekly');
  g.graph.applyBatch([msg({ userId: 'u', anonymousId: 'a3' }, { receivedAt: at + 8 * day })]);
  assert.equal(g.reader.find('anonymous_id', 'a3'), p, 'a1 was last seen 8 days ago: it no longer counts');
});

test('context.externalIds and custom identifiers from traits and properties are promoted when configured', (t) => {
  const rules = [...defaultIdentityRules(), { type: 'phone', limit: 5, priority: 12 }, { type: 'crm_id', limit: 1, priority: 13, key: 'crmId' }];
  const g = fresh({ ...SPACE, rules });
  t.after(g.close);
  g.graph.applyBatch([
    msg({
      userId: 'u1',
      context: {
        externalIds: [
          { id: '123-456-7890', type: 'phone', collection: 'users', encoding: 'none' },
          { id: 'x', type: 'phone', collection: 'accounts', encoding: 'none' }, // another collection: not a user id
          { id: 'y', type: 'PHONE', collection: 'users', encoding: 'none' }, // types are lower-case
          { id: 'z', type: 'unknown_type', collection: 'users', encoding: 'none' }, // not configured
        ],
        traits: { crm_id: 'crm-7' },
      },
    }),
  ]);
  const p = g.reader.find('user_id', 'u1')!;
  assert.deepEqual(idsOf(g.reader, p), ['crm_id:crm-7', 'phone:123-456-7890', 'user_id:u1']);
  // A later event found only by the phone (in properties) joins the same profile.
  g.graph.applyBatch([msg({ anonymousId: 'a9', properties: { phone: '123-456-7890', email: 'P@Q.io' } })]);
  assert.equal(g.reader.find('anonymous_id', 'a9'), p);
  assert.equal(g.reader.find('email', 'p@q.io'), p, 'properties.email, lower-cased');
});

test('device ids are promoted per platform, advertising ids only with ad tracking enabled', () => {
  const ids = extractExternalIds({
    anonymousId: 'a',
    context: { device: { type: 'ios', id: 'dev-1', advertisingId: 'ad-1', adTrackingEnabled: false, token: 'tok' } },
    integrations: { 'Google Analytics': { clientId: 'ga.1' } },
  }, defaultIdentityRules(), () => false);
  assert.deepEqual(ids.map((x) => `${x.type}:${x.id}`).sort(), ['anonymous_id:a', 'ga_client_id:ga.1', 'ios.id:dev-1', 'ios.push_token:tok']);
  const android = extractExternalIds({ context: { device: { type: 'android', advertisingId: 'ad-2', adTrackingEnabled: true } } }, defaultIdentityRules(), () => false);
  assert.deepEqual(android, [{ type: 'android.idfa', id: 'ad-2' }]);
});

test('traits: the latest timestamp wins per trait, whatever order events arrive in; context.traits count too', (t) => {
  const g = fresh();
  t.after(g.close);
  g.graph.applyBatch([
    msg({ type: 'identify', userId: 'u', traits: { plan: 'pro', city: 'Oslo' }, timestamp: '2026-02-02T00:00:00Z' }),
    // Older, arriving later: does not overwrite plan, adds what is new.
    msg({ type: 'identify', userId: 'u', traits: { plan: 'free', age: 30 }, timestamp: '2026-01-01T00:00:00Z' }),
    msg({ userId: 'u', context: { traits: { city: 'Bergen' } }, timestamp: '2026-03-03T00:00:00Z' }),
  ]);
  const p = g.reader.find('user_id', 'u')!;
  const traits = Object.fromEntries(g.reader.traits(p, { limit: 10 })!.items.map(([k, v]) => [k, v.value]));
  assert.deepEqual(traits, { age: 30, city: 'Bergen', plan: 'pro' });
});

test('re-delivering a message applies it once; the same log on an empty graph makes the same profile ids', (t) => {
  const g = fresh();
  t.after(g.close);
  const batch = [msg({ anonymousId: 'a' }), msg({ type: 'identify', anonymousId: 'a', userId: 'u', traits: { n: 1 } })];
  g.graph.applyBatch(batch);
  const again = g.graph.applyBatch(batch);
  assert.deepEqual(again, { applied: 0, duplicates: 2, unresolved: 0, invalid: 0, merges: 0 });
  const p = g.reader.find('user_id', 'u')!;
  assert.equal(g.reader.events(p, { limit: 100, sort: 'desc' })!.items.length, 2, 'no event twice');

  const h = fresh();
  t.after(h.close);
  h.graph.applyBatch(batch);
  assert.equal(h.reader.find('user_id', 'u'), p, 'deterministic profile ids');
});

test('blocked values are not promoted; an event with no identifier left is not resolved', (t) => {
  const g = fresh({ ...SPACE, blockedValues: ['/^[0-]*$/', 'anonymous', 'null'] });
  t.after(g.close);
  const counts = g.graph.applyBatch([msg({ userId: '0000', anonymousId: 'anonymous' }), msg({ userId: '---', anonymousId: 'real' })]);
  assert.equal(counts.unresolved, 1);
  assert.equal(g.reader.find('user_id', '0000'), undefined);
  assert.ok(g.reader.find('anonymous_id', 'real'));
});

test('each profile keeps its newest events only; events page newest first with a cursor', (t) => {
  const g = fresh(SPACE, 5);
  t.after(g.close);
  const batch = Array.from({ length: 120 }, (_v, i) => msg({ anonymousId: 'a', event: `E${i}` }));
  g.graph.applyBatch(batch);
  const p = g.reader.find('anonymous_id', 'a')!;
  // Trimmed in steps (every 100 past the limit), never below the limit.
  const all = g.reader.events(p, { limit: 100, sort: 'desc' })!;
  assert.ok(all.items.length >= 5 && all.items.length <= 105, `kept ${all.items.length}`);
  assert.equal(all.items[0]!.event, 'E119');
  const first = g.reader.events(p, { limit: 2, sort: 'desc' })!;
  const second = g.reader.events(p, { limit: 2, sort: 'desc', next: first.next })!;
  assert.deepEqual([...first.items, ...second.items].map((e) => e.event), ['E119', 'E118', 'E117', 'E116']);
});

test('group calls link the user to the account; a group id never merges two users', (t) => {
  const g = fresh();
  t.after(g.close);
  g.graph.applyBatch([msg({ type: 'group', userId: 'u1', groupId: 'acme' }), msg({ type: 'group', userId: 'u2', groupId: 'acme' })]);
  const u1 = g.reader.find('user_id', 'u1')!;
  const u2 = g.reader.find('user_id', 'u2')!;
  assert.notEqual(u1, u2);
  for (const p of [u1, u2]) assert.deepEqual(g.reader.links(p, 20).map((l) => (l.external_ids as { id: string }[])[0]!.id), ['acme']);
});
