/**
 * Argument checks shared by both implementations, so a caller's bug fails the same way on
 * memory (tests, single node) as on Redis (production) instead of surfacing only in one.
 */
import { StateError } from './errors.js';

/**
 * Keys are built by the gateway from ids, hashes and client-supplied tokens (nonces). A cap
 * stops a client from making the state hold megabyte keys: the memory backend bounds entries,
 * not bytes per key, and Redis slows down on huge keys. Callers hash anything longer.
 */
export const MAX_KEY_LENGTH = 1024;

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length > MAX_KEY_LENGTH) {
    throw new StateError(
      'ERR_STATE_INVALID_ARGUMENT',
      `key must be a string of at most ${MAX_KEY_LENGTH} characters (got ${describeLength(key)})`,
    );
  }
}

/** A heartbeat's member description: a few fields of JSON, not a blob store. */
export const MAX_INFO_LENGTH = 4096;

export function checkInfo(info: string | undefined): void {
  if (info === undefined) return;
  if (typeof info !== 'string' || info.length > MAX_INFO_LENGTH) {
    throw new StateError(
      'ERR_STATE_INVALID_ARGUMENT',
      `info must be a string of at most ${MAX_INFO_LENGTH} characters (got ${describeLength(info)})`,
    );
  }
}

export function checkChannel(channel: string): void {
  if (typeof channel !== 'string' || channel.length === 0 || channel.length > MAX_KEY_LENGTH) {
    throw new StateError(
      'ERR_STATE_INVALID_ARGUMENT',
      `channel must be a non-empty string of at most ${MAX_KEY_LENGTH} characters (got ${describeLength(channel)})`,
    );
  }
}

/** Redis `PX` takes a positive integer; a 0 or fractional ttl is a caller bug, not "no expiry". */
export function checkTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new StateError(
      'ERR_STATE_INVALID_ARGUMENT',
      `ttlMs must be a positive integer number of milliseconds (got ${String(ttlMs)})`,
    );
  }
}

export function checkIncrement(by: number): void {
  if (!Number.isSafeInteger(by)) {
    throw new StateError('ERR_STATE_INVALID_ARGUMENT', `by must be a safe integer (got ${String(by)})`);
  }
}

/** Constructor option check with a message naming the field (STYLE 9). */
export function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer (got ${String(value)})`);
  }
  return value;
}

function describeLength(value: unknown): string {
  return typeof value === 'string' ? `${value.length} characters` : typeof value;
}
