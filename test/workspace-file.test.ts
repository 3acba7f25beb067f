import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  parseWorkspaceFile,
  readWorkspaceFile,
  watchWorkspaceFile,
  type ConfigError,
} from '../src/config/workspace-file.js';
import { WEBHOOK_TYPES as types, YAML_FILE } from './helpers/workspace-fixture.js';

function errorsOf(text: string, fileName = 'workspace.yaml'): ConfigError[] {
  const result = parseWorkspaceFile(text, fileName, types);
  if (result.ok) assert.fail('expected errors, the file parsed');
  return result.error;
}

function paths(errors: ConfigError[]): string[] {
  return errors.map((e) => e.path);
}

test('the example file parses with derived ids and defaults', () => {
  const result = parseWorkspaceFile(YAML_FILE, 'workspace.yaml', types);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.error));
  assert.deepEqual(result.value, {
    workspace: { id: 'acme', slug: 'acme', name: 'acme', rateLimitPerSecond: 0 },
    sources: [{ id: 'web-prod', slug: 'web-prod', name: 'web-prod', enabled: true, writeKeys: ['wk_web_prod'], labels: [] }],
    destinations: [{
      id: 'orders-webhook', name: 'Orders webhook', type: 'webhook', enabled: true, sourceIds: ['web-prod'],
      settings: { urls: ['http://127.0.0.1:9999/hook'], headers: { 'X-Token': 'abc' }, sharedSecret: 's3cret' },
      secretSettings: ['sharedSecret'],
      filters: [],
    }],
  });
});

test('explicit ids, names, several write keys, rate limit; sources referenced by id', () => {
  const result = parseWorkspaceFile(`
workspace: { id: ws_1, slug: acme, name: Acme Inc, rateLimit: 500 }
sources:
  - { id: src_1, slug: web, name: Web, enabled: false, writeKey: k1, writeKeys: [k2, k1], labels: [{ key: team, value: growth }, { key: team, value: growth }] }
destinations:
  - { id: dst_1, name: Hook, type: webhook, sources: [src_1], settings: { urls: ['https://example.com/a'] } }
`, 'w.yml', types);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.error));
  assert.deepEqual(result.value.workspace, { id: 'ws_1', slug: 'acme', name: 'Acme Inc', rateLimitPerSecond: 500 });
  assert.deepEqual(result.value.sources[0], { id: 'src_1', slug: 'web', name: 'Web', enabled: false, writeKeys: ['k1', 'k2'], labels: [{ key: 'team', value: 'growth' }] });
  assert.equal(result.value.destinations[0]!.id, 'dst_1');
  assert.deepEqual(result.value.destinations[0]!.sourceIds, ['src_1']);
  assert.deepEqual(result.value.destinations[0]!.settings.headers, {}, 'settings defaults applied');
});

test('settings errors carry the full path', () => {
  const bad = errorsOf(YAML_FILE.replace('http://127.0.0.1:9999/hook', 'not a url'));
  assert.deepEqual(paths(bad), ['destinations[0].settings.urls[0]']);
  assert.match(bad[0]!.message, /http\(s\) URL/);

  const six = Array.from({ length: 6 }, (_, i) => `http://h${i}.test/`).join(', ');
  const tooMany = errorsOf(YAML_FILE.replace('http://127.0.0.1:9999/hook', six));
  assert.deepEqual(tooMany, [{ path: 'destinations[0].settings.urls', message: 'at most 5 URLs' }]);

  const second = errorsOf(YAML_FILE.replace('http://127.0.0.1:9999/hook', 'http://ok.test/, ftp://x'));
  assert.deepEqual(paths(second), ['destinations[0].settings.urls[1]']);
});

test('an unknown type lists the known ones', () => {
  const errors = errorsOf(YAML_FILE.replace('type: webhook', 'type: webhooks'));
  assert.deepEqual(paths(errors), ['destinations[0].type']);
  assert.match(errors[0]!.message, /unknown destination type "webhooks"; known types: "webhook"/);
});

test('an unknown source is reported at its position', () => {
  const errors = errorsOf(YAML_FILE.replace('sources: [web-prod]', 'sources: [web-prod, web-dev]'));
  assert.deepEqual(paths(errors), ['destinations[0].sources[1]']);
  assert.match(errors[0]!.message, /unknown source "web-dev"; known sources: "web-prod"/);
});

test('an instance name is unique per source, and the error names both destinations', () => {
  const errors = errorsOf(`${YAML_FILE}
  - name: Orders webhook
    type: webhook
    sources: [web-prod]
    settings: { urls: ['http://other.test/'] }
`);
  assert.deepEqual(paths(errors), ['destinations[1].name']);
  assert.match(errors[0]!.message, /"Orders webhook" is already used on source "web-prod" by destinations\[0\]/);
});

