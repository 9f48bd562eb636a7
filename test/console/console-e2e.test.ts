/**
 * The console in a real browser (Debian's Chromium through playwright-core) against a real
 * gateway process and a real upstream: sign in, create a client, a grant and a key in the
 * console and use the key through the proxy, see the request in the logs and on the
 * dashboard chart, bind the key and see an intercept, revoke it and see 401, a viewer who
 * cannot write, CSRF attempts refused, session expiry and lockout said plainly, the API
 * going away. Screenshots of every page (light and dark, and a split-screen width) are kept
 * in artifacts/console/ for people to look at.
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  chromiumGate,
  launchBrowser,
  newContext,
  SCREENSHOT_DIR,
  screenshot,
  signIn,
} from '../helpers/browser.js';
import { type GatewayProcess, runCli, startGateway } from '../helpers/gateway.js';

const gate = await chromiumGate();

const ADMIN_PASSWORD = 'console e2e admin password';
const VIEWER_PASSWORD = 'console e2e viewer password';

/** Pages of the console and a heading each must show once loaded. */
const PAGES: readonly { path: string; name: string; heading: RegExp }[] = [
  { path: '/', name: 'dashboard', heading: /Dashboard/ },
  { path: '/keys', name: 'keys', heading: /Keys/ },
  { path: '/clients', name: 'clients', heading: /Clients/ },
  { path: '/routes', name: 'routes', heading: /Routes/ },
  { path: '/policies', name: 'policies', heading: /Policies/ },
  { path: '/bindings', name: 'bindings', heading: /Bindings/ },
  { path: '/blocks', name: 'blocklist', heading: /Blocklist/ },
  { path: '/logs', name: 'logs', heading: /Logs/ },
  { path: '/anomalies', name: 'anomalies', heading: /Anomalies/ },
  { path: '/audit', name: 'audit', heading: /Audit/ },
  { path: '/settings', name: 'settings', heading: /Settings/ },
];

