/**
 * `signedCurl` output run by a real curl through a real shell against a node:http server that
 * verifies what actually arrived: the signed target and body must be what curl sends.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parseHmacAuthorization } from '../../../src/auth/hmac/header.js';
import { type SignedCurlOptions, signedCurl } from '../../../src/auth/hmac/sign.js';
import { createHmacVerifier, type HmacVerdict } from '../../../src/auth/hmac/verify.js';
import { systemClock } from '../../../src/core/clock.js';
import { MemoryState } from '../../../src/state/memory.js';

const run = promisify(execFile);
const SECRET = "curl-secret-with-'quote'";

interface Seen {
  verdict: string;
  method: string;
  target: string;
  body: string;
}

const state = new MemoryState();
const verify = createHmacVerifier({ windowS: 300, state, clock: systemClock });
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    const parsed = parseHmacAuthorization(req.headers.authorization ?? '');
    const verdict: HmacVerdict = parsed.ok
      ? await verify({
          header: parsed,
          method: req.method ?? '',
          target: req.url ?? '',
          body,
          secrets: [SECRET],
        })
      : { ok: false, code: 'invalid_credentials', reason: parsed.reason };
    const seen: Seen = {
      verdict: verdict.ok ? 'ok' : verdict.code,
      method: req.method ?? '',
      target: req.url ?? '',
      body: body.toString('hex'),
    };
    res.writeHead(verdict.ok ? 200 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify(seen));
  });
});
let origin = '';

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await state.close();
});

async function curl(options: Omit<SignedCurlOptions, 'clientId' | 'secret' | 'url'> & { path: string }) {
  const command = signedCurl({
    ...options,
    url: origin + options.path,
    clientId: 'client-1',
    secret: SECRET,
  });
  const { stdout } = await run('/bin/sh', ['-c', command]);
  return { command, seen: JSON.parse(stdout) as Seen };
}

describe('signedCurl executed by a real curl', () => {
  test('POST with a query and a JSON body → ok', async () => {
    const { seen } = await curl({ method: 'POST', path: '/v1/orders?x=1', body: '{"qty":2}' });
    assert.deepEqual(seen, {
      verdict: 'ok',
      method: 'POST',
      target: '/v1/orders?x=1',
      body: Buffer.from('{"qty":2}').toString('hex'),
    });
  });

  test('running the same command twice → ok, then replayed_request', async () => {
    const command = signedCurl({
      method: 'GET',
      url: `${origin}/v1/ping`,
      clientId: 'client-1',
      secret: SECRET,
    });
    const first = JSON.parse((await run('/bin/sh', ['-c', command])).stdout) as Seen;
    const second = JSON.parse((await run('/bin/sh', ['-c', command])).stdout) as Seen;
    assert.deepEqual([first.verdict, second.verdict], ['ok', 'replayed_request']);
  });

  test('a target curl would normally rewrite (dot segments, globs, quotes, %2f, fragment) → ok', async () => {
    const path = "/v1/../a/./b//c?y=[1]{2}&q='x'&z=%2f&e=%&s=$HOME`id`#frag";
    const { seen } = await curl({ method: 'GET', path });
    assert.equal(seen.target, "/v1/../a/./b//c?y=[1]{2}&q='x'&z=%2f&e=%&s=$HOME`id`");
    assert.equal(seen.verdict, 'ok');
  });

  test('a body with single quotes, $(…), backslashes and multibyte UTF-8 → ok', async () => {
    const body = "it's $(id) `id` \\n \\' %s 東京 🚀\n";
    const { seen } = await curl({ method: 'PUT', path: '/v1/notes', body });
    assert.equal(seen.body, Buffer.from(body).toString('hex'));
    assert.equal(seen.verdict, 'ok');
  });

  test('a binary body with 0x00, \\r\\n and invalid UTF-8 (sent via stdin) → ok', async () => {
    const body = Uint8Array.from([0x00, 0x0d, 0x0a, 0xff, 0x25, 0x5c, 0x27, 0x2d, 0x00, 0x80]);
    const { command, seen } = await curl({ method: 'POST', path: '/v1/blob', body });
    assert.match(command, /--data-binary @-/);
    assert.equal(seen.body, Buffer.from(body).toString('hex'));
    assert.equal(seen.verdict, 'ok');
  });

  test('a body starting with "-" or "@" (printf option, curl file reference) → ok', async () => {
    for (const body of ['-n x', '@/etc/hostname']) {
      const { seen } = await curl({ method: 'POST', path: '/v1/text', body });
      assert.equal(seen.body, Buffer.from(body).toString('hex'));
      assert.equal(seen.verdict, 'ok');
    }
  });

  test('an empty body and an extra header with a quote → ok', async () => {
    const { seen } = await curl({
      method: 'DELETE',
      path: '/v1/orders/7',
      body: '',
      headers: { 'X-Note': "a'b" },
    });
    assert.equal(seen.body, '');
    assert.equal(seen.verdict, 'ok');
  });

  test('the command with its body edited after signing → invalid_credentials', async () => {
    const command = signedCurl({
      method: 'POST',
      url: `${origin}/v1/orders`,
      body: '{"qty":2}',
      clientId: 'client-1',
      secret: SECRET,
    });
    const edited = command.replace('{"qty":2}', '{"qty":9}');
    const seen = JSON.parse((await run('/bin/sh', ['-c', edited])).stdout) as Seen;
    assert.equal(seen.verdict, 'invalid_credentials');
  });
});
