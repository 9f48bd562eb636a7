import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { ParsedHmac } from '../../../src/auth/hmac/header.js';
import { buildHmacAuthorization } from '../../../src/auth/hmac/sign.js';
import { createHmacVerifier, verifyHmacRequest } from '../../../src/auth/hmac/verify.js';
import { MemoryState } from '../../../src/state/memory.js';
import type { HotState } from '../../../src/state/types.js';
import {
  CLIENT_ID,
  check,
  clockAtStart,
  NOW_S,
  outcome,
  SECRET,
  type SignedRequest,
  signRequest,
  WINDOW_S,
} from './fixtures.js';

const states: MemoryState[] = [];
function memory(): MemoryState {
  const state = new MemoryState({ clock: clockAtStart() });
  states.push(state);
  return state;
}
after(async () => {
  for (const state of states) await state.close();
});

/** A HotState that records nonce writes, optionally failing them. */
function spyState(fault?: Error): HotState & { calls: Array<[string, string, number]> } {
  const inner = memory();
  const calls: Array<[string, string, number]> = [];
  return Object.assign(Object.create(inner) as HotState, {
    calls,
    setIfAbsent: async (key: string, value: string, ttlMs: number) => {
      calls.push([key, value, ttlMs]);
      if (fault) throw fault;
      return inner.setIfAbsent(key, value, ttlMs);
    },
  });
}

const withSignature = (request: SignedRequest, signature: string): SignedRequest => ({
  ...request,
  authorization: request.authorization.replace(/signature="[^"]*"/, `signature="${signature}"`),
});

const signatureOf = (request: SignedRequest) => /signature="([^"]*)"/.exec(request.authorization)?.[1] ?? '';

describe('a correctly signed request', () => {
  test('valid request → ok', async () => {
    assert.equal(outcome(await check(signRequest(), { state: memory() })), 'ok');
  });

  test('GET with no body → ok', async () => {
    const request = signRequest({ method: 'GET', target: '/v1/orders', body: new Uint8Array(0) });
    assert.equal(outcome(await check(request, { state: memory() })), 'ok');
  });

  test('upper-case hex signature → ok', async () => {
    const request = signRequest();
    const upper = withSignature(request, signatureOf(request).toUpperCase());
    assert.equal(outcome(await check(upper, { state: memory() })), 'ok');
  });
});

describe('signature checks → invalid_credentials', () => {
  test('signature made with another secret → invalid_credentials', async () => {
    const request = signRequest({ secret: 'not-the-secret' });
    assert.equal(outcome(await check(request, { state: memory() })), 'invalid_credentials');
  });

  test('one flipped hex digit → invalid_credentials', async () => {
    const request = signRequest();
    const sig = signatureOf(request);
    const flipped = `${sig.slice(0, 10)}${sig[10] === '0' ? '1' : '0'}${sig.slice(11)}`;
    assert.equal(
      outcome(await check(withSignature(request, flipped), { state: memory() })),
      'invalid_credentials',
    );
  });

  const shapes: Array<[string, (sig: string) => string]> = [
    ['short (62 hex)', (sig) => sig.slice(0, 62)],
    ['odd-length (63 hex)', (sig) => sig.slice(0, 63)],
    ['long (66 hex, valid prefix)', (sig) => `${sig}00`],
    ['non-hex', (sig) => `${sig.slice(0, 62)}zz`],
    ['empty', () => ''],
  ];
  for (const [name, reshape] of shapes) {
    test(`${name} signature in the header → invalid_credentials`, async () => {
      const request = signRequest();
      const verdict = await check(withSignature(request, reshape(signatureOf(request))), { state: memory() });
      assert.equal(outcome(verdict), 'invalid_credentials');
    });

    // Defence in depth: a ParsedHmac built by other code (not the parser) is re-checked.
    test(`${name} signature passed straight to verifyHmacRequest → invalid_credentials`, async () => {
      const request = signRequest();
      const state = spyState();
      const header: ParsedHmac = {
        clientId: CLIENT_ID,
        timestamp: request.timestamp,
        nonce: request.nonce,
        signature: reshape(signatureOf(request)),
      };
      const verdict = await verifyHmacRequest({
        header,
        method: request.method,
        target: request.target,
        body: request.body,
        secrets: [SECRET],
        windowS: WINDOW_S,
        state,
        clock: clockAtStart(),
      });
      assert.equal(outcome(verdict), 'invalid_credentials');
      assert.equal(state.calls.length, 0);
    });
  }

  const tamper: Array<[string, (r: SignedRequest) => SignedRequest]> = [
    ['one changed byte in the body', (r) => ({ ...r, body: Buffer.from('{"qty":3}') })],
    ['one extra byte in the body', (r) => ({ ...r, body: Buffer.from('{"qty":2} ') })],
    ['one changed byte in the query', (r) => ({ ...r, target: '/v1/orders?x=2' })],
    ['a query parameter added', (r) => ({ ...r, target: '/v1/orders?x=1&admin=1' })],
    ['one changed byte in the path', (r) => ({ ...r, target: '/v1/orderz?x=1' })],
    ['the path percent-encoded differently', (r) => ({ ...r, target: '/v1/%6Frders?x=1' })],
    ['the method changed', (r) => ({ ...r, method: 'PUT' })],
    ['the method in lower case', (r) => ({ ...r, method: 'post' })],
  ];
  for (const [name, change] of tamper) {
    test(`${name} → invalid_credentials`, async () => {
      const verdict = await check(change(signRequest()), { state: memory() });
      assert.equal(outcome(verdict), 'invalid_credentials');
    });
  }

  test('unknown client (no secrets) → invalid_credentials, nonce untouched', async () => {
    const state = spyState();
    const verdict = await check(signRequest(), { state, secrets: [] });
    assert.equal(outcome(verdict), 'invalid_credentials');
    assert.equal(state.calls.length, 0);
  });
});

