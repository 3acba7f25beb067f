/**
 * The console's Profile explorer (Unify) in a real browser against a real Switchyard
 * whose workspace file declares a Unify space: an anonymous visitor who then signs up
 * is one profile, found in the console by email and by the anonymous id, with its
 * external IDs, traits and latest events. Screenshots: artifacts/screenshots/profiles-*.png.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { assertConsoleReady, createOwner, launchChromium, shot } from './helpers/console.js';
import { Harness } from './helpers/harness.js';
import { postTracking, waitUntil } from './helpers/e2e.js';

const h = new Harness();
let browser: Browser | undefined;
after(async () => {
  await browser?.close();
  await h.cleanup();
});

const TOKEN = 'tok_console_profiles_0123456789';
const WORKSPACE = `workspace: { slug: acme }
sources:
  - slug: web-prod
    writeKey: wk_web_prod
destinations: []
unify:
  space: { slug: dev-space, name: Dev space }
  sources: [web-prod]
  accessToken: ${TOKEN}
`;

test('the Profile explorer finds a profile by any of its identifiers and shows its ids, traits and events', async () => {
  assertConsoleReady();
  const sy = await h.start({ workspace: WORKSPACE });
  const base = sy.url;
  assert.equal((await postTracking(base, '/v1/page', { anonymousId: 'anon-42', name: 'Pricing', messageId: 'p1' })).status, 200);
  assert.equal((await postTracking(base, '/v1/identify', { anonymousId: 'anon-42', userId: 'u-42', traits: { email: 'Ada@Example.com', plan: 'pro' }, messageId: 'i1' })).status, 200);
  assert.equal((await postTracking(base, '/v1/track', { userId: 'u-42', event: 'Signed Up', messageId: 't1' })).status, 200);
  // The graph is built by its own thread: wait until the Profile API sees all three events.
  await waitUntil('the profile has its three events', async () => {
    const res = await fetch(`${base}/v1/spaces/dev-space/collections/users/profiles/user_id:u-42/events`, {
      headers: { authorization: `Basic ${Buffer.from(`${TOKEN}:`).toString('base64')}` },
    });
    return res.status === 200 && ((await res.json()) as { data: unknown[] }).data.length === 3 ? true : undefined;
  });

  browser = await launchChromium();
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.setDefaultTimeout(20_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  try {
    await page.goto(`${base}/`);
    await createOwner(page);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Profiles' }).click();
    await page.getByRole('heading', { name: 'Profiles', exact: true }).waitFor();
    await page.getByText(/Space Dev space/).waitFor();

    await page.getByRole('combobox', { name: 'Identifier type' }).selectOption('email');
    await page.getByRole('textbox', { name: 'Value' }).fill('ada@example.com');
    await page.getByRole('button', { name: 'Find profile' }).click();
    const profileId = (await page.getByTestId('profile-id').textContent())!;
    assert.match(profileId, /^use_/);
    const ids = page.getByRole('region', { name: 'External IDs' });
    for (const value of ['u-42', 'anon-42', 'ada@example.com']) await ids.getByRole('cell', { name: value, exact: true }).waitFor();
    await page.getByRole('region', { name: 'Traits' }).getByRole('cell', { name: 'pro', exact: true }).waitFor();
    const events = page.getByRole('region', { name: 'Latest events' });
    await events.getByRole('cell', { name: 'Signed Up', exact: true }).waitFor();
    assert.equal(await events.getByRole('row').count(), 4, 'a header and three events');
    await shot(page, 'profiles-01-by-email');

    // The anonymous id finds the same profile; an unknown one says so.
    await page.getByRole('combobox', { name: 'Identifier type' }).selectOption('anonymous_id');
    await page.getByRole('textbox', { name: 'Value' }).fill('anon-42');
    await page.getByRole('button', { name: 'Find profile' }).click();
    await page.waitForURL(/identifier=anonymous_id/);
    assert.equal(await page.getByTestId('profile-id').textContent(), profileId);
    await page.getByRole('textbox', { name: 'Value' }).fill('nobody');
    await page.getByRole('button', { name: 'Find profile' }).click();
    await page.getByText('no profile has anonymous_id:nobody').waitFor();
    await shot(page, 'profiles-02-not-found');
  } catch (err) {
    await shot(page, 'profiles-failure').catch(() => {});
    throw err;
  }
  assert.deepEqual(pageErrors, []);
});
