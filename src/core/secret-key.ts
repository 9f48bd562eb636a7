/**
 * PORTCULLIS_SECRET_KEY: peppers API-key hashes and encrypts stored secrets. Taken from the
 * configured value, else from `<dataDir>/secret.key`, else generated once into that file.
 * No message here ever includes key material.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Store } from '../store/types.js';

export const SECRET_KEY_ENV = 'PORTCULLIS_SECRET_KEY';
export const SECRET_KEY_FILE = 'secret.key';
export const MIN_SECRET_KEY_BYTES = 32;
export const KEY_FINGERPRINT_META = 'secret_key_fingerprint';

export interface LoadSecretKeyOptions {
  /** The configured PORTCULLIS_SECRET_KEY, if any. */
  value?: string;
  /** Where `value` came from (e.g. "environment", ".env"), for error messages. */
  source?: string;
  dataDir: string;
  logger: { warn(msg: string): void };
}

export interface LoadedSecretKey {
  key: Buffer;
  /** True when this call created the key file. */
  generated: boolean;
  /** The key file, when the key came from (or went to) one. */
  path?: string;
}

const HEX = /^[0-9a-fA-F]+$/;
// Standard or URL-safe alphabet, optional padding. Buffer's decoder silently skips anything
// else, so the alphabet is checked first.
const BASE64 = /^(?:[A-Za-z0-9+/]+|[A-Za-z0-9_-]+)={0,2}$/;

/** Decode hex (64+ digits) or base64/base64url (32+ bytes); returns the reason on failure. */
function decodeKey(text: string): Buffer | string {
  if (text === '') return 'is empty';
  // All-hex text is read as hex even when short: a base64 key made only of hex characters is
  // vanishingly unlikely, a truncated hex key is not, and it deserves the hex explanation.
  if (HEX.test(text)) {
    if (text.length % 2 !== 0) return 'looks like hex but has an odd number of digits';
    if (text.length < MIN_SECRET_KEY_BYTES * 2) {
      return `is too short: ${text.length} hex digits, at least ${MIN_SECRET_KEY_BYTES * 2} are needed`;
    }
    return Buffer.from(text, 'hex');
  }
  if (!BASE64.test(text) || text.replace(/=+$/, '').length % 4 === 1) {
    return `is neither hex (${MIN_SECRET_KEY_BYTES * 2}+ digits) nor base64`;
  }
  const key = Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
  if (key.length < MIN_SECRET_KEY_BYTES) {
    return `is too short: it decodes to ${key.length} bytes, at least ${MIN_SECRET_KEY_BYTES} are needed`;
  }
  return key;
}

const HOW_TO_GENERATE = `generate one with: openssl rand -hex ${MIN_SECRET_KEY_BYTES}`;

export async function loadSecretKey(options: LoadSecretKeyOptions): Promise<LoadedSecretKey> {
  if (options.value !== undefined) {
    const decoded = decodeKey(options.value.trim());
    if (typeof decoded === 'string') {
      const from = options.source ? ` (from ${options.source})` : '';
      throw new Error(`${SECRET_KEY_ENV}${from} ${decoded}; ${HOW_TO_GENERATE}`);
    }
    return { key: decoded, generated: false };
  }

  const path = join(options.dataDir, SECRET_KEY_FILE);
  const existing = await readKeyFile(path);
  if (existing) return { key: existing, generated: false, path };

  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(MIN_SECRET_KEY_BYTES);
  if (!(await createKeyFile(path, key))) {
    // Another process created the file first: its key is the one everybody must use.
    const theirs = await readKeyFile(path);
    if (!theirs) throw new Error(`${path} disappeared while the secret key was being created`);
    return { key: theirs, generated: false, path };
  }
  options.logger.warn(
    `${SECRET_KEY_ENV} is not set: generated a new secret key in ${path} (mode 0600). Back it up. ` +
      `Instances that share this database (scale-out) must all be given the same ${SECRET_KEY_ENV}.`,
  );
  return { key, generated: true, path };
}

/** The key in `path`, or undefined when there is no such file. */
async function readKeyFile(path: string): Promise<Buffer | undefined> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (!info.isFile()) throw new Error(`${path} must be a regular file holding the secret key`);
  // Windows has no POSIX modes to check.
  if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
    throw new Error(
      `refusing to use ${path}: its mode ${mode} gives group/other access to the secret key; ` +
        `run: chmod 600 ${path}`,
    );
  }
  const decoded = decodeKey((await readFile(path, 'utf8')).trim());
  if (typeof decoded === 'string') throw new Error(`${path} does not hold a valid secret key: it ${decoded}`);
  return decoded;
}

/**
 * Create `path` holding `key`, unless it exists. Returns false when another process won.
 * The content is written to a private temp file and hard-linked into place: link() is atomic
 * and fails if the target exists, so readers never see a partial file and exactly one
 * concurrent creator wins (rename() would let the last one silently replace the first).
 */
async function createKeyFile(path: string, key: Buffer): Promise<boolean> {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writePrivateFile(temp, key);
  try {
    await link(temp, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // Some filesystems (certain network or container volumes) have no hard links: fall back
    // to an exclusive create, still safe against two winners.
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EXDEV') {
      try {
        await writePrivateFile(path, key);
        return true;
      } catch (fallbackError) {
        if ((fallbackError as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw fallbackError;
      }
    }
    throw error;
  } finally {
    await unlink(temp).catch(() => {});
  }
}

async function writePrivateFile(path: string, key: Buffer): Promise<void> {
  // O_EXCL ('wx'): never follow or reuse a file someone else placed there.
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await handle.writeFile(`${key.toString('hex')}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A short, non-secret identifier of a key: safe to store and to print. */
export function keyFingerprint(key: Buffer): string {
  return createHmac('sha256', key).update('portcullis-key-fingerprint-v1').digest('hex').slice(0, 16);
}

/**
 * Record the key's fingerprint on first use and refuse a different key later: with the wrong
 * key the gateway would start but fail to verify every API key and decrypt every secret.
 */
export async function checkKeyFingerprint(store: Store, key: Buffer): Promise<void> {
  const mine = keyFingerprint(key);
  const recorded = await store.meta.setIfAbsent(KEY_FINGERPRINT_META, mine);
  // Fingerprints are public identifiers, not secrets, so a plain comparison is fine.
  if (recorded !== mine) {
    throw new Error(
      `${SECRET_KEY_ENV} does not match the key this database was initialised with ` +
        `(key fingerprint ${mine}, database expects ${recorded}). Set ${SECRET_KEY_ENV} to the ` +
        'original key; with another key stored secrets cannot be decrypted and API keys will not verify.',
    );
  }
}

/**
 * The prefix of every key and channel this deployment uses in a shared Redis. Instances that
 * share a database share its secret key, so the key's fingerprint names the deployment: two
 * deployments pointed at one Redis never see each other's counters, nonces, heartbeats or
 * change events.
 */
export function sharedStatePrefix(key: Buffer): string {
  return `pcl:${keyFingerprint(key).slice(0, 8)}:`;
}