describe('delimiter injection cannot make one signature cover another request', () => {
  test('a target carrying \\n that re-splits a signed string → invalid_credentials', async () => {
    // Signed: POST /a, nonce N1, body "<ts>\n<N2>\nrest" → "POST\n/a\n<ts>\nN1\n<ts>\nN2\nrest".
    // Forged: POST target "/a\n<ts>\nN1", nonce N2, body "rest" → the very same bytes, so
    // without the target check the old signature would pass with a fresh nonce (a replay).
    const n1 = 'nonce-one-0001';
    const n2 = 'nonce-two-0002';
    const signed = buildHmacAuthorization({
      clientId: CLIENT_ID,
      secret: SECRET,
      method: 'POST',
      target: '/a',
      timestamp: NOW_S,
      nonce: n1,
      body: `${NOW_S}\n${n2}\nrest`,
    });
    const state = memory();
    const sig = /signature="([^"]*)"/.exec(signed.header)?.[1] ?? '';
    const forged = {
      method: 'POST',
      target: `/a\n${NOW_S}\n${n1}`,
      body: Buffer.from('rest'),
      authorization: `HMAC client_id="${CLIENT_ID}",timestamp="${NOW_S}",nonce="${n2}",signature="${sig}"`,
    };
    assert.equal(outcome(await check(forged, { state })), 'invalid_credentials');
  });

  test('a method carrying \\n → invalid_credentials', async () => {
    const request = signRequest({ method: 'GET', target: '/a', body: new Uint8Array(0) });
    const verdict = await check({ ...request, method: 'GET\n/a' }, { state: memory() });
    assert.equal(outcome(verdict), 'invalid_credentials');
  });

  for (const [label, ch] of [
    ['\\n', '\n'],
    ['"', '"'],
    [',', ','],
    ['space', ' '],
  ] as const) {
    test(`a nonce containing ${label} → invalid_credentials (parser)`, async () => {
      const request = signRequest();
      const authorization = request.authorization.replace(
        request.nonce,
        `${request.nonce.slice(0, 8)}${ch}x`,
      );
      assert.equal(
        outcome(await check({ ...request, authorization }, { state: memory() })),
        'invalid_credentials',
      );
    });
    test(`a client_id containing ${label} → invalid_credentials (parser)`, async () => {
      const request = signRequest();
      const authorization = request.authorization.replace(CLIENT_ID, `client${ch}1`);
      assert.equal(
        outcome(await check({ ...request, authorization }, { state: memory() })),
        'invalid_credentials',
      );
    });
  }

  test('the signer refuses to sign such a target or nonce at all', () => {
    assert.throws(() => signRequest({ target: `/a\n${NOW_S}` }), TypeError);
    assert.throws(() => signRequest({ nonce: 'abcdefgh\n1' }), TypeError);
  });
});