test('the same name on different sources needs explicit ids', () => {
  const text = `workspace: { slug: acme }
sources:
  - { slug: a, writeKey: ka }
  - { slug: b, writeKey: kb }
destinations:
  - { name: Hook, type: webhook, sources: [a], settings: { urls: ['http://x.test/'] } }
  - { name: Hook, type: webhook, sources: [b], settings: { urls: ['http://x.test/'] } }
`;
  const errors = errorsOf(text);
  assert.deepEqual(paths(errors), ['destinations[1].id']);
  assert.match(errors[0]!.message, /derived id "hook" collides with destinations\[0\].*explicit `id`/);

  const fixed = parseWorkspaceFile(text.replace('{ name: Hook, type: webhook, sources: [b]', '{ id: hook-b, name: Hook, type: webhook, sources: [b]'), 'w.yaml', types);
  assert.ok(fixed.ok);
  assert.deepEqual(fixed.value.destinations.map((d) => d.id), ['hook', 'hook-b']);
});

test('a write key belongs to one source', () => {
  const errors = errorsOf(`workspace: { slug: acme }
sources:
  - { slug: a, writeKey: shared }
  - { slug: b, writeKeys: [own, shared] }
`);
  assert.deepEqual(paths(errors), ['sources[1].writeKeys[1]']);
  assert.match(errors[0]!.message, /"shared" is already used by sources\[0\] \("a"\)/);
});

test('shape errors: bad slug, missing write key, unknown field, missing field', () => {
  const errors = errorsOf(`workspace: { slug: Acme }
sources:
  - { slug: web }
  - { slug: app, writekey: k }
destinations:
  - { type: webhook, sources: [web] }
`);
  assert.deepEqual(paths(errors).sort(), ['destinations[0].name', 'destinations[0].settings.urls', 'sources[1].writekey', 'workspace.slug']);
  assert.equal(errors.find((e) => e.path === 'destinations[0].name')!.message, 'required');
  assert.equal(errors.find((e) => e.path === 'sources[1].writekey')!.message, 'unknown field');

  // Settings are checked even when the rest of the file has shape errors: one edit round fixes all.
  const both = errorsOf(YAML_FILE.replace('enabled: true', 'enabled: "yes"').replace('http://127.0.0.1:9999/hook', 'nope'));
  assert.deepEqual(paths(both), ['destinations[0].enabled', 'destinations[0].settings.urls[0]']);

  // Shape is fine now; the missing write key is a whole-file check.
  assert.deepEqual(paths(errorsOf('workspace: { slug: acme }\nsources: [{ slug: web }]\n')), ['sources[0]']);
});

test('YAML syntax errors give line and column', () => {
  const errors = errorsOf('workspace: { slug: acme\nsources:\n  - slug: [\n');
  assert.equal(errors[0]!.path, '');
  assert.match(errors[0]!.message, /^YAML syntax error: .*line \d+, column \d+/);
});

test('JSON files parse by extension; their syntax errors give line and column', () => {
  const json = JSON.stringify({
    workspace: { slug: 'acme' },
    sources: [{ slug: 'web-prod', writeKey: 'wk_web_prod' }],
    destinations: [{ name: 'Orders webhook', type: 'webhook', sources: ['web-prod'], settings: { urls: ['http://127.0.0.1:9999/hook'] } }],
  }, null, 2);
  const result = parseWorkspaceFile(json, 'workspace.json', types);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.error));
  assert.equal(result.value.destinations[0]!.id, 'orders-webhook');

  const errors = errorsOf('{\n  "workspace": { "slug": "acme" },\n  oops\n}', 'workspace.json');
  assert.match(errors[0]!.message, /^JSON syntax error: .*\(line 3, column 3\)/);
  assert.match(errorsOf('{}', 'workspace.toml')[0]!.message, /unsupported file extension ".toml"/);
});

test('readWorkspaceFile reads from disk and reports a missing file as a ConfigError', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-wsfile-'));
  const file = path.join(dir, 'workspace.yaml');
  fs.writeFileSync(file, YAML_FILE);
  assert.equal(readWorkspaceFile(file, types).ok, true);
  const missing = readWorkspaceFile(path.join(dir, 'nope.yaml'), types);
  assert.ok(!missing.ok);
  assert.match(missing.error[0]!.message, /cannot read/);
});

test('watchWorkspaceFile fires once per burst, on rewrite and on replace via rename, and stops', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-watch-'));
  const file = path.join(dir, 'workspace.yaml');
  fs.writeFileSync(file, 'v: 1\n');
  const seen: string[] = [];
  let wake: (() => void) | undefined;
  const next = (): Promise<void> => new Promise((resolve, reject) => {
    wake = resolve;
    setTimeout(() => reject(new Error(`no change seen; got ${JSON.stringify(seen)}`)), 3000).unref();
  });
  const stop = watchWorkspaceFile(file, (text) => {
    seen.push(text);
    wake?.();
  }, { debounceMs: 50 });

  let change = next();
  fs.writeFileSync(file, 'v: 2\n');
  fs.appendFileSync(file, 'w: 2\n');
  await change;
  await new Promise((r) => setTimeout(r, 150));
  assert.deepEqual(seen, ['v: 2\nw: 2\n'], 'one call for the burst, with the final content');

  change = next();
  fs.writeFileSync(path.join(dir, '.workspace.yaml.tmp'), 'v: 3\n');
  fs.renameSync(path.join(dir, '.workspace.yaml.tmp'), file);
  await change;
  assert.equal(seen.at(-1), 'v: 3\n');

  stop();
  const count = seen.length;
  fs.writeFileSync(file, 'v: 4\n');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(seen.length, count, 'no call after stop');
});
