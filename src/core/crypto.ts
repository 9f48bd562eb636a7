/**
 * The cryptographic primitives built on PORTCULLIS_SECRET_KEY. The secret key is never used
 * directly: HKDF derives one sub-key per purpose, so a key hash can never double as an
 * encryption key (NIST SP 800-108 separation of keys by purpose).
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

export interface SecretKeys {
  /** HMAC key for hashes of API keys and service tokens stored at rest. */
  readonly hashKey: Buffer;
  /** AES-256-GCM key for secrets the server must read back (HMAC client secrets, JWT HS secrets). */
  readonly encryptionKey: Buffer;
}

export function deriveSecretKeys(secretKey: Buffer): SecretKeys {
  const derive = (label: string) => Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), label, 32));
  return Object.freeze({
    hashKey: derive('portcullis/credential-hash/v1'),
    encryptionKey: derive('portcullis/secret-encryption/v1'),
  });
}

/** Keyed hash (hex HMAC-SHA256) of a credential, for storage and lookup. */
export function credentialHash(keys: SecretKeys, credential: string): string {
  return createHmac('sha256', keys.hashKey).update(credential).digest('hex');
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** AES-256-GCM; the result is base64 of iv | tag | ciphertext. */
export function encryptSecret(keys: SecretKeys, plaintext: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keys.encryptionKey, iv);
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64');
}

/** Throws when the ciphertext was altered or encrypted under another key. */
export function decryptSecret(keys: SecretKeys, encoded: string): string {
  const raw = Buffer.from(encoded, 'base64');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('ciphertext too short');
  const decipher = createDecipheriv('aes-256-gcm', keys.encryptionKey, raw.subarray(0, IV_BYTES));
  decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
    'utf8',
  );
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `length` uniformly random base62 characters (rejection sampling: no modulo bias). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

export function toBase62(value: number, width: number): string {
  let n = value;
  let out = '';
  while (n > 0) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out.padStart(width, '0');
}
