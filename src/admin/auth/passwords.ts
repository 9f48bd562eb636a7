/**
 * Admin passwords: scrypt (RFC 7914) through node:crypto, asynchronous so a login never blocks
 * the event loop. Encoded as `scrypt$<N>$<r>$<p>$<saltB64url>$<hashB64url>`: the parameters
 * travel with each hash, so raising the cost later leaves old hashes verifiable (and
 * `needsRehash` tells when to upgrade one at the next successful login).
 *
 * Passwords are NFKC-normalized before hashing (NIST SP 800-63B §5.1.1.2), so the same
 * password typed on two keyboards that produce different code points for it still matches.
 */
import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import { SpecError } from '../../core/spec-error.js';

/** 2^15, r=8, p=1: the OWASP password-storage baseline for scrypt; ~32 MiB and tens of ms. */
const COST = { N: 2 ** 15, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

/**
 * Bounds for parameters read back from an encoding: a stored hash is trusted input, but a
 * corrupted or hand-edited one must not make a login allocate gigabytes or spin for minutes.
 * Memory is 128·N·r bytes, work N·r·p; both capped at 16 times the baseline.
 */
const MAX_MEMORY = 16 * 128 * COST.N * COST.r;
const MAX_WORK = 16 * COST.N * COST.r * COST.p;

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 1024;

function normalize(password: string): string {
  return password.normalize('NFKC');
}

/** Code points, not UTF-16 units: an emoji is one character to the person choosing it. */
function lengthOf(password: string): number {
  let n = 0;
  for (const _ of password) n++;
  return n;
}

/**
 * scrypt needs a little over 128·N·r bytes (OpenSSL counts 128·r·(N+2) plus 128·r·p), so
 * Node's default `maxmem` of 32 MiB refuses exactly our baseline: the limit is set to twice
 * what the parameters need.
 */
function derive(password: string, salt: Buffer, cost: { N: number; r: number; p: number }, keylen: number) {
  const options: ScryptOptions = { ...cost, maxmem: 2 * 128 * cost.r * (cost.N + cost.p + 2) };
  return new Promise<Buffer>((resolve, reject) => {
    scrypt(password, salt, keylen, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(normalize(password), salt, COST, KEY_BYTES);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

interface Parsed {
  cost: { N: number; r: number; p: number };
  salt: Buffer;
  key: Buffer;
}

const B64URL = /^[A-Za-z0-9_-]+$/;
const WHOLE = /^[1-9][0-9]{0,9}$/;

function parse(encoded: unknown): Parsed | undefined {
  if (typeof encoded !== 'string' || encoded.length > 512) return undefined;
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [, nText, rText, pText, saltText, keyText] = parts as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (!WHOLE.test(nText) || !WHOLE.test(rText) || !WHOLE.test(pText)) return undefined;
  const [N, r, p] = [Number(nText), Number(rText), Number(pText)];
  // N must be a power of two above 1 (RFC 7914 §2); checked here so scrypt never throws.
  if (128 * N * r > MAX_MEMORY || N * r * p > MAX_WORK) return undefined;
  if (N < 2 || (N & (N - 1)) !== 0) return undefined;
  if (!B64URL.test(saltText) || !B64URL.test(keyText)) return undefined;
  const salt = Buffer.from(saltText, 'base64url');
  const key = Buffer.from(keyText, 'base64url');
  if (salt.length < 8 || key.length < 16 || key.length > 64) return undefined;
  return { cost: { N, r, p }, salt, key };
}

async function matches(password: unknown, parsed: Parsed): Promise<boolean> {
  // Over-long input is refused before hashing: no valid password is that long, and hashing
  // megabytes per attempt would be a cheap way to load the server.
  if (typeof password !== 'string' || password.length > PASSWORD_MAX_LENGTH * 4) return false;
  let candidate: Buffer;
  try {
    candidate = await derive(normalize(password), parsed.salt, parsed.cost, parsed.key.length);
  } catch {
    return false;
  }
  return candidate.length === parsed.key.length && timingSafeEqual(candidate, parsed.key);
}

/** True when `password` matches; false for a wrong password or a malformed encoding. Never throws. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parsed = parse(encoded);
  if (!parsed) return false;
  return matches(password, parsed);
}

/**
 * A stand-in hash with the current parameters: a random salt and a random key that no
 * password derives to. Made once per process, without running scrypt.
 */
const DUMMY: Parsed = { cost: COST, salt: randomBytes(SALT_BYTES), key: randomBytes(KEY_BYTES) };

/**
 * For a login naming an unknown user: the same scrypt work as a real verification, so the
 * response time does not reveal whether the user exists.
 */
export async function verifyAgainstDummy(password: string): Promise<false> {
  await matches(password, DUMMY);
  return false;
}

/** True when `encoded` was made with other parameters than today's (rehash at the next login). */
export function needsRehash(encoded: string): boolean {
  const parsed = parse(encoded);
  if (!parsed) return true;
  return (
    parsed.cost.N !== COST.N ||
    parsed.cost.r !== COST.r ||
    parsed.cost.p !== COST.p ||
    parsed.salt.length !== SALT_BYTES ||
    parsed.key.length !== KEY_BYTES
  );
}

/**
 * The password rule (NIST SP 800-63B §5.1.1.2): length only, 12 to 1024 characters, no
 * composition rules. Throws SpecError naming `field`; the password itself is never echoed.
 */
export function checkPasswordPolicy(password: string, field = 'password'): void {
  if (typeof password !== 'string') {
    throw new SpecError([{ path: field, message: 'must be a string' }]);
  }
  const length = lengthOf(normalize(password));
  if (length < PASSWORD_MIN_LENGTH) {
    throw new SpecError([
      { path: field, message: `must be at least ${PASSWORD_MIN_LENGTH} characters (got ${length})` },
    ]);
  }
  if (length > PASSWORD_MAX_LENGTH) {
    throw new SpecError([
      { path: field, message: `must be at most ${PASSWORD_MAX_LENGTH} characters (got ${length})` },
    ]);
  }
}