/** Calls through the proxy from a chosen loopback address (127.0.0.2 is a "different client"). */
function proxyCall(
  gw: GatewayProcess,
  path: string,
  key: string,
  from = '127.0.0.1',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${gw.proxyUrl}${path}`,
      { localAddress: from, headers: { authorization: `Bearer ${key}` }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('web console in Chromium', { skip: gate.skip }, () => {
  let upstream: Server;
  let gw: GatewayProcess;
  let browser: Browser;
  let admin: BrowserContext;
  let page: Page;
  let keySecret = '';
  let keyId = '';
  const pageErrors: string[] = [];

  const ui = (path: string) => `${gw.adminUrl}/admin/ui${path === '/' ? '/' : path}`;
  const heading = (p: Page) => p.getByRole('heading', { level: 1 });

  before(async () => {
    upstream = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: true, path: req.url }));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    gw = await startGateway({
      env: {
        PORTCULLIS_ADMIN_PASSWORD: ADMIN_PASSWORD,
        PORTCULLIS_RECORDER_FLUSH_MS: '200',
      },
      document: {
        routes: [
          { id: 'orders', path: '/orders', methods: { GET: 'api_key' }, upstream: { url: upstreamUrl } },
          { id: 'hello', path: '/hello', methods: { GET: 'public' }, upstream: { url: upstreamUrl } },
        ],
      },
    });
    const viewer = await runCli(['admin', 'users', 'add', 'vera', '--role', 'viewer', '--password-stdin'], {
      cwd: gw.dir,
      env: gw.env,
      input: `${VIEWER_PASSWORD}\n`,
    });
    assert.equal(viewer.code, 0, viewer.stderr);
    browser = await launchBrowser();
    admin = await newContext(browser);
    page = await admin.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  after(async () => {
    await browser?.close();
    await gw?.stop();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  it('signs in and shows the dashboard', async () => {
    await page.goto(ui('/'));
    await screenshot(page, 'login');
    await signIn(page, gw.adminUrl, 'admin', ADMIN_PASSWORD);
    await heading(page).filter({ hasText: 'Dashboard' }).waitFor();
  });

  it('creates a client, a grant and a key, and the key works through the proxy', async () => {
    await page
      .getByRole('navigation', { name: 'Console' })
      .getByRole('link', { name: 'Clients & grants' })
      .click();
    await page.getByRole('button', { name: 'Add client' }).click();
    const addClient = page.getByRole('dialog');
    await addClient.getByLabel('Name').fill('Mobile App');
    await addClient.getByLabel('ID').fill('mobile-app');
    await addClient.getByRole('button', { name: 'Add client' }).click();
    await page
      .getByRole('link', { name: /mobile-app|Mobile App/ })
      .first()
      .click();
    await page.getByRole('button', { name: 'Add grant' }).click();
    const addGrant = page.getByRole('dialog');
    await addGrant.getByLabel('Route').selectOption('orders');
    await addGrant.getByRole('button', { name: 'Add grant' }).click();
    await page.getByRole('cell', { name: 'orders' }).first().waitFor();

    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Keys' }).click();
    await page.getByRole('button', { name: 'Create key' }).click();
    const create = page.getByRole('dialog');
    await create.getByLabel('Client').selectOption('mobile-app');
    await create.getByLabel('Name').fill('e2e key');
    await create.getByLabel('Binding').selectOption('single');
    await create.getByRole('button', { name: 'Create key' }).click();
    const secret = page.getByTestId('new-key-secret');
    await secret.waitFor();
    await page.getByText('you will not see this again').waitFor();
    keySecret = (await secret.textContent())?.trim() ?? '';
    assert.match(keySecret, /^pcl_live_/);
    await screenshot(page, 'keys-created-secret');
    await page.getByRole('button', { name: 'Done' }).click();
    assert.equal(await page.getByTestId('new-key-secret').count(), 0, 'the secret is gone once closed');

    // Nothing secret in browser storage.
    // (Expressions as strings: this file is compiled without the DOM library.)
    const stored = await page.evaluate<string>(
      'JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage })',
    );
    assert.ok(!stored.includes(keySecret), 'the key is not in browser storage');
    assert.ok(!stored.includes('pcl_'), 'no key material in browser storage');
    const cookies = await admin.cookies();
    assert.ok(
      cookies.every((c) => c.httpOnly),
      'the session cookie is HttpOnly',
    );
    assert.ok(
      cookies.every((c) => c.sameSite === 'Strict'),
      'and SameSite=Strict',
    );

    const used = await proxyCall(gw, '/orders', keySecret);
    assert.equal(used.status, 200, used.body);

    const keys = await (
      await fetch(`${gw.adminUrl}/admin/api/keys`, { headers: await sessionHeaders(admin, gw) })
    ).json();
    keyId = (keys as { items: { id: string }[] }).items[0]!.id;
  });

  it('shows the request in the logs and on the dashboard chart', async () => {
    await page.goto(ui('/logs'));
    await until('the request in the logs', async () => {
      await page.reload();
      await heading(page).waitFor();
      return (await page.getByRole('button', { name: '/orders' }).count()) > 0 ? true : undefined;
    });
    await screenshot(page, 'logs-with-request');
    // The dashboard's figures may be a few seconds old (shared between dashboards).
    const label = await until('the request on the dashboard chart', async () => {
      await page.goto(ui('/'));
      const chart = page.getByRole('img', { name: /^Requests per minute/ });
      await chart.waitFor();
      const text = (await chart.getAttribute('aria-label')) ?? '';
      return /[1-9]\d* allowed/.test(text) ? text : undefined;
    });
    assert.match(label, /Requests per minute: [1-9]\d* requests in the last 1h: [1-9]\d* allowed/);
    await screenshot(page, 'dashboard-with-request');
  });

  it('the key is bound to its first address; another address is intercepted', async () => {
    const other = await proxyCall(gw, '/orders', keySecret, '127.0.0.2');
    assert.equal(other.status, 403, other.body);
    assert.match(other.body, /ip_binding_violation/);
    await page.goto(ui('/bindings'));
    await until('the intercept on the bindings page', async () => {
      await page.reload();
      await heading(page).waitFor();
      return (await page.getByText('127.0.0.2').count()) > 0 ? true : undefined;
    });
    await screenshot(page, 'bindings-intercept');
  });

  it('revokes the key; the proxy then answers 401', async () => {
    await page.goto(ui(`/keys/${keyId}`));
    await page.getByRole('button', { name: 'Revoke' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Reason').fill('e2e: leaked');
    await dialog.getByRole('button', { name: 'Revoke key' }).click();
    await page
      .getByText(/revoked/i)
      .first()
      .waitFor();
    const refused = await until('the revocation to reach the proxy', async () => {
      const res = await proxyCall(gw, '/orders', keySecret);
      return res.status === 401 ? res : undefined;
    });
    assert.match(refused.body, /key_revoked|invalid_credentials/);
  });

  it('refuses writes without the CSRF token and from another site', async () => {
    const blocksBefore = await countBlocks(admin, gw);
    // Our own page, but without the header: refused.
    const noToken = await page.evaluate(async () => {
      const res = await fetch('/admin/api/blocks', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'ip', value: '192.0.2.1', reason: 'csrf' }),
      });
      return { status: res.status, body: await res.text() };
    });
    assert.equal(noToken.status, 403);
    assert.match(noToken.body, /csrf_failed/);

    // Another site posting a form to the admin API: the SameSite=Strict cookie is not sent.
    const evil = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(
        `<form id="f" method="POST" action="${gw.adminUrl}/admin/api/blocks" enctype="text/plain">` +
          `<input name='{"kind":"ip","value":"192.0.2.2","reason":"csrf","x":"' value='"}'></form>` +
          '<script>document.getElementById("f").submit()</script>',
      );
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    const evilPage = await admin.newPage();
    const answer = evilPage.waitForResponse((res) => res.url().includes('/admin/api/blocks'));
    await evilPage.goto(`http://localhost:${(evil.address() as AddressInfo).port}/`);
    const res = await answer;
    assert.ok([401, 403, 415].includes(res.status()), `cross-site form answered ${res.status()}`);
    await evilPage.close();
    await new Promise((resolve) => evil.close(resolve));
    assert.equal(await countBlocks(admin, gw), blocksBefore, 'no block was created');
  });

  it('shows a new API token once, and never again', async () => {
    await page.goto(ui('/settings'));
    await heading(page).waitFor();
    // Every section loaded first: a section above finishing late shifts the page, and a click
    // aimed at the button could land elsewhere (seen under the full suite's load).
    await until('the settings sections to load', async () =>
      (await page.locator('[aria-busy="true"]').count()) === 0 ? true : undefined,
    );
    await page.getByRole('heading', { name: 'API tokens', exact: true }).scrollIntoViewIfNeeded();
    await page.getByRole('button', { name: 'Create token' }).click();
    const create = page.getByRole('dialog', { name: 'Create an API token' });
    await create.getByLabel('Name').fill('e2e-script');
    await create.getByRole('button', { name: 'Create token' }).click();
    const shown = page.getByTestId('new-secret');
    await shown.waitFor();
    const token = (await shown.textContent())?.trim() ?? '';
    assert.match(token, /^pclsvc_/);
    await page.getByRole('button', { name: 'Done' }).click();
    await shown.waitFor({ state: 'detached' });
    await page.reload();
    await heading(page).waitFor();
    assert.equal(await page.getByText(token).count(), 0, 'the token is not shown again');
    const stored = await page.evaluate<string>(
      'JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage })',
    );
    assert.ok(!stored.includes(token), 'nor kept in browser storage');
  });

  it('takes a screenshot of every page, light and dark, and at split-screen width', async () => {
    for (const theme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: theme });
      for (const target of PAGES) {
        await page.goto(ui(target.path));
        await heading(page).filter({ hasText: target.heading }).waitFor();
        // Let data and charts settle (loading states end).
        await until(`${target.path} to finish loading`, async () =>
          (await page.locator('[aria-busy="true"]').count()) === 0 ? true : undefined,
        );
        await screenshot(page, `${target.name}-${theme}`);
      }
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 800, height: 900 });
    await page.goto(ui('/'));
    await heading(page).waitFor();
    await page.getByRole('button', { name: 'Menu' }).click();
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Keys' }).waitFor();
    await screenshot(page, 'dashboard-800px-menu');
    await page.setViewportSize({ width: 1366, height: 900 });
    assert.deepEqual(pageErrors, [], 'no script errors on any page');
  });

  it('is keyboard navigable: skip link, menu and a dialog by keys alone', async () => {
    await page.goto(ui('/blocks'));
    await heading(page).waitFor();
    await page.keyboard.press('Tab');
    const skip = page.getByRole('link', { name: 'Skip to content' });
    assert.equal(
      await skip.evaluate((el) => el === el.ownerDocument.activeElement),
      true,
      'first Tab reaches the skip link',
    );
    // Tab to the "Add block" button and open the dialog with Enter; Escape closes it.
    const add = page.getByRole('button', { name: 'Add block' });
    for (let i = 0; i < 40 && !(await add.evaluate((el) => el === el.ownerDocument.activeElement)); i++)
      await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').getByLabel('Value').waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
  });

  it('a viewer sees everything and can change nothing', async () => {
    const context = await newContext(browser);
    const viewerPage = await context.newPage();
    await signIn(viewerPage, gw.adminUrl, 'vera', VIEWER_PASSWORD);
    await viewerPage.getByText('viewer: read only').waitFor();
    for (const [path, button] of [
      ['/keys', 'Create key'],
      ['/blocks', 'Add block'],
      ['/clients', 'Add client'],
    ] as const) {
      await viewerPage.goto(ui(path));
      await heading(viewerPage).waitFor();
      await viewerPage
        .getByRole('table')
        .first()
        .or(viewerPage.getByRole('heading', { level: 2 }))
        .first()
        .waitFor();
      assert.equal(
        await viewerPage.getByRole('button', { name: button }).count(),
        0,
        `${path}: no "${button}"`,
      );
    }
    await screenshot(viewerPage, 'viewer-keys');
    // Even a hand-made request with the viewer's CSRF token is refused by the API.
    const forced = await viewerPage.evaluate(async () => {
      const me = (await (await fetch('/admin/api/auth/me')).json()) as { csrfToken: string };
      const res = await fetch('/admin/api/blocks', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
        body: JSON.stringify({ kind: 'ip', value: '192.0.2.3', reason: 'viewer' }),
      });
      return res.status;
    });
    assert.equal(forced, 403);
    await context.close();
  });

  it('says plainly when the session ended and when sign-in is locked', async () => {
    const context = await newContext(browser);
    const p = await context.newPage();
    await signIn(p, gw.adminUrl, 'admin', ADMIN_PASSWORD);
    await context.clearCookies();
    await p.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Keys' }).click();
    await p.getByText('Your session has ended').waitFor();
    await screenshot(p, 'session-ended');

    for (let i = 0; i < 6; i++) {
      await p.getByLabel('Username').fill('mallory');
      await p.getByLabel('Password').fill(`wrong password ${i}`);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByRole('alert').waitFor();
      if ((await p.getByText(/locked/).count()) > 0) break;
    }
    await p.getByText(/Sign-in is locked/).waitFor();
    await screenshot(p, 'login-locked');
    await context.close();
  });

  it('shows that the admin API is down instead of a blank page', async () => {
    await page.goto(ui('/blocks'));
    await heading(page).waitFor();
    await gw.stop();
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Keys' }).click();
    await page.getByText('The admin API is not answering').first().waitFor({ timeout: 20_000 });
    await screenshot(page, 'api-down');
    process.stderr.write(`[console] screenshots in ${SCREENSHOT_DIR}\n`);
  });
});

/** The admin context's session cookie as a header (for checks made outside the browser). */
async function sessionHeaders(context: BrowserContext, gw: GatewayProcess): Promise<Record<string, string>> {
  const cookie = (await context.cookies(`${gw.adminUrl}/admin/api/`))
    .map((c) => `${c.name}=${c.value}`)
    .join('; ');
  return { cookie };
}

async function countBlocks(context: BrowserContext, gw: GatewayProcess): Promise<number> {
  const res = await fetch(`${gw.adminUrl}/admin/api/blocks?limit=500`, {
    headers: await sessionHeaders(context, gw),
  });
  return ((await res.json()) as { items: unknown[] }).items.length;
}
