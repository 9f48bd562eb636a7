/**
 * The vocabulary of anomaly detection (PRODUCT.md §10): which identities are watched, what is
 * counted for each per interval, and which signals are read from those counts.
 */
import type { AnomalyIdentityKind } from '../store/types.js';

export const SIGNALS = ['burst', 'auth_failures', 'error_rate', 'key_sharing', 'rate_limited'] as const;
export type Signal = (typeof SIGNALS)[number];

export type IdentityKind = AnomalyIdentityKind;
export const IDENTITY_KINDS = ['key', 'client', 'user', 'ip'] as const satisfies readonly IdentityKind[];

const PREFIX: Record<IdentityKind, string> = { key: 'k', client: 'c', user: 'u', ip: 'i' };
const KIND_OF: Record<string, IdentityKind> = { k: 'key', c: 'client', u: 'user', i: 'ip' };

/** The compact id aggregates and baselines use: `k:<key id>`, `c:<client>`, `u:<user>`, `i:<ip>`. */
export function identityId(kind: IdentityKind, value: string): string {
  return `${PREFIX[kind]}:${value}`;
}

export function parseIdentityId(id: string): { kind: IdentityKind; value: string } | undefined {
  const kind = KIND_OF[id.slice(0, 1)];
  if (kind === undefined || id[1] !== ':' || id.length < 3) return undefined;
  return { kind, value: id.slice(2) };
}

/** What one identity did in one interval (summed over every instance). */
export interface Counts {
  requests: number;
  /** The gateway's 401 refusals other than "no credential at all": wrong keys, bad signatures, bad tokens. */
  authFailures: number;
  /** Upstream 4xx and 5xx, and the gateway's own errors (no_route, oversized or slow input, 5xx). */
  errors: number;
  /** 429 rate_limited / quota_exceeded. */
  limited: number;
  /** Distinct client addresses (IPv6 per /64) a key was used from; 0 for other identities. */
  ips: number;
}

export type BucketCounts = Map<string, Counts>;

/** Which signals are read for which kind of identity. */
export const SIGNALS_FOR: Record<IdentityKind, readonly Signal[]> = {
  key: ['burst', 'error_rate', 'key_sharing', 'rate_limited'],
  client: ['burst', 'error_rate', 'rate_limited'],
  user: ['burst', 'error_rate', 'rate_limited'],
  // Failed authentication has no identity but the address: credential stuffing is per IP.
  ip: ['burst', 'auth_failures', 'rate_limited'],
};

/**
 * Classify one answer for the counts. Only the gateway's own refusals say anything about
 * credentials or limits (`denied`: its error code); what the upstream answered is its
 * business — an upstream 401 is an expired session in someone's app, not a wrong API key — and
 * counts as an error when it is a 4xx or 5xx.
 */
export function classify(status: number, denied: string | undefined): 'auth' | 'limited' | 'error' | 'ok' {
  if (denied === undefined) return status >= 400 ? 'error' : 'ok';
  if (status === 401) return denied === 'missing_credentials' ? 'ok' : 'auth';
  if (denied === 'rate_limited' || denied === 'quota_exceeded') return 'limited';
  // Refusals by policy (403: blocked, forbidden route, IP rules) are decisions, not errors.
  if (status === 403 || status === 429) return 'ok';
  return status >= 400 ? 'error' : 'ok';
}
