/**
 * The admin API on a running gateway, from outside: login, the remote CLI (same output as
 * local), failures as problem codes and exit codes, the admin API unreachable through the
 * proxy port, and a canary hunt for secrets in every read answer and in the gateway's logs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type GatewayProcess, runCli, startGateway } from '../helpers/gateway.js';

const ADMIN_PASSWORD = 'e2e admin password 123';

describe('admin API on a running gateway', () => {
  let gw: GatewayProcess;
  let session: string;
  let adminToken: string;
  let viewerToken: string;
  const secrets: string[] = [ADMIN_PASSWORD];

  /** `token` null: no credential at all. */
  const remote = (args: string[], token: string | null = adminToken) =>
    runCli([...args, '--url', gw.adminUrl, ...(token ? ['--token', token] : [])], { cwd: gw.dir });
  const json = <T = Record<string, unknown>>(text: string): T => JSON.parse(text) as T;

  before(async () => {
    gw = await startGateway({
      env: { PORTCULLIS_ADMIN_PASSWORD: ADMIN_PASSWORD },
      document: {
        routes: [
          { id: 'echo', path: '/echo', methods: { GET: 'public' }, upstream: { url: 'http://127.0.0.1:9' } },
        ],
      },
    });
    const login = await fetch(`${gw.adminUrl}/admin/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
    });
    assert.equal(login.status, 200);
    session = ((await login.json()) as { token: string }).token;
    secrets.push(session);
  });
  after(async () => {
    await gw?.stop();
  });

  it('creates API tokens remotely with a login session', async () => {
    const created = await remote(
      ['admin', 'tokens', 'create', '--role', 'admin', '--name', 'ci', '--json'],
      session,
    );
    assert.equal(created.code, 0, created.stderr);
    adminToken = json<{ token: string }>(created.stdout).token;
    const viewer = await remote(['admin', 'tokens', 'create', '--role', 'viewer', '--json'], session);
    viewerToken = json<{ token: string }>(viewer.stdout).token;
    secrets.push(adminToken, viewerToken);
    assert.match(adminToken, /^pclsvc_/);
  });

  it('gives the same output remotely as locally', async () => {
    const added = await remote(['clients', 'add', '--name', 'Mobile App', '--json']);
    assert.equal(added.code, 0, added.stderr);
    const key = await remote(['keys', 'create', '--client', 'mobile-app', '--env', 'live', '--json']);
    assert.equal(key.code, 0, key.stderr);
    secrets.push(json<{ key: string }>(key.stdout).key);
    const hmac = await remote(['clients', 'hmac-secret', '--client', 'mobile-app', '--json']);
    assert.equal(hmac.code, 0, hmac.stderr);
    secrets.push(json<{ secret: string }>(hmac.stdout).secret);
    for (const args of [
      ['clients', 'list', '--json'],
      ['clients', 'show', 'mobile-app', '--json'],
      ['keys', 'list', '--json'],
      ['routes', 'list', '--json'],
      ['clients', 'list'],
    ]) {
      const there = await remote(args);
      const here = await runCli(args, { cwd: gw.dir, env: gw.env });
      assert.equal(there.code, 0, `${args.join(' ')}: ${there.stderr}`);
      assert.equal(there.stdout, here.stdout, args.join(' '));
    }
  });

  it('takes --url and --token from PORTCULLIS_URL and PORTCULLIS_TOKEN', async () => {
    const listed = await runCli(['clients', 'list', '--json'], {
      cwd: '/',
      env: { PORTCULLIS_URL: gw.adminUrl, PORTCULLIS_TOKEN: viewerToken },
    });
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(json<unknown[]>(listed.stdout).length, 1);
  });

  it('fails with the problem code and a non-zero exit', async () => {
    const viewerWrite = await remote(['clients', 'add', '--name', 'Nope'], viewerToken);
    assert.equal(viewerWrite.code, 1);
    assert.match(viewerWrite.stderr, /^error\[forbidden\]/);
    const noToken = await remote(['clients', 'list', '--json'], null);
    assert.equal(noToken.code, 1);
    assert.equal(json<{ error: { code: string } }>(noToken.stdout).error.code, 'missing_credentials');
    const bad = await remote(['clients', 'add', '--name', 'x', '--id', 'NOT VALID']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error\[invalid_input\]/);
    const missing = await remote(['clients', 'show', 'ghost']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error\[not_found\]/);
    const down = await runCli(['clients', 'list', '--url', 'http://127.0.0.1:9', '--token', adminToken], {
      cwd: gw.dir,
    });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^error\[unreachable\]/);
    assert.ok(!down.stderr.includes(adminToken));
  });

  it('changes a live setting on the running gateway without a restart', async () => {
    const before = gw
      .output()
      .split('\n')
      .filter((l) => l.includes('"msg":"request"')).length;
    const set = await remote(['settings', 'set', 'access_log_sample=1', '--json']);
    assert.equal(set.code, 0, set.stderr);
    const deadline = Date.now() + 5000;
    let lines = before;
    while (lines === before && Date.now() < deadline) {
      await fetch(`${gw.proxyUrl}/echo`).then((r) => r.arrayBuffer());
      await new Promise((r) => setTimeout(r, 100));
      lines = gw
        .output()
        .split('\n')
        .filter((l) => l.includes('"msg":"request"')).length;
    }
    assert.ok(lines > before, 'no access-log line after access_log_sample=1');
    const unset = await remote(['settings', 'unset', 'access_log_sample']);
    assert.equal(unset.code, 0, unset.stderr);
  });

  it('is not reachable through the proxy port', async () => {
    for (const path of ['/admin/api/clients', '/admin/api/openapi.json', '/admin/api/docs', '/metrics']) {
      const answer = await fetch(`${gw.proxyUrl}${path}`, {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      assert.equal(answer.status, 404, path);
      assert.equal(((await answer.json()) as { code: string }).code, 'no_route');
    }
  });

  it('serves the OpenAPI document and its docs page', async () => {
    const document = await fetch(`${gw.adminUrl}/admin/api/openapi.json`);
    assert.equal(document.status, 200);
    const page = await fetch(`${gw.adminUrl}/admin/api/docs/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /swagger/i);
  });

  it('never shows a secret in a list, get, export or audit answer, nor in the logs', async () => {
    const reads = [
      '/clients',
      '/clients/mobile-app',
      '/keys',
      '/tokens',
      '/users',
      '/routes',
      '/grants',
      '/policies',
      '/jwt-providers',
      '/bindings',
      '/blocks',
      '/intercepts',
      '/logs',
      '/logs/export?format=ndjson',
      '/logs/export?format=csv',
      '/usage?client=mobile-app',
      '/audit',
      '/declarative/export',
      '/settings',
      '/auth/me',
    ];
    for (const path of reads) {
      const answer = await fetch(`${gw.adminUrl}/admin/api${path}`, {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      const text = await answer.text();
      assert.ok(answer.status < 300, `${path}: ${answer.status} ${text.slice(0, 200)}`);
      for (const secret of secrets) assert.ok(!text.includes(secret), `${path} shows a secret`);
    }
    const keys = await remote(['keys', 'list', '--json']);
    for (const secret of secrets) assert.ok(!keys.stdout.includes(secret));
    const output = gw.output();
    for (const secret of secrets) assert.ok(!output.includes(secret), 'a secret reached the logs');
  });
});
