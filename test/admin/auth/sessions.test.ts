/**
 * Session tokens (`pclses_…`, checksummed like service tokens, stored as a keyed hash) and the
 * CSRF token derived from a session without storage.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkCsrf,
  csrfTokenFor,
  generateSessionToken,
  isWellFormedSessionToken,
  SESSION_TOKEN_PREFIX,
  sessionTokenHash,
} from '../../../src/admin/auth/sessions.js';
import { generateServiceToken } from '../../../src/auth/service-token.js';
import { credentialHash, deriveSecretKeys } from '../../../src/core/crypto.js';
import { tampered } from '../../helpers/identity.js';

const keys = deriveSecretKeys(Buffer.alloc(32, 1));
const otherKeys = deriveSecretKeys(Buffer.alloc(32, 2));

describe('session tokens', () => {
  it('look like pclses_ + 32 random + 6 checksum base62 characters, with a short display prefix', () => {
    const { token, displayPrefix } = generateSessionToken();
    assert.match(token, /^pclses_[0-9A-Za-z]{38}$/);
    assert.equal(displayPrefix, token.slice(0, SESSION_TOKEN_PREFIX.length + 4));
    assert.ok(isWellFormedSessionToken(token));
  });

  it('are unique', () => {
    const tokens = new Set(Array.from({ length: 1000 }, () => generateSessionToken().token));
    assert.equal(tokens.size, 1000);
  });

  it('a typo, a wrong prefix, a bad length or a foreign token is not well-formed', () => {
    const { token } = generateSessionToken();
    const flip = (i: number) => token.slice(0, i) + (token[i] === 'a' ? 'b' : 'a') + token.slice(i + 1);
    for (const bad of [
      flip(10),
      flip(token.length - 1),
      token.slice(0, -1),
      `${token}x`,
      token.replace('pclses_', 'pclsvc_'),
      token.replace('pclses_', 'PCLSES_'),
      `${token.slice(0, 20)}-${token.slice(21)}`,
      generateServiceToken().token,
      '',
      'pclses_',
    ])
      assert.equal(isWellFormedSessionToken(bad), false, bad);
    for (const notString of [undefined, null, 42, {}, ['pclses_']])
      assert.equal(isWellFormedSessionToken(notString), false);
  });

  it('are stored as the keyed credential hash, like service tokens', () => {
    const { token } = generateSessionToken();
    assert.equal(sessionTokenHash(keys, token), credentialHash(keys, token));
    assert.match(sessionTokenHash(keys, token), /^[0-9a-f]{64}$/);
    assert.notEqual(sessionTokenHash(keys, token), sessionTokenHash(otherKeys, token));
  });
});

describe('CSRF tokens', () => {
  const hash = sessionTokenHash(keys, generateSessionToken().token);

  it('are stable per session, different between sessions and between secret keys', () => {
    const csrf = csrfTokenFor(keys, hash);
    assert.match(csrf, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(csrfTokenFor(keys, hash), csrf);
    assert.notEqual(csrfTokenFor(keys, sessionTokenHash(keys, generateSessionToken().token)), csrf);
    assert.notEqual(csrfTokenFor(otherKeys, hash), csrf);
  });

  it('are not the credential hash of anything the server stores', () => {
    const csrf = csrfTokenFor(keys, hash);
    assert.notEqual(Buffer.from(csrf, 'base64url').toString('hex'), credentialHash(keys, hash));
  });

  it('checkCsrf accepts the session’s token only', () => {
    const csrf = csrfTokenFor(keys, hash);
    assert.equal(checkCsrf(keys, hash, csrf), true);
    const otherHash = sessionTokenHash(keys, generateSessionToken().token);
    assert.equal(checkCsrf(keys, otherHash, csrf), false, 'token of another session');
    assert.equal(checkCsrf(otherKeys, hash, csrf), false, 'under another secret key');
    for (const bad of [
      '',
      csrf.slice(0, -1),
      `${csrf}A`,
      csrf.toUpperCase(),
      tampered(csrf),
      'é'.repeat(43),
      hash,
    ])
      assert.equal(checkCsrf(keys, hash, bad), false, bad);
    for (const notString of [undefined, null, 42, [csrf], { toString: () => csrf }])
      assert.equal(checkCsrf(keys, hash, notString), false);
  });
});
