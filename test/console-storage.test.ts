/**
 * The console's Storage pages in a real browser (playwright-core driving Debian's
 * Chromium) against a real Switchyard: on the first run the owner adds a DuckDB
 * warehouse (testing its connection first), connects a source, sees a sync in the
 * history once events arrived and a sync ran, turns a table off in selective sync
 * (still off after a reload), and finds the workspace file's warehouse offered
 * read-only. Screenshots go to artifacts/screenshots/storage-*.png.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { SHOTS, apiFromPage, assertConsoleReady, createOwner, launchChromium, shot, tab, until } from './helpers/console.js';
import { Harness } from './helpers/harness.js';

const h = new Harness();
let browser: Browser | undefined;
after(async () => {
  await browser?.close();
  await h.cleanup();
});

const WORKSPACE = `workspace: { slug: acme }
sources:
  - slug: file-src
    writeKey: wk_console_storage_file
warehouses:
  - id: filewh
    type: duckdb
    sources: [file-src]
    settings: { path: file.duckdb, syncIntervalSeconds: 3600 }
`;

test('the owner adds a DuckDB warehouse in the console, connects a source, sees its syncs and turns a table off', async (t) => {
  assertConsoleReady();
  const sy = await h.start({ workspace: WORKSPACE });
  const base = sy.url;

  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));

  try {
    await page.goto(`${base}/`);
    await createOwner(page);

    // A source to connect (made through the API: the Sources pages have their own test).
    const source = (await apiFromPage<{ data: { source: { id: string; slug: string; writeKeys: string[] } } }>(page, 'POST', '/sources',
      { slug: 'shop-web', enabled: true, metadataId: 'javascript' })).data.source;
    const writeKey = source.writeKeys[0]!;

    // --- Storage → Add warehouse → DuckDB.
    await page.getByRole('link', { name: 'Storage', exact: true }).click();
    await page.getByRole('heading', { name: 'Storage', exact: true }).waitFor();
    await page.getByRole('link', { name: 'filewh' }).waitFor();
    await page.getByRole('link', { name: 'Add warehouse' }).first().click();
    await page.getByRole('heading', { name: 'Add a warehouse' }).waitFor();

    // PostgreSQL with a port out of range: the API names `settings.port`, shown under Port.
    await page.getByRole('button', { name: /^PostgreSQL/ }).click();
    await page.getByLabel('Hostname').fill('db.example.com');
    await page.getByLabel('Port').fill('99999');
    await page.getByLabel('Database').fill('analytics');
    await page.getByRole('button', { name: 'Test connection' }).click();
    await page.locator('.field.invalid', { has: page.getByLabel('Port') }).locator('.field-error').waitFor();
    assert.equal(await page.locator('.field.invalid').count(), 1, 'only Port is flagged');
    await shot(page, 'storage-00-add-postgres-port');

    await page.getByRole('button', { name: /^DuckDB/ }).click();

    // Saved without a path: the API's message appears under the field.
    await page.getByRole('button', { name: 'Save warehouse' }).click();
    await page.locator('.field.invalid', { has: page.getByLabel('Path') }).locator('.field-error').waitFor();
    await shot(page, 'storage-01-add-warehouse-validation');

    await page.getByLabel('Name').fill('Console DuckDB');
    await page.getByLabel('Path').fill('console.duckdb');
    await page.getByLabel('Sync interval (seconds)').fill('3600');
    await page.getByRole('button', { name: 'Test connection' }).click();
    await page.getByText('Connection test passed').waitFor();
    assert.equal(await page.locator('.field.invalid').count(), 0, 'no field is flagged once the settings are right');
    await shot(page, 'storage-02-add-warehouse-tested');
    await page.getByRole('button', { name: 'Save warehouse' }).click();

    // --- The new warehouse's page opens on its sources: connect the one made above.
    await page.waitForURL(/#\/storage\/warehouses\/[^/?]+\?tab=sources/);
    const warehouseId = decodeURIComponent(/#\/storage\/warehouses\/([^?]+)/.exec(page.url())![1]!);
    await page.getByRole('heading', { name: 'Console DuckDB' }).waitFor();
    await page.getByText('No sources connected').waitFor();
    await page.getByLabel('Source to connect').selectOption(source.id);
    await page.getByRole('button', { name: 'Connect source' }).click();
    await page.getByRole('button', { name: 'Disconnect shop-web' }).waitFor();
    assert.equal(await page.getByLabel('Source to connect').locator(`option[value="${source.id}"]`).count(), 0, 'a connected source is no longer offered');
    await shot(page, 'storage-03-connected-sources');

    // --- Events to the source, then a sync.
    const batch = [
      { type: 'identify', userId: 'u1', traits: { plan: 'pro' } },
      ...Array.from({ length: 3 }, (_, i) => ({ type: 'track', userId: 'u1', event: 'Order Completed', properties: { revenue: i } })),
      { type: 'page', userId: 'u1', name: 'Home' },
    ];
    const sent = await fetch(`${base}/v1/batch`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ batch }),
    });
    assert.equal(sent.status, 200, await sent.text());
    await apiFromPage(page, 'POST', `/api/v1/warehouses/${encodeURIComponent(warehouseId)}/sync`);

    // --- The sync history shows the run.
    await tab(page, 'Sync history');
    const history = page.getByRole('region', { name: 'Sync history' });
    await history.getByRole('row').filter({ hasText: 'shop-web' }).filter({ hasText: 'success' }).first().waitFor();
    await history.getByText(/tracks 3/).first().waitFor();
    await shot(page, 'storage-04-sync-history');

    // --- Selective sync: turn `tracks` off; still off after a reload.
    await tab(page, 'Selective sync');
    const tracks = page.getByRole('switch', { name: 'Sync tracks from shop-web' });
    await until('the tracks switch to be on and enabled', async () => (await tracks.getAttribute('aria-checked')) === 'true' && await tracks.isEnabled());
    await page.getByRole('switch', { name: 'Sync pages from shop-web' }).waitFor();
    await tracks.click();
    await until('the tracks switch to turn off', async () => (await tracks.getAttribute('aria-checked')) === 'false');
    await shot(page, 'storage-05-selective-sync');
    await page.reload();
    await page.getByRole('heading', { name: 'Console DuckDB' }).waitFor();
    const tracksAfter = page.getByRole('switch', { name: 'Sync tracks from shop-web' });
    await tracksAfter.waitFor();
    assert.equal(await tracksAfter.getAttribute('aria-checked'), 'false', 'tracks stays off after a reload');
    assert.equal(await page.getByRole('switch', { name: 'Sync pages from shop-web' }).getAttribute('aria-checked'), 'true', 'pages still syncs');
    const stored = await apiFromPage<{ data: { items: { collection: string; enabled: boolean }[] } }>(page, 'GET',
      `/warehouses/${encodeURIComponent(warehouseId)}/connected-sources/${encodeURIComponent(source.id)}/selective-syncs`);
    assert.deepEqual(stored.data.items.map((i) => [i.collection, i.enabled]), [['tracks', false]]);

    // --- The workspace file's warehouse: shown, but nothing to change here.
    await page.goto(`${base}/#/storage/warehouses/filewh?tab=sources`);
    await page.getByText('Declared in the workspace file').first().waitFor();
    await page.getByTestId('warehouse-readonly').waitFor();
    await page.getByRole('cell', { name: 'file-src', exact: true }).first().waitFor();
    assert.equal(await page.getByRole('button', { name: 'Connect source' }).count(), 0, 'no Connect for a file warehouse');
    assert.equal(await page.getByRole('button', { name: /^Disconnect/ }).count(), 0, 'no Disconnect for a file warehouse');
    await shot(page, 'storage-06-file-warehouse');
  } catch (err) {
    await shot(page, 'storage-failure').catch(() => {});
    throw err;
  }

  assert.deepEqual(pageErrors, [], 'no uncaught errors in the console page');
  assert.ok(fs.existsSync(path.join(SHOTS, 'storage-04-sync-history.png')));
  t.diagnostic(`screenshots in ${SHOTS}`);
});
