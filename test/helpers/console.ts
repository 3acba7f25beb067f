/**
 * What the web console's browser tests share: Debian's Chromium driven by
 * playwright-core, the built console, screenshots in artifacts/screenshots/, and
 * the first run (creating the owner account in the console).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** The repository (this file runs as dist/test/helpers/console.js). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const SHOTS = path.join(ROOT, 'artifacts', 'screenshots');
export const CONSOLE_DIR = path.join(ROOT, 'dist', 'web');

/** Fails (never skips) when Chromium or the console build is missing; makes the screenshot dir. */
export function assertConsoleReady(): void {
  assert.ok(fs.existsSync(CHROMIUM), `Chromium is missing at ${CHROMIUM}: apt-get install chromium (the console test does not skip)`);
  assert.ok(fs.existsSync(path.join(CONSOLE_DIR, 'index.html')), `the console is not built (${CONSOLE_DIR}): run npm run build:web`);
  fs.mkdirSync(SHOTS, { recursive: true });
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Waits until `fn` returns a truthy value (polling), or fails with `what`. */
export async function until<T>(what: string, fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
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
export const tab = (page: Page, name: string) => page.locator('nav.tabs').getByRole('link', { name, exact: true }).click();
export const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

export interface Owner { name: string; email: string; password: string }
export const OWNER: Owner = { name: 'Ada Owner', email: 'ada@example.com', password: 'correct horse battery' };

/**
 * The first run: on the "Create the owner account" form (already shown), creates the
 * owner (the form submits on Enter) and waits for the Sources page.
 */
export async function createOwner(page: Page, owner: Owner = OWNER): Promise<void> {
  await page.getByRole('heading', { name: 'Create the owner account' }).waitFor();
  await page.getByLabel('Your name').fill(owner.name);
  await page.getByLabel('Email').fill(owner.email);
  await page.getByLabel('Password').fill(owner.password);
  await page.getByLabel('Password').press('Enter');
  await page.getByRole('heading', { name: 'Sources', exact: true }).waitFor();
}

/**
 * A Public API call from the signed-in page (its session cookie and CSRF token),
 * for what a test prepares or triggers outside the console. Throws on non-2xx.
 */
export async function apiFromPage<T>(page: Page, method: string, url: string, body?: unknown): Promise<T> {
  const r = await page.evaluate(async ([m, u, b]) => {
    const session = (await (await fetch('/auth/session')).json()) as { data?: { csrfToken?: string }; csrfToken?: string };
    const csrf = session.data?.csrfToken ?? session.csrfToken ?? '';
    const res = await fetch(u as string, {
      method: m as string,
      headers: { accept: 'application/json', 'x-csrf-token': csrf, ...(b === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(b === undefined ? {} : { body: JSON.stringify(b) }),
    });
    return { status: res.status, text: await res.text() };
  }, [method, url, body] as const);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${url} answered ${r.status}: ${r.text}`);
  return (r.text ? JSON.parse(r.text) : undefined) as T;
}
