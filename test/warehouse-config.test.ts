/** The workspace file's `warehouses:` section: resolved sources, defaults, errors with their paths. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWorkspaceFile, type DestinationTypes } from '../src/config/workspace-file.js';

const types: DestinationTypes = new Map();
const head = `workspace: { slug: acme }
sources:
  - { slug: web, id: src_web, writeKey: k1 }
  - { slug: ios, writeKey: k2 }
`;

test('warehouses resolve source slugs and ids', () => {
  const r = parseWorkspaceFile(`${head}warehouses:
  - { id: local, type: duckdb, sources: [web, ios] }
  - { id: pg, type: postgres, enabled: false, sources: [src_web], settings: { url: "postgres://u@h/db", syncIntervalSeconds: 600 } }
`, 'w.yaml', types);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  assert.deepEqual(r.value.warehouses, [
    { id: 'local', type: 'duckdb', enabled: true, sourceIds: ['src_web', 'ios'], settings: {}, syncOverrides: [] },
    { id: 'pg', type: 'postgres', enabled: false, sourceIds: ['src_web'], settings: { url: 'postgres://u@h/db', syncIntervalSeconds: 600 }, syncOverrides: [] },
  ]);
});

test('warehouse errors name their path', () => {
  const r = parseWorkspaceFile(`${head}warehouses:
  - { id: a, type: postgres, sources: [web, nope] }
  - { id: a, type: duckdb, sources: [web, web], settings: { url: "postgres://x" } }
  - { id: b, type: redshift, sources: [web], settings: { syncIntervalSeconds: 0, colour: red } }
`, 'w.yaml', types);
  assert.ok(!r.ok);
  const paths = r.error.map((e) => e.path).sort();
  assert.deepEqual(paths, [
    'warehouses[2].settings.colour', 'warehouses[2].settings.syncIntervalSeconds', 'warehouses[2].type',
  ]);
  const r2 = parseWorkspaceFile(`${head}warehouses:
  - { id: a, type: postgres, sources: [web, nope] }
  - { id: a, type: duckdb, sources: [web, web], settings: { url: "postgres://x" } }
`, 'w.yaml', types);
  assert.ok(!r2.ok);
  assert.deepEqual(r2.error.map((e) => `${e.path}: ${e.message}`).sort(), [
    'warehouses[0].settings.url: required for a postgres warehouse',
    'warehouses[0].sources[1]: unknown source "nope"; known sources: "web", "ios"',
    'warehouses[1].id: id "a" is used by another warehouse',
    'warehouses[1].settings.url: a duckdb warehouse takes `path`, not `url`',
    'warehouses[1].sources[1]: source "web" is listed twice',
  ].sort());
});

test('a warehouse may declare an advanced sync schedule: hours in an IANA time zone', () => {
  const r = parseWorkspaceFile(`${head}warehouses:
  - { id: local, type: duckdb, sources: [web], settings: { schedule: { timezone: Europe/Paris, hours: [0, 12] } } }
`, 'w.yaml', types);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  assert.deepEqual(r.value.warehouses![0]!.settings, { schedule: { timezone: 'Europe/Paris', hours: [0, 12] } });
  const bad = parseWorkspaceFile(`${head}warehouses:
  - { id: local, type: duckdb, sources: [web], settings: { schedule: { timezone: Mars/Olympus, hours: [24] } } }
`, 'w.yaml', types);
  assert.ok(!bad.ok);
  assert.deepEqual(bad.error.map((e) => e.path).sort(), ['warehouses[0].settings.schedule.hours[0]', 'warehouses[0].settings.schedule.timezone']);
});

test('selective sync overrides resolve their source and need a collection with a property', () => {
  const r = parseWorkspaceFile(`${head}warehouses:
  - id: local
    type: duckdb
    sources: [web]
    syncOverrides:
      - { source: web, collection: order_completed, property: coupon, enabled: false }
      - { source: src_web, enabled: false }
      - { source: ios, enabled: false }
      - { source: web, property: coupon, enabled: false }
`, 'w.yaml', types);
  assert.ok(!r.ok);
  assert.deepEqual(r.error.map((e) => e.path), ['warehouses[0].syncOverrides[2].source', 'warehouses[0].syncOverrides[3].collection']);
  const ok = parseWorkspaceFile(`${head}warehouses:
  - { id: local, type: duckdb, sources: [web], syncOverrides: [{ source: web, collection: tracks, enabled: false }] }
`, 'w.yaml', types);
  assert.ok(ok.ok);
  assert.deepEqual(ok.value.warehouses![0]!.syncOverrides, [{ sourceId: 'src_web', collection: 'tracks', enabled: false }]);
});
