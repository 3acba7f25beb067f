/**
 * The web console in a real browser (playwright-core driving Debian's Chromium)
 * against a real Switchyard started with a workspace file that declares nothing
 * but the workspace: a new user creates the owner account, a source, copies its
 * write key, sends events with analytics.js loaded by Segment's snippet from a
 * shop page, watches them in the debugger, adds a webhook destination pointing at
 * a local sink, adds a filter, and sees Delivery Overview move. Screenshots of the
 * main pages go to artifacts/screenshots/ (1280×800, and a 375 px wide phone).
 * Logs the first load's JavaScript (gzip) and time to interactive (no timed assertions).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { registerConsole } from '../src/server/console.js';
import { Harness } from './helpers/harness.js';
import { tempDir } from './helpers/switchyard.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHOTS = path.join(ROOT, 'artifacts', 'screenshots');
const CONSOLE_DIR = path.join(ROOT, 'dist', 'web');

const h = new Harness();
let browser: Browser | undefined;
let shopServer: http.Server | undefined;
after(async () => {
  await browser?.close();
  if (shopServer) await new Promise((resolve) => shopServer!.close(resolve));
  await h.cleanup();
});

/** Waits until `fn` returns a truthy value (polling), or fails with `what`. */
async function until<T>(what: string, fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A tab of the page's section navigation (the main navigation has links of the same names). */
const tab = (page: Page, name: string) => page.locator('nav.tabs').getByRole('link', { name, exact: true }).click();
const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
const count = async (page: Page, step: string) => Number(((await page.getByTestId(`step-${step}`).textContent()) ?? '').replace(/[^\d]/g, '') || '0');

test('GET / answers the console to browsers and the workspace to API clients; assets are immutable and precompressed; a missing build says what to run', async () => {
  const dir = tempDir('sy-console-');
  try {
    fs.mkdirSync(path.join(dir, 'assets'));
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>Switchyard</title>');
    fs.writeFileSync(path.join(dir, 'assets', 'app-abc123.js'), 'console.log(1)');
    fs.writeFileSync(path.join(dir, 'assets', 'app-abc123.js.br'), 'brotli bytes');
    const built = Fastify();
    registerConsole(built, { dir, workspaceJson: async () => ({ data: { workspace: { id: 'ws', slug: 'acme', name: 'Acme' } } }) });
    const html = await built.inject({ url: '/', headers: { accept: 'text/html,application/xhtml+xml;q=0.9' } });
    assert.equal(html.statusCode, 200);
    assert.match(html.headers['content-type'] as string, /text\/html/);
    assert.equal(html.headers['cache-control'], 'no-cache');
    assert.match(html.body, /<title>Switchyard/);
    const json = await built.inject({ url: '/', headers: { accept: 'application/json' } });
    assert.deepEqual(json.json(), { data: { workspace: { id: 'ws', slug: 'acme', name: 'Acme' } } });
    const asset = await built.inject({ url: '/assets/app-abc123.js', headers: { 'accept-encoding': 'br, gzip' } });
    assert.equal(asset.statusCode, 200);
    assert.equal(asset.headers['content-encoding'], 'br');
    assert.match(asset.headers['cache-control'] as string, /max-age=31536000.*immutable|immutable.*max-age=31536000/);
    assert.equal((await built.inject({ url: '/assets/nope.js' })).statusCode, 404);
    await built.close();

    const missing = Fastify();
    registerConsole(missing, { dir: path.join(dir, 'not-built'), workspaceJson: async () => ({}) });
    const r = await missing.inject({ url: '/', headers: { accept: 'text/html' } });
    assert.equal(r.statusCode, 503);
    assert.match(r.body, /npm run build/);
    await missing.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
