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
import Fastify from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { registerConsole } from '../src/server/console.js';
import { CONSOLE_DIR, OWNER, SHOTS, assertConsoleReady, createOwner, launchChromium, shot, tab, until } from './helpers/console.js';
import { Harness } from './helpers/harness.js';
import { tempDir } from './helpers/switchyard.js';

const h = new Harness();
let browser: Browser | undefined;
let shopServer: http.Server | undefined;
after(async () => {
  await browser?.close();
  if (shopServer) await new Promise((resolve) => shopServer!.close(resolve));
  await h.cleanup();
});

const count = async (page: Page, step: string) => Number(((await page.getByTestId(`step-${step}`).textContent()) ?? '').replace(/[^\d]/g, '') || '0');

test('a new user runs Switchyard from the web console: first run, source, events in the debugger, webhook, filter, Delivery Overview', async (t) => {
  // Never skip: a machine without Chromium must say how to get it.
  assertConsoleReady();

  const sink = await h.sink();
  const sy = await h.start({ workspace: 'workspace: { slug: acme }\n' });
  const base = sy.url;
  const session = await fetch(`${base}/auth/session`);
  assert.equal(session.status, 200, `GET /auth/session answered ${session.status}: the console needs the Public API's auth endpoints (issue #7)`);

  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));

  // --- First load: what JavaScript it costs and when the first form answers.
  const scripts: { url: string; bytes: number; encoding: string }[] = [];
  const onResponse = async (res: import('playwright-core').Response) => {
    if (!/\.js$/.test(new URL(res.url()).pathname)) return;
    const headers = await res.allHeaders();
    scripts.push({ url: res.url(), bytes: Number(headers['content-length'] ?? 0), encoding: headers['content-encoding'] ?? 'identity' });
  };
  page.on('response', onResponse);
  const t0 = Date.now();
  await page.goto(`${base}/`);
  await page.getByRole('heading', { name: 'Create the owner account' }).waitFor();
  const submitOwner = page.getByRole('button', { name: 'Create owner account' });
  await submitOwner.waitFor();
  const interactiveMs = Date.now() - t0;
  const nav = await page.evaluate(() => {
    const n = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    return { domInteractive: Math.round(n.domInteractive), load: Math.round(n.loadEventEnd) };
  });
  page.off('response', onResponse);
  const gzipBytes = scripts.reduce((s, x) => {
    const file = path.join(CONSOLE_DIR, new URL(x.url).pathname.replace(/^\//, '') + '.gz');
    return s + (fs.existsSync(file) ? fs.statSync(file).size : x.bytes);
  }, 0);
  t.diagnostic(`console first load: ${scripts.length} JS file(s), ${(gzipBytes / 1024).toFixed(1)} KB gzip, ` +
    `${(scripts.reduce((s, x) => s + x.bytes, 0) / 1024).toFixed(1)} KB transferred (${[...new Set(scripts.map((x) => x.encoding))].join(', ')}); ` +
    `interactive (owner form ready) ${interactiveMs} ms after navigation start; domInteractive ${nav.domInteractive} ms`);
  assert.ok(gzipBytes < 1024 * 1024, `first load carries ${gzipBytes} bytes of gzip JS, over 1 MB`);
  await shot(page, '01-first-run');

  try {
    // --- First run: create the owner; the form submits on Enter.
    await createOwner(page);
    await page.getByText('No sources yet').waitFor();
    assert.equal(await page.getByText(OWNER.name).count(), 1, 'the signed-in user is shown');
    await shot(page, '02-sources-empty');

    // --- Create a source from the catalog.
    await page.getByRole('link', { name: 'Add source' }).first().click();
    await page.getByRole('button', { name: /Javascript/ }).click();
    await page.getByLabel('Name').fill('Website (prod)');
    assert.equal(await page.getByLabel('Slug').inputValue(), 'website-prod', 'the slug follows the name');
    await page.getByLabel('Environment label').selectOption('prod');
    await shot(page, '03-source-new');
    await page.getByRole('button', { name: 'Create source' }).click();
    const snippetBox = page.getByTestId('snippet');
    await snippetBox.waitFor();
    const sourceId = decodeURIComponent(/#\/sources\/([^?]+)/.exec(page.url())![1]!);
    const snippet = (await snippetBox.textContent()) ?? '';
    assert.match(snippet, new RegExp(`${base.replace(/[.:/]/g, '\\$&')}/analytics\\.js/v1/`), 'the snippet loads analytics.js from this server');
    assert.match(snippet, /analytics\._cdn=/);
    await shot(page, '04-source-setup');

    // --- The write key: read it from the page, copy it with the button.
    await tab(page, 'Overview');
    const writeKey = ((await page.getByTestId('write-key').first().textContent()) ?? '').trim();
    assert.ok(writeKey.length >= 8, `a write key is shown (${writeKey})`);
    assert.ok(snippet.includes(writeKey), 'the snippet carries the write key');
    await page.getByRole('button', { name: 'Copy write key' }).click();
    await page.getByRole('button', { name: /Copied/ }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), writeKey, 'the write key is on the clipboard');
    await page.getByText('environment: prod').first().waitFor();
    await shot(page, '05-source-overview');

    // --- A shop page with the snippet the console gave: analytics.js from Switchyard.
    const shopHtml = `<!doctype html><html><head><meta charset="utf-8">${snippet}</head><body><h1>Shop</h1></body></html>`;
    shopServer = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(shopHtml));
    await new Promise<void>((resolve) => shopServer!.listen(0, '127.0.0.1', resolve));
    const shopUrl = `http://127.0.0.1:${(shopServer.address() as AddressInfo).port}/checkout`;
    const shop = await context.newPage();
    const track = (event: string, properties: Record<string, unknown>) =>
      shop.evaluate(([e, p]) => (window as unknown as { analytics: { track(e: string, p: unknown): unknown } }).analytics.track(e as string, p), [event, properties] as const);

    // --- The debugger shows events as they arrive.
    await tab(page, 'Debugger');
    await page.getByText('Waiting for events…').waitFor();
    await shop.goto(shopUrl);
    await track('Order Completed', { total: 42, via: 'snippet' });
    const row = page.locator('.debugger-row', { hasText: 'Order Completed' }).first();
    await row.waitFor({ timeout: 20_000 });
    await page.locator('.debugger-row', { hasText: 'page' }).first().waitFor();
    await row.click();
    await page.locator('.event-detail pre').getByText('"via": "snippet"').waitFor();
    await shot(page, '06-debugger');

    // --- Add a webhook destination from the catalog, pointing at the sink.
    await tab(page, 'Overview');
    await page.getByRole('link', { name: 'Add destination' }).click();
    await page.getByLabel(/Search/).fill('webhook');
    await shot(page, '07-destination-catalog');
    await page.getByRole('link', { name: /^Webhooks/ }).click();
    await page.getByRole('button', { name: 'Save destination' }).waitFor();
    await until('the source the user came from to be chosen', async () => (await page.getByLabel('Source').inputValue()) === sourceId);
    await page.getByLabel('Name').fill('Orders webhook');
    // Saved without a URL: the API's message appears under the field.
    await page.getByRole('button', { name: 'Save destination' }).click();
    await page.locator('.field.invalid .field-error').first().waitFor();
    await shot(page, '08-destination-validation');
    await page.getByLabel('URLs 1').fill(sink.url);
    await page.getByRole('button', { name: 'Save destination' }).click();
    await page.waitForURL(/#\/destinations\/(?!new)[^/?]+/);

    // --- A filter, previewed and saved.
    await tab(page, 'Filters');
    await page.getByText('No filters').waitFor();
    await page.getByLabel('Title').fill('Drop test events');
    await page.getByLabel('If (FQL)').fill('event = "Test Event"');
    await page.getByRole('button', { name: 'Preview', exact: true }).click();
    await page.getByText('Kept. The destination would receive:').waitFor();
    await page.getByLabel('Sample event (JSON)').fill(JSON.stringify({ type: 'track', event: 'Test Event', userId: 'u1' }));
    await page.getByRole('button', { name: 'Preview', exact: true }).click();
    await page.getByText('Dropped: this event would not reach the destination.').waitFor();
    await page.getByRole('button', { name: 'Add filter' }).click();
    await page.locator('.filter-item', { hasText: 'Drop test events' }).waitFor();
    await shot(page, '09-filters');

    // --- Events after the destination and its filter exist: 3 delivered, 2 filtered.
    for (let i = 0; i < 3; i++) await track('Order Completed', { total: 10 + i });
    for (let i = 0; i < 2; i++) await track('Test Event', { i });
    await sink.waitFor(3, 30_000);
    const delivered = () => sink.received.map((r) => JSON.parse(r.body) as { event?: string; type: string });
    await until('the three orders at the sink', async () => delivered().filter((e) => e.event === 'Order Completed').length >= 3);

    // --- Delivery Overview moves (it refreshes every 5 s).
    await tab(page, 'Delivery Overview');
    // Received is counted by the ingest thread and delivery by the router thread; each
    // flushes its counters on its own timer, so the page may show one before the other.
    await until('Delivery Overview to count every received event, the deliveries and the filtered events', async () =>
      (await count(page, 'successful_delivery')) >= 3 && (await count(page, 'filtered_at_destination')) >= 2 &&
      (await count(page, 'successfully_received')) >= 7, 40_000);
    assert.equal(delivered().filter((e) => e.event === 'Test Event').length, 0, 'the filter kept test events away from the webhook');
    await shot(page, '10-delivery-overview');

    // --- Event Delivery and the Event Tester.
    await tab(page, 'Event Delivery');
    await page.locator('[data-metric="successes"] .stat-value').filter({ hasText: /^[1-9]/ }).waitFor({ timeout: 20_000 });
    await shot(page, '11-event-delivery');
    await tab(page, 'Event Tester');
    await page.getByRole('button', { name: 'Send test event' }).click();
    assert.equal(await page.getByTestId('tester-outcome').textContent(), 'delivered');
    await shot(page, '12-event-tester');

    // --- The other main pages.
    await page.goto(`${base}/#/destinations`);
    await page.getByRole('link', { name: 'Orders webhook' }).first().waitFor();
    await shot(page, '13-destinations');
    // Keyboard only: focus moves from the page's heading to its first action, visibly, and Enter follows it.
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement;
      return { tag: el.tagName, text: el.textContent ?? '', outline: getComputedStyle(el).outlineStyle };
    });
    assert.deepEqual([focused.tag, focused.text], ['A', 'Add destination'], 'Tab reaches the page action first');
    assert.notEqual(focused.outline, 'none', 'the focused link shows a focus ring');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Destination catalog' }).waitFor();
    await page.goto(`${base}/#/storage`);
    await page.getByRole('heading', { name: 'Warehouses' }).waitFor();
    await until('the storage page to finish loading', async () => (await page.locator('.loading').count()) === 0);
    await shot(page, '14-storage');
    await page.goto(`${base}/#/settings/users`);
    await page.getByRole('cell', { name: OWNER.email }).waitFor();
    await shot(page, '15-settings-users');
    await page.goto(`${base}/#/settings/audit`);
    await page.locator('table').waitFor();
    await shot(page, '16-audit-trail');

    // --- Invite a read-only teammate; they accept in their own browser and can look but not add.
    await page.goto(`${base}/#/settings/invites`);
    await page.getByLabel('Email addresses').fill('bob@example.com');
    await page.getByLabel('Role').selectOption('workspace-read-only');
    await page.getByRole('button', { name: 'Send invites' }).click();
    const inviteUrl = ((await page.locator('.notice code').first().textContent({ timeout: 15_000 })) ?? '').trim();
    assert.match(inviteUrl, /^http/, 'the invite answer carries a link to hand over (data.inviteUrls)');
    await shot(page, '17-invites');
    const bobContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const bob = await bobContext.newPage();
    bob.setDefaultTimeout(15_000);
    await bob.goto(inviteUrl);
    await bob.getByRole('heading', { name: 'Join the workspace' }).waitFor();
    await bob.getByLabel('Your name').fill('Bob Viewer');
    await bob.getByLabel('Password').fill('another good password');
    await bob.getByLabel('Password').press('Enter');
    await bob.getByRole('heading', { name: 'Sources', exact: true }).waitFor();
    await bob.getByRole('link', { name: 'Website (prod)' }).waitFor();
    assert.equal(await bob.getByRole('link', { name: 'Add source' }).count(), 0, 'a read-only user is not offered Add source');
    await bobContext.close();

    // --- The owner makes Bob a Source Admin of the website only, then revokes a second invite.
    page.on('dialog', (d) => void d.accept());
    await page.goto(`${base}/#/settings/users`);
    assert.equal(await page.getByRole('button', { name: `Change the role of ${OWNER.email}` }).count(), 0, 'no role change on your own row');
    await page.getByRole('button', { name: 'Change the role of bob@example.com' }).click();
    const bobRole = page.getByRole('form', { name: 'Role of bob@example.com' });
    await bobRole.getByLabel('Role').selectOption('source-admin');
    await bobRole.getByLabel('Website (prod)').check();
    await bobRole.getByRole('button', { name: 'Save role' }).click();
    await page.getByRole('row', { name: /bob@example\.com/ }).getByText('Source Admin (Website (prod))').waitFor();
    await shot(page, '17b-user-role-changed');
    // Then of every source labelled environment:prod instead (label-based access).
    await page.getByRole('button', { name: 'Change the role of bob@example.com' }).click();
    await bobRole.getByLabel('Website (prod)').uncheck();
    await bobRole.getByLabel('environment:prod', { exact: true }).check();
    await bobRole.getByRole('button', { name: 'Save role' }).click();
    await page.getByRole('row', { name: /bob@example\.com/ }).getByText('Source Admin (label environment:prod)').waitFor();
    await page.goto(`${base}/#/settings/invites`);
    await page.getByLabel('Email addresses').fill('carol@example.com');
    await page.getByRole('button', { name: 'Send invites' }).click();
    await page.getByRole('button', { name: 'Revoke the invite of carol@example.com' }).click();
    await until('the revoked invite to leave the list', async () => (await page.getByRole('button', { name: 'Revoke the invite of carol@example.com' }).count()) === 0);

    // --- Sign out, a wrong password, then back in.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByLabel('Email').fill(OWNER.email);
    await page.getByLabel('Password').fill('not the password');
    await page.getByLabel('Password').press('Enter');
    await page.getByText('That email and password do not match an account').waitFor();
    await shot(page, '18-sign-in-error');
    await page.getByLabel('Password').fill(OWNER.password);
    await page.getByLabel('Password').press('Enter');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();

    // --- Phone width.
    await page.setViewportSize({ width: 375, height: 800 });
    await page.goto(`${base}/#/sources/${encodeURIComponent(sourceId)}`);
    await page.getByTestId('write-key').first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page fits 375 px (overflows by ${overflow} px)`);
    await shot(page, '19-source-375px');

  } catch (err) {
    // What the page showed when it went wrong, beside the other screenshots.
    await shot(page, 'failure').catch(() => {});
    throw err;
  }

  assert.deepEqual(pageErrors, [], 'no uncaught errors in the console page');
  t.diagnostic(`screenshots in ${SHOTS}`);
});


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
