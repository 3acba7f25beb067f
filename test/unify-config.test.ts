/**
 * The workspace file's `unify:` block: derivations, Segment's default identity
 * rules, and errors that name their path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWorkspaceFile } from '../src/config/workspace-file.js';
import { WEBHOOK_TYPES as types } from './helpers/workspace-fixture.js';

const BASE = `workspace: { slug: acme }
sources:
  - slug: web-prod
    writeKey: wk_web_prod
  - slug: backend
    writeKey: wk_backend
`;

test('unify: the space id derives from the slug, sources resolve, Segment\'s 11 default identifiers apply', () => {
  const r = parseWorkspaceFile(`${BASE}unify:
  space: { slug: dev-space }
  sources: [web-prod]
  accessToken: tok_0123456789abcdef
`, 'workspace.yaml', types);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  const u = r.value.unify!;
  assert.equal(u.id, 'dev-space');
  assert.equal(u.name, 'dev-space');
  assert.deepEqual(u.sourceIds, ['web-prod']);
  assert.deepEqual(u.rules.map((x) => [x.type, x.limit, x.priority]), [
    ['user_id', 1, 1], ['email', 5, 2], ['android.id', 5, 3], ['android.idfa', 5, 4], ['android.push_token', 5, 5], ['anonymous_id', 5, 6],
    ['ga_client_id', 5, 7], ['group_id', 5, 8], ['ios.id', 5, 9], ['ios.idfa', 5, 10], ['ios.push_token', 5, 11],
  ]);
  assert.deepEqual(u.blockedValues, []);
});

test('unify: identity rules take their priority from their order, limits default to Segment\'s', () => {
  const r = parseWorkspaceFile(`${BASE}unify:
  space: { slug: prod, id: spa_123, name: Production }
  sources: [web-prod, backend]
  accessToken: tok_0123456789abcdef
  identityRules:
    - { type: email, limit: 1 }
    - { type: user_id, limit: 2 }
    - { type: anonymous_id, limit: 5, frequency: weekly }
    - { type: phone, key: phoneNumber }
  blockedValues: ['/^[0-]*$/', anonymous]
`, 'workspace.yaml', types);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  const u = r.value.unify!;
  assert.equal(u.id, 'spa_123');
  assert.equal(u.name, 'Production');
  assert.deepEqual(u.rules, [
    { type: 'email', limit: 1, priority: 1 },
    { type: 'user_id', limit: 2, priority: 2 },
    { type: 'anonymous_id', limit: 5, priority: 3, frequency: 'weekly' },
    { type: 'phone', limit: 5, priority: 4, key: 'phoneNumber' },
  ]);
});

test('unify: errors name their path', () => {
  const missing = parseWorkspaceFile(`${BASE}unify:
  space: { slug: dev }
`, 'workspace.yaml', types);
  assert.ok(!missing.ok);
  assert.ok(missing.error.some((e) => e.path === 'unify.accessToken'), JSON.stringify(missing.error));

  const r = parseWorkspaceFile(`${BASE}unify:
  space: { slug: dev }
  sources: [web-prod, nope]
  accessToken: tok_0123456789abcdef
  identityRules:
    - { type: user_id }
    - { type: user_id }
    - { type: email, key: mail }
  blockedValues: ['/[/']
`, 'workspace.yaml', types);
  assert.ok(!r.ok);
  const paths = r.error.map((e) => e.path).sort();
  assert.deepEqual(paths, ['unify.blockedValues[0]', 'unify.identityRules[1].type', 'unify.identityRules[2].key', 'unify.sources[1]'], JSON.stringify(r.error));
  assert.match(r.error.find((e) => e.path === 'unify.sources[1]')!.message, /unknown source "nope"/);

  const frequency = parseWorkspaceFile(`${BASE}unify:
  space: { slug: dev }
  accessToken: tok_0123456789abcdef
  identityRules: [{ type: anonymous_id, frequency: hourly }]
`, 'workspace.yaml', types);
  assert.ok(!frequency.ok);
  assert.deepEqual(frequency.error.map((e) => e.path), ['unify.identityRules[0].frequency']);

  const token = parseWorkspaceFile(`${BASE}unify:
  space: { slug: dev }
  accessToken: "short:token"
`, 'workspace.yaml', types);
  assert.ok(!token.ok);
  assert.deepEqual(token.error.map((e) => e.path), ['unify.accessToken']);
});

test('no unify block: the plan has none', () => {
  const r = parseWorkspaceFile(BASE, 'workspace.yaml', types);
  assert.ok(r.ok);
  assert.equal(r.value.unify, undefined);
});
