/**
 * Service tokens authenticate machines to Portcullis itself (the verification API now, the
 * admin API later): `pclsvc_{random}{checksum}`, stored as a keyed hash like API keys.
 */
import { crc32 } from 'node:zlib';
import { randomBase62, toBase62 } from '../core/crypto.js';

export const SERVICE_TOKEN_PREFIX = 'pclsvc_';
const RANDOM = 32;
const TAIL = new RegExp(`^[0-9A-Za-z]{${RANDOM + 6}}$`);

export function generateServiceToken(): { token: string; displayPrefix: string } {
  const body = SERVICE_TOKEN_PREFIX + randomBase62(RANDOM);
  const token = body + toBase62(crc32(body) >>> 0, 6);
  return { token, displayPrefix: token.slice(0, SERVICE_TOKEN_PREFIX.length + 4) };
}

export function isWellFormedServiceToken(candidate: string): boolean {
  if (!candidate.startsWith(SERVICE_TOKEN_PREFIX)) return false;
  const tail = candidate.slice(SERVICE_TOKEN_PREFIX.length);
  if (!TAIL.test(tail)) return false;
  const body = candidate.slice(0, -6);
  return toBase62(crc32(body) >>> 0, 6) === candidate.slice(-6);
}