describe('replay → replayed_request', () => {
  test('the same request twice → ok, then replayed_request', async () => {
    const state = memory();
    const request = signRequest();
    assert.equal(outcome(await check(request, { state })), 'ok');
    assert.equal(outcome(await check(request, { state })), 'replayed_request');
  });

  test('the same nonce reused with a new valid signature → replayed_request', async () => {
    const state = memory();
    const first = signRequest({ nonce: 'fixed-nonce-1' });
    const second = signRequest({ nonce: 'fixed-nonce-1', body: 'other' });
    assert.equal(outcome(await check(first, { state })), 'ok');
    assert.equal(outcome(await check(second, { state })), 'replayed_request');
  });

  test('the same nonce from two clients → ok for both (nonces are per client)', async () => {
    const state = memory();
    const a = signRequest({ nonce: 'shared-nonce-1' });
    const b = signRequest({ nonce: 'shared-nonce-1', clientId: 'client-2' });
    assert.equal(outcome(await check(a, { state })), 'ok');
    assert.equal(outcome(await check(b, { state })), 'ok');
  });

  test('a forged signature does not burn the nonce → the genuine request is still ok', async () => {
    const state = memory();
    const genuine = signRequest();
    const forged = withSignature(genuine, '0'.repeat(64));
    assert.equal(outcome(await check(forged, { state })), 'invalid_credentials');
    assert.equal(outcome(await check(genuine, { state })), 'ok');
  });

  test('an expired request does not record its nonce', async () => {
    const state = spyState();
    const stale = signRequest({ timestamp: NOW_S - WINDOW_S - 1 });
    assert.equal(outcome(await check(stale, { state })), 'signature_expired');
    assert.equal(state.calls.length, 0);
  });

  test('the nonce key is per client and lives 2 × windowS', async () => {
    const state = spyState();
    const request = signRequest();
    assert.equal(outcome(await check(request, { state, windowS: 60 })), 'ok');
    assert.deepEqual(state.calls, [[`hmac-nonce:${CLIENT_ID}:${request.nonce}`, '1', 120_000]]);
  });
});

describe('timestamp window (±windowS) → signature_expired', () => {
  for (const [skew, expected] of [
    [+301, 'signature_expired'],
    [-301, 'signature_expired'],
    [+300, 'ok'],
    [-300, 'ok'],
    [0, 'ok'],
  ] as const) {
    test(`timestamp ${skew >= 0 ? '+' : ''}${skew} s from the server clock → ${expected}`, async () => {
      const verdict = await check(signRequest({ timestamp: NOW_S + skew }), { state: memory() });
      assert.equal(outcome(verdict), expected);
    });
  }

  test('a request held back until the server clock is 301 s later → signature_expired', async () => {
    const clock = clockAtStart();
    clock.advance(301_000);
    assert.equal(outcome(await check(signRequest(), { state: memory(), clock })), 'signature_expired');
  });

  test('expiry is checked before the signature: a stale forged request → signature_expired', async () => {
    const stale = withSignature(signRequest({ timestamp: NOW_S - 3600 }), '0'.repeat(64));
    assert.equal(outcome(await check(stale, { state: memory() })), 'signature_expired');
  });

  for (const windowS of [0, -1, 1.5, Number.NaN, 86_401]) {
    test(`windowS ${windowS} → throws (0 is not "unchecked")`, () => {
      assert.throws(
        () => createHmacVerifier({ windowS, state: memory(), clock: clockAtStart() }),
        (error: Error) => error instanceof TypeError && /^windowS must be an integer/.test(error.message),
      );
      const request = signRequest();
      const header = {
        clientId: CLIENT_ID,
        timestamp: NOW_S,
        nonce: request.nonce,
        signature: 'a'.repeat(64),
      };
      const input = {
        ...request,
        header,
        secrets: [SECRET],
        windowS,
        state: memory(),
        clock: clockAtStart(),
      };
      assert.throws(() => verifyHmacRequest(input), TypeError);
    });
  }

  test('windowS 1 → ±1 s ok, ±2 s signature_expired', async () => {
    const state = memory();
    assert.equal(outcome(await check(signRequest({ timestamp: NOW_S + 1 }), { state, windowS: 1 })), 'ok');
    assert.equal(
      outcome(await check(signRequest({ timestamp: NOW_S - 2 }), { state, windowS: 1 })),
      'signature_expired',
    );
  });
});

