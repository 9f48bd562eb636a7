/**
 * The caller's IP (PRODUCT.md §8): the TCP peer's address, unless the peer is a trusted
 * proxy. Then the configured header is believed: for X-Forwarded-For the rightmost entry that
 * is not itself a trusted proxy (entries further left were written by parties we cannot vouch
 * for, so a client cannot choose its own address by prepending one); for single-value headers
 * (X-Real-IP, CF-Connecting-IP, X-Original-Client-IP) that value. Headers from an untrusted
 * peer are never read. Garbage never throws: it stops the walk at the last address we trust.
 */
import { CidrSet } from './cidr.js';
import { normalizeIp } from './ip.js';

export type ClientIpHeader = 'x-forwarded-for' | 'x-real-ip' | 'cf-connecting-ip' | 'x-original-client-ip';

/** Where forwarding headers come from; read only when the peer is trusted (Node builds it lazily). */
export interface HeaderSource {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export type ClientIpResolver = (peerIp: string, source: HeaderSource) => string;

/** Compile CIDRs once (no per-request parsing); see CidrSet for why each family is separate. */
export function compileCidrs(cidrs: readonly string[]): CidrSet {
  return new CidrSet(cidrs);
}

export function cidrContains(list: CidrSet, ip: string): boolean {
  return list.has(ip);
}

/** An X-Forwarded-For entry may carry a port ("1.2.3.4:5678", "[2001:db8::1]:80"). */
function entryIp(entry: string): string | undefined {
  let value = entry.trim();
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    if (end === -1) return undefined;
    value = value.slice(1, end);
  } else if (value.indexOf(':') !== -1 && value.indexOf(':') === value.lastIndexOf(':')) {
    value = value.slice(0, value.indexOf(':'));
  }
  return normalizeIp(value);
}

export function createClientIpResolver(
  trustedProxies: readonly string[],
  header: ClientIpHeader,
): ClientIpResolver {
  if (trustedProxies.length === 0) return (peerIp) => peerIp;
  const trusted = compileCidrs(trustedProxies);
  return (peerIp, source) => {
    if (!cidrContains(trusted, peerIp)) return peerIp;
    const raw = source.headers[header];
    if (raw === undefined) return peerIp;
    if (header !== 'x-forwarded-for') {
      const value = Array.isArray(raw) ? raw[raw.length - 1] : raw;
      return (value === undefined ? undefined : entryIp(value)) ?? peerIp;
    }
    // Several X-Forwarded-For lines are one list (RFC 9110 §5.3).
    const entries = (Array.isArray(raw) ? raw.join(',') : raw).split(',');
    let client = peerIp;
    for (let i = entries.length - 1; i >= 0; i--) {
      const ip = entryIp(entries[i] as string);
      if (ip === undefined) return client;
      client = ip;
      if (!cidrContains(trusted, ip)) return ip;
    }
    return client;
  };
}
