/**
 * API key format (PRODUCT.md §5): `{prefix}_{env}_{random}{checksum}`.
 * - random: 24 base62 characters (≈142 bits, above the 128-bit floor);
 * - checksum: CRC32 of everything before it, as 6 base62 characters.
 * The checksum lets malformed or mistyped keys be refused without a store lookup (so a flood
 * of random strings never reaches the database), and lets secret scanners recognise real
 * keys with few false positives. It is not a security property: keys are authenticated by
 * their keyed hash.
 */
import { crc32 } from 'node:zlib';
import { randomBase62, toBase62 } from '../../core/crypto.js';
import type { KeyEnvironment } from '../../store/types.js';

export const RANDOM_LENGTH = 24;
export const CHECKSUM_LENGTH = 6;
export const KEY_PREFIX_PATTERN = /^[a-z][a-z0-9]{1,15}$/;
/** Characters of the random part shown to people (enough to tell keys apart, far too few to guess). */
const DISPLAY_RANDOM = 4;
const BASE62_TAIL = new RegExp(`^[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}$`);

function checksum(body: string): string {
  return toBase62(crc32(body) >>> 0, CHECKSUM_LENGTH);
}

export interface NewKey {
  /** The plaintext key: shown once, never stored. */
  key: string;
  /** Safe to store and show: prefix, environment and the first random characters. */
  displayPrefix: string;
}

export function generateApiKey(prefix: string, environment: KeyEnvironment): NewKey {
  const body = `${prefix}_${environment}_${randomBase62(RANDOM_LENGTH)}`;
  const key = body + checksum(body);
  return { key, displayPrefix: displayPrefixOf(key) };
}

export function displayPrefixOf(key: string): string {
  const secondUnderscore = key.indexOf('_', key.indexOf('_') + 1);
  return key.slice(0, secondUnderscore + 1 + DISPLAY_RANDOM);
}

export type ParsedKey = { ok: true; prefix: string; environment: KeyEnvironment } | { ok: false };

/**
 * Structural check only (prefix, environment, length, alphabet, checksum); no lookup. Any
 * well-formed prefix is accepted, so keys issued before a change of `key_prefix` keep working.
 */
export function parseApiKey(candidate: string): ParsedKey {
  const first = candidate.indexOf('_');
  const prefix = candidate.slice(0, first);
  if (first <= 0 || !KEY_PREFIX_PATTERN.test(prefix)) return { ok: false };
  const second = candidate.indexOf('_', first + 1);
  if (second === -1) return { ok: false };
  const environment = candidate.slice(first + 1, second);
  if (environment !== 'live' && environment !== 'test') return { ok: false };
  const tail = candidate.slice(second + 1);
  if (!BASE62_TAIL.test(tail)) return { ok: false };
  const body = candidate.slice(0, candidate.length - CHECKSUM_LENGTH);
  if (checksum(body) !== candidate.slice(-CHECKSUM_LENGTH)) return { ok: false };
  return { ok: true, prefix, environment };
}

const KEY_SHAPE = /^[a-z][a-z0-9]{1,15}_(?:live|test)_/;

/** Whether a bearer token is shaped like one of our API keys (vs. a JWT, which has dots). */
export function looksLikeApiKey(candidate: string): boolean {
  return KEY_SHAPE.test(candidate) && !candidate.includes('.');
}
