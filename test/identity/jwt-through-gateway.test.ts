import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { type GatewayProcess, startGateway } from '../helpers/gateway.js';
import { addClient, cliJson, settle } from '../helpers/identity.js';

describe('JWT through a real gateway (keys made by openssl, tokens by `portcullis jwt mint`)', () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;

  before(async () => {
    upstream = await startExampleUpstream();
    gw = await startGateway({
      document: {
        routes: [
          {
            id: 'api',
            path: '/api/*',
            methods: { GET: 'jwt' },
            upstream: { url: `${upstream.url}/echo`, strip_prefix: '/api' },
          },
          {
            id: 'admin',
            path: '/admin/*',
            methods: { GET: 'jwt' },
            scopes: ['admin'],
            upstream: { url: `${upstream.url}/echo`, strip_prefix: '/admin' },
          },
        ],
      },
    });
    execFileSync('openssl', [
      'genpkey',
      '-algorithm',
      'RSA',
      '-pkeyopt',
      'rsa_keygen_bits:2048',
      '-out',
      join(gw.dir, 'rsa.pem'),
    ]);
    execFileSync('openssl', [
      'pkey',
      '-in',
      join(gw.dir, 'rsa.pem'),
      '-pubout',
      '-out',
      join(gw.dir, 'rsa.pub.pem'),
    ]);
    writeFileSync(join(gw.dir, 'hs.secret'), 'an-hs256-shared-secret-that-is-long-enough-123');
    await cliJson(gw, [
      'jwt-providers',
      'add',
      '--id',
      'idp',
      '--public-key-file',
      'rsa.pub.pem',
      '--algorithms',
      'RS256',
      '--issuer',
      'https://issuer.test',
      '--audience',
      'my-api',
      '--client-claim',
      'azp',
    ]);
    await addClient(gw, 'web', 'Web Frontend');
    await settle(gw);
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  const mint = async (args: string[]) => {
    const result = await gw.cli([
      'jwt',
      'mint',
      '--algorithm',
      'RS256',
      '--private-key-file',
      'rsa.pem',
      ...args,
    ]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim();
  };
  const get = async (path: string, token: string) => {
    const res = await request(`${gw.proxyUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      json: JSON.parse(text) as Record<string, unknown> & { headers: Record<string, string> },
    };
  };

  it('admits a valid token and maps subject, scopes and client', async () => {
    const token = await mint([
      '--issuer',
      'https://issuer.test',
      '--audience',
      'my-api',
      '--subject',
      'user-42',
      '--scopes',
      'read,admin',
      '--client',
      'web',
      '--client-claim',
      'azp',
    ]);
    const res = await get('/api/me', token);
    assert.equal(res.status, 200);
    assert.equal(res.json.headers['x-portcullis-user-id'], 'user-42');
    assert.equal(res.json.headers['x-portcullis-scopes'], 'read admin');
    assert.equal(res.json.headers['x-portcullis-client-id'], 'web');
    assert.equal(res.json.headers['x-portcullis-client-name'], 'Web Frontend');
    assert.equal((await get('/admin/x', token)).status, 200);
  });

  it('refuses wrong audience, wrong issuer, missing scope, tampering and alg none (time claims: test/auth/jwt)', async () => {
    const wrongAud = await mint([
      '--issuer',
      'https://issuer.test',
      '--audience',
      'other-api',
      '--subject',
      'u',
    ]);
    assert.equal((await get('/api/x', wrongAud)).status, 401);
    const wrongIss = await mint(['--issuer', 'https://evil.test', '--audience', 'my-api', '--subject', 'u']);
    assert.equal((await get('/api/x', wrongIss)).status, 401);
    const noScope = await mint([
      '--issuer',
      'https://issuer.test',
      '--audience',
      'my-api',
      '--subject',
      'u',
      '--scopes',
      'read',
    ]);
    const scoped = await get('/admin/x', noScope);
    assert.equal(scoped.status, 403);
    assert.equal(scoped.json['code'], 'insufficient_scope');
    const [h, p, s] = noScope.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    payload['scope'] = 'read admin';
    const forged = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    assert.equal((await get('/admin/x', forged)).status, 401);
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${p}.`;
    assert.equal((await get('/api/x', none)).status, 401);
  });

  it('refuses an HS256 provider secret shorter than 32 bytes and accepts HS tokens from a long one', async () => {
    writeFileSync(join(gw.dir, 'short.secret'), 'too-short');
    const short = await gw.cli([
      'jwt-providers',
      'add',
      '--id',
      'weak',
      '--secret-file',
      'short.secret',
      '--algorithms',
      'HS256',
      '--issuer',
      'https://hs.test',
    ]);
    assert.equal(short.code, 2);
    assert.match(short.stderr, /at least 32/);
    await cliJson(gw, [
      'jwt-providers',
      'add',
      '--id',
      'hs',
      '--secret-file',
      'hs.secret',
      '--algorithms',
      'HS256',
      '--issuer',
      'https://hs.test',
    ]);
    await settle(gw);
    const token = (
      await gw.cli([
        'jwt',
        'mint',
        '--algorithm',
        'HS256',
        '--secret-file',
        'hs.secret',
        '--issuer',
        'https://hs.test',
        '--subject',
        'svc',
      ])
    ).stdout.trim();
    assert.equal((await get('/api/x', token)).status, 200);
    const listed = await gw.cli(['jwt-providers', 'list', '--json']);
    assert.ok(!listed.stdout.includes('an-hs256-shared-secret'));
    assert.ok(!listed.stdout.includes('secret_encrypted'));
  });
});