describe('secret rotation overlap', () => {
  const OLD = 'old-secret-aaaaaaaa';
  const NEW = 'new-secret-bbbbbbbb';

  test('during the overlap a request signed with the old secret → ok', async () => {
    const verdict = await check(signRequest({ secret: OLD }), { state: memory(), secrets: [NEW, OLD] });
    assert.equal(outcome(verdict), 'ok');
  });

  test('during the overlap a request signed with the new secret → ok', async () => {
    const verdict = await check(signRequest({ secret: NEW }), { state: memory(), secrets: [NEW, OLD] });
    assert.equal(outcome(verdict), 'ok');
  });

  test('after the overlap the removed old secret → invalid_credentials', async () => {
    const verdict = await check(signRequest({ secret: OLD }), { state: memory(), secrets: [NEW] });
    assert.equal(outcome(verdict), 'invalid_credentials');
  });

  for (const position of [0, 1, 2]) {
    test(`the matching secret at position ${position} of three → ok`, async () => {
      const secrets = ['other-secret-1', 'other-secret-2'];
      secrets.splice(position, 0, SECRET);
      assert.equal(outcome(await check(signRequest(), { state: memory(), secrets })), 'ok');
    });
  }

  test('an empty secret in the list is a configuration fault → throws TypeError', async () => {
    await assert.rejects(check(signRequest(), { state: memory(), secrets: [SECRET, ''] }), TypeError);
  });
});

describe('the body is compared as raw bytes', () => {
  test('UTF-8 body with multibyte characters → ok', async () => {
    const text = '{"name":"Zoë 東京 🚀"}';
    const request = signRequest({ body: text });
    assert.deepEqual(request.body, Buffer.from(text, 'utf8'));
    assert.equal(outcome(await check(request, { state: memory() })), 'ok');
  });

  test('the same text in another Unicode normalisation (NFD) → invalid_credentials', async () => {
    const request = signRequest({ body: 'Zoë'.normalize('NFC') });
    const nfd = { ...request, body: Buffer.from('Zoë'.normalize('NFD'), 'utf8') };
    assert.equal(outcome(await check(nfd, { state: memory() })), 'invalid_credentials');
  });

  test('binary body with 0x00, \\r\\n and invalid UTF-8 → ok', async () => {
    const body = Uint8Array.from([0x00, 0x0d, 0x0a, 0xff, 0xfe, 0x00, 0x0a, 0x80]);
    assert.equal(outcome(await check(signRequest({ body }), { state: memory() })), 'ok');
  });

  test('binary body with \\r\\n turned into \\n → invalid_credentials', async () => {
    const request = signRequest({ body: Uint8Array.from([0x61, 0x0d, 0x0a, 0x00]) });
    const altered = { ...request, body: Uint8Array.from([0x61, 0x0a, 0x00]) };
    assert.equal(outcome(await check(altered, { state: memory() })), 'invalid_credentials');
  });

  test('a body that is a view into a larger buffer is read at its offset', async () => {
    const backing = Buffer.from('XXXX{"qty":2}YYYY');
    const request = signRequest();
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 4, 9);
    assert.equal(outcome(await check({ ...request, body: view }, { state: memory() })), 'ok');
  });
});

describe('hot-state faults are exceptions, never a 401', () => {
  test('setIfAbsent rejecting → verifyHmacRequest rejects with that error', async () => {
    const fault = Object.assign(new Error('redis down'), { code: 'ERR_STATE_UNAVAILABLE' });
    const state = spyState(fault);
    await assert.rejects(check(signRequest(), { state }), (error) => error === fault);
    assert.equal(state.calls.length, 1);
  });
});
