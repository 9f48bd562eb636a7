/**
 * Login session tokens: `pclses_{32 base62}{6 base62 CRC32}`, shaped like service tokens so
 * secret scanners and the well-formedness check work the same way. ~190 random bits; only
 * the keyed hash (`credentialHash`) is stored, so a database leak yields no usable session.
 *
 * CSRF tokens are derived, not stored: an HMAC of the session's token hash under a key of
 * their own. A page that can read the CSRF token was served to the session holder; a
 * cross-site form cannot compute it (OWASP CSRF cheat sheet, "HMAC based token pattern").
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { credentialHash, randomBase62, type SecretKeys, toBase62 } from '../../core/crypto.js';

export const SESSION_TOKEN_PREFIX = 'pclses_';
const RANDOM = 32;
const CHECKSUM = 6;
const TAIL = new RegExp(`^[0-9A-Za-z]{${RANDOM + CHECKSUM}}$`);

export function generateSessionToken(): { token: string; displayPrefix: string } {
  const body = SESSION_TOKEN_PREFIX + randomBase62(RANDOM);
  const token = body + toBase62(crc32(body) >>> 0, CHECKSUM);
  return { token, displayPrefix: token.slice(0, SESSION_TOKEN_PREFIX.length + 4) };
}

/** Shape and checksum only: rejects typos and foreign strings before any database lookup. */
export function isWellFormedSessionToken(candidate: unknown): candidate is string {
  if (typeof candidate !== 'string' || !candidate.startsWith(SESSION_TOKEN_PREFIX)) return false;
  if (!TAIL.test(candidate.slice(SESSION_TOKEN_PREFIX.length))) return false;
  return toBase62(crc32(candidate.slice(0, -CHECKSUM)) >>> 0, CHECKSUM) === candidate.slice(-CHECKSUM);
}

/** What is stored and looked up for a session token. */
export function sessionTokenHash(keys: SecretKeys, token: string): string {
  return credentialHash(keys, token);
}

/**
 * A CSRF key of its own, derived from the hash key (HKDF with its own label), so a CSRF token
 * is never the credential hash of anything (key separation by purpose, as in core/crypto.ts).
 */
const csrfKeys = new WeakMap<SecretKeys, Buffer>();
function csrfKey(keys: SecretKeys): Buffer {
  let key = csrfKeys.get(keys);
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', keys.hashKey, Buffer.alloc(0), 'portcullis/admin-csrf/v1', 32));
    csrfKeys.set(keys, key);
  }
  return key;
}

/** The CSRF token of a session (base64url, 43 characters); the same for the session's life. */
export function csrfTokenFor(keys: SecretKeys, tokenHash: string): string {
  return createHmac('sha256', csrfKey(keys)).update(tokenHash).digest('base64url');
}

/** Constant-time comparison with the session's CSRF token; false for anything malformed. */
export function checkCsrf(keys: SecretKeys, tokenHash: string, candidate: unknown): boolean {
  if (typeof candidate !== 'string') return false;
  const expected = Buffer.from(csrfTokenFor(keys, tokenHash));
  const given = Buffer.from(candidate);
  // The length is public (always 43), so checking it first reveals nothing.
  return given.length === expected.length && timingSafeEqual(given, expected);
}
