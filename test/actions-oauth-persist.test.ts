/**
 * Refreshed OAuth tokens are written back to the control plane (issue 3): the
 * Actions adapter calls DeliverInput.persist after a successful refresh, and the
 * SQLite store re-encrypts that one secret key and bumps the version. In process:
 * store + adapter + the fake HubSpot API on loopback.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { parseWorkspaceFile } from '../src/config/workspace-file.js';
import { destinationTypes } from '../src/destinations/registry.js';
import type { DestinationDefinition } from '../src/destinations/types.js';
import type { SegmentMessage } from '../src/protocol/types.js';
import type { WorkspacePlan } from '../src/store/plan.js';
import { openSqliteControlPlane } from '../src/store/control-plane.js';
import { startFakeApis, type FakeApis } from './helpers/fake-apis.js';

const WORKSPACE = `workspace: { slug: acme }
sources:
  - slug: web-prod
    writeKey: wk_web_prod
destinations:
  - name: HubSpot
    type: actions-hubspot-cloud
    sources: [web-prod]
    settings:
      settings: { portalId: '123' }
      oauth: { access_token: old-token, refresh_token: rt-1, clientId: cid, clientSecret: csecret }
      subscriptions:
        - partnerAction: sendCustomBehavioralEvent
          subscribe: type = "track"
          mapping: { eventName: pe123_order_completed }
`;

const message: SegmentMessage = {
  type: 'track', event: 'Order Completed', userId: 'user-1', messageId: 'm-1', timestamp: '2026-03-01T12:00:00.000Z',
  receivedAt: '2026-03-01T12:00:01.000Z', properties: { email: 'ada@example.com' },
};

let fake: FakeApis;
before(async () => {
  fake = await startFakeApis();
  fake.respond((r) => {
    if (r.path === '/oauth/v1/token') return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"access_token":"new-token","expires_in":1800}' };
    if (r.headers.authorization === 'Bearer old-token') return { status: 401, headers: { 'content-type': 'application/json' }, body: '{"status":"error"}' };
    return undefined;
  });
});
after(() => fake.close());

function plan(): WorkspacePlan {
  const parsed = parseWorkspaceFile(WORKSPACE, 'workspace.yaml', destinationTypes);
  assert.ok(parsed.ok, JSON.stringify(parsed));
  return parsed.value;
}

async function open() {
  const db = new Database(':memory:');
  const store = await openSqliteControlPlane(db, { secretKey: randomBytes(32) });
  await store.applyWorkspaceFile(plan());
  return { db, store };
}

test('a refresh persists the new access token: encrypted in the row, in the next snapshot, version bumped', async () => {
  const { db, store } = await open();
  const before = store.snapshot();
  const d = destinationTypes.get('actions-hubspot-cloud') as unknown as DestinationDefinition<unknown>;
  const settings = d.settingsSchema.parse(before.destinations[0]!.settings);
  const persisted: [string, unknown][] = [];
  const outcome = await d.deliver({
    settings, message, payload: '', request: fake.request,
    persist: (key, value) => {
      persisted.push([key, value]);
      return store.updateDestinationSecret('hubspot', key, value).then(() => {});
    },
  });
  assert.equal(outcome.kind, 'delivered');
  assert.deepEqual(fake.received.map((r) => [r.path, r.headers.authorization]), [
    ['/events/v3/send', 'Bearer old-token'], ['/oauth/v1/token', 'Bearer undefined'], ['/events/v3/send', 'Bearer new-token'],
  ]);
  assert.deepEqual(persisted, [['oauth', { access_token: 'new-token', refresh_token: 'rt-1', clientId: 'cid', clientSecret: 'csecret' }]]);

  const after = store.snapshot();
  assert.equal(after.version, before.version + 1);
  const s = after.destinations[0]!.settings as { oauth: Record<string, unknown>; settings: unknown; subscriptions: unknown };
  assert.deepEqual(s.oauth, { access_token: 'new-token', refresh_token: 'rt-1', clientId: 'cid', clientSecret: 'csecret' });
  // The rest of the settings is untouched.
  const was = before.destinations[0]!.settings as { settings: unknown; subscriptions: unknown };
  assert.deepEqual([s.settings, s.subscriptions], [was.settings, was.subscriptions]);
  const row = db.prepare('SELECT settings FROM cp_destinations WHERE id = ?').pluck().get('hubspot') as string;
  assert.match(String((JSON.parse(row) as { oauth: unknown }).oauth), /^enc:v1:/);
  assert.ok(!row.includes('new-token') && !row.includes('old-token'));

  // A runner built from the new snapshot starts with the new token: no 401, no refresh.
  fake.received.length = 0;
  const again = await d.deliver({ settings: d.settingsSchema.parse(s), message, payload: '', request: fake.request });
  assert.equal(again.kind, 'delivered');
  assert.deepEqual(fake.received.map((r) => [r.path, r.headers.authorization]), [['/events/v3/send', 'Bearer new-token']]);

  // The workspace file is the source of truth: applying it again puts its tokens back.
  const report = await store.applyWorkspaceFile(plan());
  assert.equal(report.changed, true);
  assert.equal((store.snapshot().destinations[0]!.settings as { oauth: { access_token: string } }).oauth.access_token, 'old-token');
  await store.close();
  db.close();
});

test('updateDestinationSecret refuses an unknown destination and a key that is not secret, changing nothing', async () => {
  const { db, store } = await open();
  const version = store.version();
  await assert.rejects(store.updateDestinationSecret('nope', 'oauth', {}), /destination "nope" does not exist/);
  await assert.rejects(store.updateDestinationSecret('hubspot', 'settings', { portalId: '9' }), /"settings" is not a secret setting of destination "hubspot"/);
  assert.equal(store.version(), version);
  await store.close();
  db.close();
});

test('a failing persist does not fail the delivery (the new token is used from memory)', async () => {
  fake.received.length = 0;
  const { db, store } = await open();
  const d = destinationTypes.get('actions-hubspot-cloud') as unknown as DestinationDefinition<unknown>;
  const settings = d.settingsSchema.parse(store.snapshot().destinations[0]!.settings);
  const outcome = await d.deliver({ settings, message, payload: '', request: fake.request, persist: () => Promise.reject(new Error('disk full')) });
  assert.equal(outcome.kind, 'delivered');
  assert.equal((store.snapshot().destinations[0]!.settings as { oauth: { access_token: string } }).oauth.access_token, 'old-token');
  await store.close();
  db.close();
});
