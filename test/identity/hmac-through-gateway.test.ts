import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type ExampleUpstream, startExampleUpstream } from '../../examples/upstream/server.js';
import { type GatewayProcess, startGateway } from '../helpers/gateway.js';
import { addClient, cliJson, grant, settle } from '../helpers/identity.js';

const sh = promisify(execFile);

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  bodyBytes: number;
  bodySha256: string;
}

describe('HMAC-signed requests through a real gateway', () => {
  let upstream: ExampleUpstream;
  let gw: GatewayProcess;
  let secret: string;

  before(async () => {
    upstream = await startExampleUpstream();
    gw = await startGateway({
      env: { PORTCULLIS_HMAC_BODY_LIMIT_BYTES: '4096' },
      document: {
        routes: [
          {
            id: 'signed',
            path: '/signed/*',
            methods: { GET: 'hmac', POST: 'hmac' },
            upstream: { url: `${upstream.url}/echo`, strip_prefix: '/signed' },
          },
        ],
      },
    });
    await addClient(gw, 'partner', 'Partner Inc');
    await grant(gw, 'partner', 'signed');
    secret = (await cliJson<{ secret: string }>(gw, ['clients', 'hmac-secret', '--client', 'partner']))
      .secret;
    await settle(gw);
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  const signedCurl = async (args: string[], secretToUse = secret) => {
    const result = await gw.cli(['sign', '--client', 'partner', '--secret', secretToUse, ...args]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim();
  };
  const runCurl = async (command: string) => {
    const { stdout } = await sh('/bin/sh', ['-c', `${command} -s -w '\\n%{http_code}'`]);
    const lines = stdout.trimEnd().split('\n');
    const status = Number(lines.pop());
    return { status, body: lines.join('\n') };
  };

  it('admits a request signed by `portcullis sign`, forwarding the exact body', async () => {
    const body = '{"amount":1200,"note":"café ✓"}';
    const command = await signedCurl([
      '-X',
      'POST',
      '--url',
      `${gw.proxyUrl}/signed/pay?x=1&y=a%20b`,
      '-d',
      body,
    ]);
    const res = await runCurl(command);
    assert.equal(res.status, 200, res.body);
    const echo = JSON.parse(res.body) as Echo;
    assert.equal(echo.bodySha256, createHash('sha256').update(body).digest('hex'));
    assert.equal(echo.url, '/echo/pay?x=1&y=a%20b');
    assert.equal(echo.headers['x-portcullis-client-id'], 'partner');
    assert.equal(echo.headers['authorization'], undefined);

    const replay = await runCurl(command);
    assert.equal(replay.status, 401);
    assert.equal((JSON.parse(replay.body) as { code: string }).code, 'replayed_request');
  });

  it('admits a signature computed independently with openssl', async () => {
    const ts = Math.floor(Date.now() / 1000);
    const nonce = `n${ts}abcdef`;
    const body = 'plain text body';
    const script = [
      `sig=$(printf 'POST\\n/signed/raw?q=1\\n${ts}\\n${nonce}\\n${body}' | openssl dgst -sha256 -hmac '${secret}' | sed 's/^.* //')`,
      `curl -s -w '\\n%{http_code}' -X POST --data-binary '${body}' -H "Authorization: HMAC client_id=\\"partner\\",timestamp=\\"${ts}\\",nonce=\\"${nonce}\\",signature=\\"$sig\\"" '${gw.proxyUrl}/signed/raw?q=1'`,
    ].join('\n');
    const { stdout } = await sh('/bin/sh', ['-c', script]);
    const lines = stdout.trimEnd().split('\n');
    assert.equal(Number(lines.pop()), 200, lines.join('\n'));
  });

  it('refuses a changed body, a wrong secret, a stale timestamp and a body over the limit', async () => {
    const command = await signedCurl(['-X', 'POST', '--url', `${gw.proxyUrl}/signed/pay`, '-d', 'original']);
    const tampered = await runCurl(command.replace("'original'", "'tampered'"));
    assert.equal(tampered.status, 401);
    assert.equal((JSON.parse(tampered.body) as { code: string }).code, 'invalid_credentials');
    const wrongSecret = await runCurl(await signedCurl(['--url', `${gw.proxyUrl}/signed/x`], `${secret}x`));
    assert.equal(wrongSecret.status, 401);
    const stale = await runCurl(
      `curl -H 'Authorization: HMAC client_id="partner",timestamp="1000000000",nonce="abcdefgh12",signature="${'0'.repeat(64)}"' '${gw.proxyUrl}/signed/x'`,
    );
    assert.equal((JSON.parse(stale.body) as { code: string }).code, 'signature_expired');
    const big = await runCurl(
      await signedCurl(['-X', 'POST', '--url', `${gw.proxyUrl}/signed/pay`, '-d', 'x'.repeat(5000)]),
    );
    assert.equal(big.status, 413);
    const malformed = await runCurl(
      `curl -H 'Authorization: HMAC client_id=partner' '${gw.proxyUrl}/signed/x'`,
    );
    assert.equal(malformed.status, 401);
  });

  it('keeps the previous secret valid during the overlap after a new one is issued', async () => {
    const next = (
      await cliJson<{ secret: string }>(gw, [
        'clients',
        'hmac-secret',
        '--client',
        'partner',
        '--overlap',
        '1h',
      ])
    ).secret;
    await settle(gw);
    assert.equal((await runCurl(await signedCurl(['--url', `${gw.proxyUrl}/signed/a`], next))).status, 200);
    assert.equal((await runCurl(await signedCurl(['--url', `${gw.proxyUrl}/signed/b`], secret))).status, 200);
    const shown = await gw.cli(['clients', 'show', 'partner', '--json']);
    assert.ok(
      !shown.stdout.includes(secret) && !shown.stdout.includes(next),
      'secrets are never shown again',
    );
    assert.ok(!gw.output().includes(secret) && !gw.output().includes(next), 'secrets never reach the logs');
  });
});
