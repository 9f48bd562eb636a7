/**
 * A real browser for the console's end-to-end tests: Debian's Chromium driven by
 * playwright-core (no browser download). On a developer's machine without Chromium the suite
 * skips with a message; with CI=true it fails. Screenshots go to `artifacts/console/`
 * (override with PORTCULLIS_SCREENSHOTS), where CI keeps them.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { ROOT } from './gateway.js';
import { inCI, type ServiceGate } from './services.js';

const HOW_TO = 'apt-get install chromium to enable (or set PORTCULLIS_TEST_CHROMIUM to its path)';

export function chromiumPath(): string | undefined {
  const candidates = [process.env.PORTCULLIS_TEST_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((path): path is string => !!path && existsSync(path));
}

/** Pass `skip` to `describe`; await at module top level so the decision precedes registration. */
export async function chromiumGate(): Promise<ServiceGate> {
  if (chromiumPath()) return { skip: false };
  const message = `Chromium not found; ${HOW_TO}`;
  if (inCI) {
    test('Chromium is required in CI', () => {
      throw new Error(message);
    });
    return { skip: message };
  }
  process.stderr.write(`[skip] ${message}\n`);
  return { skip: message };
}

/** Headless, no sandbox (CI runs as root), and nothing that phones home on a closed network. */
export function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error(`Chromium not found; ${HOW_TO}`);
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-default-apps',
      '--disable-extensions',
    ],
  });
}

export const SCREENSHOT_DIR = process.env.PORTCULLIS_SCREENSHOTS ?? join(ROOT, 'artifacts', 'console');

/** A full-page screenshot named after the page (and theme), kept as a CI artifact. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** A fresh browser context (its own cookies) at a laptop-sized viewport. */
export function newContext(
  browser: Browser,
  options: { width?: number; dark?: boolean } = {},
): Promise<BrowserContext> {
  return browser.newContext({
    viewport: { width: options.width ?? 1366, height: 900 },
    colorScheme: options.dark ? 'dark' : 'light',
  });
}

/** Sign in through the login form and wait for the console's navigation. */
export async function signIn(
  page: Page,
  adminUrl: string,
  username: string,
  password: string,
): Promise<void> {
  await page.goto(`${adminUrl}/admin/ui/`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Console' }).waitFor();
}
