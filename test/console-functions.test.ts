/**
 * The console's Functions pages in a real browser (playwright-core driving Debian's
 * Chromium) against a real Switchyard:
 * - a destination function with a syntax error is refused with the message under
 *   the code (and "Go to line" selects that line); fixed, with a declared setting,
 *   it is created, connected to the workspace file's source with its endpoint set
 *   to a local sink, and an event sent with the Tracking API reaches the sink as the
 *   function sent it; edited code is "saved, not deployed" (the old code still runs)
 *   until Deploy; a version is restored;
 * - an insert function is put in front of the workspace file's webhook destination
 *   and changes its events, is turned off (events pass unchanged) and deleted;
 * - a source function gets a source whose webhook URL, as shown, turns a request into an event.
 * Screenshots go to artifacts/screenshots/functions-*.png.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { SHOTS, apiFromPage, assertConsoleReady, createOwner, launchChromium, shot, tab, until } from './helpers/console.js';
import { Harness } from './helpers/harness.js';
import { DESTINATION_ID, SOURCE_ID, WRITE_KEY, postTracking } from './helpers/e2e.js';
import type { Sink } from './helpers/sink.js';

const h = new Harness();
let browser: Browser | undefined;
after(async () => {
  await browser?.close();
  await h.cleanup();
});

const destinationCode = (version: number) => `async function onTrack(event, settings) {
  console.log('sending', event.event);
  const res = await fetch(settings.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ v: ${version}, name: event.event, id: event.messageId, user: event.userId }),
  });
  if (res.status >= 500) throw new RetryError('HTTP ' + res.status);
}
`;

const insertCode = `async function onTrack(event, settings) {
  event.properties = { ...event.properties, enrichedBy: settings.tag };
  return event;
}
`;

/** The JSON bodies a sink received. */
const bodies = (s: Sink) => s.received.map((r) => JSON.parse(r.body) as Record<string, any>);

let sent = 0;
/**
 * Sends a track event to the workspace file's source until `sink` gets a request
 * that `match`es (a new destination or deployment is picked up within a moment);
 * resolves to that request's body.
 */
async function sendUntil(base: string, sink: Sink, what: string, match: (body: Record<string, any>) => boolean, event: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const found = await until(what, async () => {
    const before = sink.received.length;
    const messageId = `m-${++sent}`;
    const r = await postTracking(base, '/v1/track', { userId: 'u1', event: 'Order Completed', messageId, properties: { total: 42 }, ...event });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await sink.waitFor(before + 1, 3000).catch(() => {});
    return bodies(sink).slice(before).find((b) => match(b) && (b.id === messageId || b.messageId === messageId));
  }, 45_000);
  return found!;
}

const textbox = (page: Page, name: string) => page.getByRole('textbox', { name, exact: true });

test('functions in the console: write, fix, connect, deploy and restore a destination function; an insert and a source function', async (t) => {
  assertConsoleReady();
  const collect = await h.sink('/collect'); // the API the destination function calls
  const hook = await h.sink('/hook'); // the workspace file's webhook destination
  const sy = await h.start({
    workspace: `workspace: { slug: acme }
sources:
  - slug: ${SOURCE_ID}
    writeKey: ${WRITE_KEY}
destinations:
  - name: Orders webhook
    id: ${DESTINATION_ID}
    type: webhook
    sources: [${SOURCE_ID}]
    settings:
      urls: [${hook.url}]
`,
  });
  const base = sy.url;

  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('dialog', (d) => void d.accept());

  try {
    await page.goto(`${base}/`);
    await createOwner(page);

    // --- Functions, in the main navigation after Destinations.
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.deepEqual(await nav.getByRole('link').allTextContents(), ['Sources', 'Destinations', 'Functions', 'Profiles', 'Storage', 'Settings']);
    await nav.getByRole('link', { name: 'Functions' }).click();
    await page.getByRole('heading', { name: 'Functions', exact: true }).waitFor();
    assert.equal(await nav.getByRole('link', { name: 'Functions' }).getAttribute('aria-current'), 'page');
    await page.getByText('No destination functions yet').waitFor();
    await shot(page, 'functions-00-empty');

    // --- A new destination function: the template is Segment's handler.
    await page.getByRole('link', { name: 'New function' }).first().click();
    await page.getByRole('heading', { name: 'New function' }).waitFor();
    assert.equal(await page.getByRole('button', { name: /^Destination function/ }).getAttribute('aria-pressed'), 'true');
    const code = textbox(page, 'Code');
    assert.match(await code.inputValue(), /async function onTrack\(event, settings\) \{/);

    // A syntax error: refused, the message (naming the line) under the code, nowhere else.
    await textbox(page, 'Name').fill('Orders API');
    await code.fill('async function onTrack(event, settings) {\n  const total = ;\n}\n');
    await page.getByRole('button', { name: 'Create function' }).click();
    const codeError = page.locator('.field.invalid', { has: code }).locator('.field-error');
    await codeError.waitFor();
    assert.match((await codeError.textContent())!, /SyntaxError.*line 2/);
    assert.equal(await page.locator('.field.invalid').count(), 1, 'only the code is flagged');
    assert.equal(await code.getAttribute('aria-invalid'), 'true');
    await page.getByRole('button', { name: 'Go to line 2' }).click();
    assert.deepEqual(await page.evaluate(() => {
      const ta = document.activeElement as HTMLTextAreaElement;
      return [ta.name, ta.value.slice(ta.selectionStart, ta.selectionEnd)];
    }), ['code', '  const total = ;'], 'Go to line focuses the code and selects the line');
    await shot(page, 'functions-01-syntax-error');

    // Fixed, with a required setting the code reads as settings.endpoint.
    await page.getByRole('button', { name: 'Add setting' }).click();
    const setting = page.getByRole('group', { name: 'Setting 1' });
    await setting.getByRole('textbox', { name: 'Label', exact: true }).fill('Endpoint');
    assert.equal(await setting.getByRole('textbox', { name: 'Name in code', exact: true }).inputValue(), 'endpoint', 'the name follows the label');
    await setting.getByRole('checkbox', { name: 'Required' }).check();
    await code.fill(destinationCode(1));
    await page.getByRole('button', { name: 'Create function' }).click();

    // --- Created: its page opens on the instances, deployed.
    await page.waitForURL(/#\/functions\/dfn_[^/?]+\?tab=instances/);
    const fnId = decodeURIComponent(/#\/functions\/([^?]+)/.exec(page.url())![1]!);
    await page.getByRole('heading', { name: 'Orders API', exact: true }).waitFor();
    await page.locator('.page-actions').getByText('Deployed', { exact: true }).waitFor();
    await page.getByText('Not connected yet').waitFor();
    const stored = (await apiFromPage<{ data: { function: { settings: unknown[]; isLatestVersion: boolean } } }>(page, 'GET', `/functions/${fnId}`)).data.function;
    assert.deepEqual(stored.settings, [{ name: 'endpoint', label: 'Endpoint', description: '', type: 'STRING', required: true, sensitive: false }]);
    assert.equal(stored.isLatestVersion, true);

    // Connect it to the source: without the required endpoint, the API's message is under it.
    await page.getByRole('combobox', { name: 'Source', exact: true }).selectOption(SOURCE_ID);
    await textbox(page, 'Destination name').fill('Orders API (prod)');
    await page.getByRole('button', { name: 'Connect destination' }).click();
    const endpoint = textbox(page, 'Endpoint');
    await page.locator('.field.invalid', { has: endpoint }).locator('.field-error').waitFor();
    assert.equal(await page.locator('.field.invalid').count(), 1, 'only Endpoint is flagged');
    await shot(page, 'functions-02-connect-missing-setting');
    await endpoint.fill(collect.url);
    await page.getByRole('button', { name: 'Connect destination' }).click();
    const running = page.getByRole('region', { name: 'Destinations running this function' });
    await running.getByRole('link', { name: 'Orders API (prod)' }).waitFor();
    await running.getByRole('cell', { name: SOURCE_ID }).waitFor();
    await shot(page, 'functions-03-connected');

    // --- An event through the Tracking API reaches the sink as the function sent it.
    const got = await sendUntil(base, collect, 'the destination function to call the sink', (b) => b.v === 1);
    assert.deepEqual(got, { v: 1, name: 'Order Completed', id: got.id, user: 'u1' });
    assert.equal(collect.received.at(-1)!.headers['content-type'], 'application/json');

    // --- The destination's Event Tester runs the function once and shows what it printed.
    await running.getByRole('link', { name: 'Orders API (prod)' }).click();
    await tab(page, 'Event Tester');
    await page.getByRole('button', { name: 'Send test event' }).click();
    assert.equal(await page.getByTestId('tester-outcome').textContent(), 'delivered');
    assert.match(await page.getByTestId('tester-logs').textContent() ?? '', /^sending /);
    await shot(page, 'functions-03b-event-tester');
    await page.goBack();
    await page.goBack();

    // --- Edit the code and save: saved, not deployed (the deployed code still runs).
    await tab(page, 'Code and settings');
    await code.fill(destinationCode(2));
    await page.getByText('Unsaved changes.').waitFor();
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByTestId('deploy-state').getByText('Saved but not deployed.').waitFor();
    await page.locator('.page-actions').getByText('Saved, not deployed').waitFor();
    assert.equal((await apiFromPage<{ data: { function: { isLatestVersion: boolean; code: string } } }>(page, 'GET', `/functions/${fnId}`)).data.function.isLatestVersion, false);
    await shot(page, 'functions-04-saved-not-deployed');
    const stillV1 = await sendUntil(base, collect, 'the deployed version to keep running', () => true);
    assert.equal(stillV1.v, 1, 'saved code does not run before it is deployed');

    // Deploy: the new code runs.
    await page.getByRole('button', { name: 'Deploy', exact: true }).click();
    await page.locator('.page-actions').getByText('Deployed', { exact: true }).waitFor();
    assert.equal(await page.getByTestId('deploy-state').count(), 0);
    assert.ok(await page.getByRole('button', { name: 'Deploy', exact: true }).isDisabled(), 'nothing left to deploy');
    await sendUntil(base, collect, 'the deployed version 2 to run', (b) => b.v === 2);
    await shot(page, 'functions-05-deployed');

    // --- Versions: 2 deployed, 1 older; restoring 1 saves it as 3, not deployed.
    await tab(page, 'Versions');
    const versions = page.getByRole('region', { name: 'Versions' });
    await versions.getByRole('row').filter({ hasText: 'Deployed' }).first().waitFor();
    assert.deepEqual((await versions.locator('tbody tr td:first-child').allTextContents()), ['2', '1']);
    await page.getByRole('button', { name: 'Restore version 1' }).click();
    await page.getByText('Version 1 was restored as version 3').waitFor();
    await page.getByTestId('deploy-state').waitFor();
    await until('version 3 to be listed', async () => (await versions.locator('tbody tr td:first-child').allTextContents()).join() === '3,2,1');
    const restored = (await apiFromPage<{ data: { function: { code: string; isLatestVersion: boolean } } }>(page, 'GET', `/functions/${fnId}`)).data.function;
    assert.match(restored.code, /v: 1/);
    assert.equal(restored.isLatestVersion, false);
    await shot(page, 'functions-06-versions');

    // --- An insert function in front of the workspace file's webhook destination.
    await nav.getByRole('link', { name: 'Functions' }).click();
    await tab(page, 'Insert functions');
    await page.getByText('No insert functions yet').waitFor();
    await page.getByRole('link', { name: 'New function' }).first().click();
    await page.getByRole('heading', { name: 'New function' }).waitFor();
    assert.equal(await page.getByRole('button', { name: /^Insert function/ }).getAttribute('aria-pressed'), 'true');
    assert.match(await code.inputValue(), /return event;/, 'the insert template returns the event');
    await textbox(page, 'Name').fill('Enrich');
    await page.getByRole('button', { name: 'Add setting' }).click();
    await setting.getByRole('textbox', { name: 'Label', exact: true }).fill('Tag');
    await setting.getByRole('checkbox', { name: 'Required' }).check();
    await code.fill(insertCode);
    await page.getByRole('button', { name: 'Create function' }).click();
    await page.waitForURL(/#\/functions\/ifnd_[^/?]+\?tab=instances/);
    const insertId = decodeURIComponent(/#\/functions\/([^?]+)/.exec(page.url())![1]!);
    await page.getByText('Not in front of any destination yet').waitFor();
    await page.getByRole('combobox', { name: 'Destination', exact: true }).selectOption(DESTINATION_ID);
    await textbox(page, 'Instance name').fill('enrich');
    await textbox(page, 'Tag').fill('switchyard');
    await page.getByRole('button', { name: 'Connect insert function' }).click();
    const runSwitch = page.getByRole('switch', { name: 'Run enrich' });
    await runSwitch.waitFor();
    assert.equal(await runSwitch.getAttribute('aria-checked'), 'true');
    await page.getByRole('region', { name: 'Insert function instances' }).getByRole('link', { name: 'Orders webhook' }).waitFor();
    assert.equal(await page.getByRole('combobox', { name: 'Destination', exact: true }).locator(`option[value="${DESTINATION_ID}"]`).count(), 0,
      'a destination with this insert function is no longer offered');
    await shot(page, 'functions-07-insert-connected');

    const enriched = await sendUntil(base, hook, 'the insert function to change the webhook\'s events', (b) => b.properties?.enrichedBy === 'switchyard');
    assert.deepEqual(enriched.properties, { total: 42, enrichedBy: 'switchyard' });

    // Off: events reach the webhook unchanged.
    await runSwitch.click();
    await until('the switch to turn off', async () => (await runSwitch.getAttribute('aria-checked')) === 'false');
    const instances = (await apiFromPage<{ data: { instances: { name: string; enabled: boolean; integrationId: string; settings: unknown }[] } }>(page, 'GET',
      `/insert-function-instances?functionId=${insertId}`)).data.instances;
    assert.deepEqual(instances.map((i) => [i.name, i.enabled, i.integrationId, i.settings]), [['enrich', false, DESTINATION_ID, { tag: 'switchyard' }]]);
    const plain = await sendUntil(base, hook, 'events to pass the disabled insert function unchanged', (b) => b.properties?.enrichedBy === undefined);
    assert.deepEqual(plain.properties, { total: 42 });

    // Deleted: gone from the list, offered again.
    await page.getByRole('button', { name: 'Delete enrich' }).click();
    await page.getByText('Not in front of any destination yet').waitFor();
    assert.deepEqual((await apiFromPage<{ data: { instances: unknown[] } }>(page, 'GET', `/insert-function-instances?functionId=${insertId}`)).data.instances, []);

    // --- A source function: a source made from it, and its webhook URL as shown.
    await page.goto(`${base}/#/functions/new?kind=destination`);
    await page.getByRole('heading', { name: 'New function' }).waitFor();
    await page.getByRole('button', { name: /^Source function/ }).click();
    assert.match(await code.inputValue(), /async function onRequest\(request, settings\)/, 'the untouched template follows the kind');
    assert.match(await code.inputValue(), /Segment\.track\(/);
    await textbox(page, 'Name').fill('Billing webhooks');
    await page.getByRole('button', { name: 'Create function' }).click();
    await page.waitForURL(/#\/functions\/sfn_[^/?]+\?tab=instances/);
    await page.getByText('No source made from this function yet').waitFor();
    await textbox(page, 'Source name').fill('Billing');
    assert.equal(await textbox(page, 'Slug').inputValue(), 'billing');
    await page.getByRole('button', { name: 'Create source' }).click();
    const shown = (await page.getByTestId('new-webhook-url').textContent())!;
    await page.getByTestId('webhook-url-billing').waitFor();
    const billing = (await apiFromPage<{ data: { sources: { slug: string; writeKeys: string[] }[] } }>(page, 'GET', '/sources?pagination[count]=200'))
      .data.sources.find((s) => s.slug === 'billing')!;
    assert.equal(shown, `${base}/fn?b=${Buffer.from(billing.writeKeys[0]!).toString('base64url')}`);
    await shot(page, 'functions-08-source-webhook');
    const hooked = await fetch(shown, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ event: 'Invoice Paid', userId: 'cus_1' }) });
    assert.equal(hooked.status, 200, await hooked.clone().text());
    assert.deepEqual(await hooked.json(), { success: true, events: 1 });
    // A request the code cannot read shows in the function's Errors tab, with the request.
    const broken = await fetch(shown, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'not json' });
    assert.equal(broken.status, 400);
    await tab(page, 'Errors');
    const errorsTable = page.getByRole('region', { name: 'Errors', exact: true });
    await errorsTable.getByText(/SyntaxError: the request body is not valid JSON/).waitFor();
    await errorsTable.getByText('Request and logs').click();
    assert.match(await errorsTable.locator('pre').last().textContent() ?? '', /not json$/);
    await shot(page, 'functions-08b-source-errors');

    // --- The functions are listed by kind.
    await nav.getByRole('link', { name: 'Functions' }).click();
    await page.getByRole('region', { name: 'Destination functions' }).getByRole('link', { name: 'Orders API' }).waitFor();
    await tab(page, 'Source functions');
    await page.getByRole('region', { name: 'Source functions' }).getByRole('link', { name: 'Billing webhooks' }).waitFor();
    await shot(page, 'functions-09-list');
  } catch (err) {
    await shot(page, 'functions-failure').catch(() => {});
    throw err;
  }

  assert.deepEqual(pageErrors, [], 'no uncaught errors in the console page');
  assert.ok(fs.existsSync(path.join(SHOTS, 'functions-05-deployed.png')));
  t.diagnostic(`screenshots in ${SHOTS}`);
});
