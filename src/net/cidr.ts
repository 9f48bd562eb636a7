/**
 * CIDR text and compiled CIDR sets. Lists are normalized once when they are stored (one
 * spelling per network: canonical address, host bits cleared, explicit prefix) and compiled
 * once into node:net BlockLists when configuration loads, so a request does one lookup per
 * list and never parses a CIDR (PRODUCT.md §8).
 */
import { BlockList } from 'node:net';
import { ipv6Groups, ipv6Text, isStrictIpv4, normalizeIp } from './ip.js';

export interface Cidr {
  readonly family: 4 | 6;
  /** Canonical network address (host bits cleared). */
  readonly address: string;
  readonly prefix: number;
}

function maskV4(address: string, prefix: number): string {
  const octets = address.split('.').map(Number);
  return octets
    .map((octet, i) => {
      const keep = Math.max(0, Math.min(8, prefix - i * 8));
      return keep === 0 ? 0 : octet & (0xff << (8 - keep)) & 0xff;
    })
    .join('.');
}

function maskV6(address: string, prefix: number): string {
  const groups = ipv6Groups(address) as number[];
  return ipv6Text(
    groups.map((group, i) => {
      const keep = Math.max(0, Math.min(16, prefix - i * 16));
      return keep === 0 ? 0 : group & (0xffff << (16 - keep)) & 0xffff;
    }),
  );
}

/**
 * Parse `address` or `address/prefix` strictly (no leading-zero octets, prefix within the
 * family's width). An IPv4-mapped IPv6 address counts as IPv4 (its prefix shifted by 96), the
 * way client addresses are normalized. Returns undefined for anything else.
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const v4Literal = isStrictIpv4(addressText);
  const normalized = normalizeIp(addressText);
  if (normalized === undefined || addressText.includes('%')) return undefined;
  const family: 4 | 6 = normalized.includes(':') ? 6 : 4;
  let prefix = prefixText === undefined ? (family === 4 ? 32 : 128) : Number(prefixText);
  if (family === 4 && !v4Literal) {
    // ::ffff:a.b.c.d/120 is a.b.c.d/24.
    if (prefixText !== undefined) {
      if (prefix < 96 || prefix > 128) return undefined;
      prefix -= 96;
    }
  }
  if (prefix > (family === 4 ? 32 : 128)) return undefined;
  const address = family === 4 ? maskV4(normalized, prefix) : maskV6(normalized, prefix);
  return { family, address, prefix };
}

export function cidrText(cidr: Cidr): string {
  return `${cidr.address}/${cidr.prefix}`;
}

/** Canonical `address/prefix`; throws an Error naming the entry when it is not a CIDR. */
export function normalizeCidr(text: string): string {
  const cidr = parseCidr(text.trim());
  if (!cidr) throw new Error(`"${text}" is not an IP address or CIDR`);
  return cidrText(cidr);
}

/** Whether two networks share any address (one contains the other's network address). */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const bits = Math.min(a.prefix, b.prefix);
  const mask = a.family === 4 ? maskV4 : maskV6;
  return mask(a.address, bits) === mask(b.address, bits);
}

/** The network of `ip` (already normalized) at `prefix` bits of its family, as a CIDR. */
export function networkOf(ip: string, prefix: number | null): string {
  const family = ip.includes(':') ? 6 : 4;
  const width = family === 4 ? 32 : 128;
  const bits = prefix === null ? width : Math.min(prefix, width);
  return cidrText({ family, address: family === 4 ? maskV4(ip, bits) : maskV6(ip, bits), prefix: bits });
}

/** A normalized dotted-quad as an unsigned 32-bit integer, or -1. */
function ipv4Value(ip: string): number {
  let value = 0;
  let octet = 0;
  let dots = 0;
  let digits = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || octet > 255) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 0x30 && c <= 0x39) {
      octet = octet * 10 + (c - 0x30);
      digits++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0 || octet > 255) return -1;
  return value * 256 + octet;
}

/** A set of CIDRs compiled for lookups of normalized client IPs. */
export class CidrSet {
  // One list per family: node:net's BlockList also matches IPv4 addresses against IPv6 rules
  // (as IPv4-mapped), so `::/0` in one list would cover every IPv4 client too. Our addresses are
  // already normalized (mapped ones are IPv4), so each family answers for itself.
  readonly #v4 = new BlockList();
  readonly #v6 = new BlockList();
  /**
   * IPv4 networks as (network, mask) integers for short lists: BlockList.check builds a
   * SocketAddress per call (~1.3 µs), an integer compare is a few ns, and the request path
   * checks up to four lists (global, route, key, blocklist).
   */
  readonly #v4Ranges: Array<readonly [number, number]> | undefined;
  readonly entries: readonly string[];

  constructor(cidrs: readonly string[]) {
    const entries: string[] = [];
    const ranges: Array<readonly [number, number]> = [];
    for (const text of cidrs) {
      const cidr = parseCidr(text);
      if (!cidr) throw new Error(`"${text}" is not an IP address or CIDR`);
      if (cidr.family === 4) {
        this.#v4.addSubnet(cidr.address, cidr.prefix, 'ipv4');
        const mask = cidr.prefix === 0 ? 0 : (0xffffffff << (32 - cidr.prefix)) >>> 0;
        ranges.push([ipv4Value(cidr.address) & mask, mask]);
      } else this.#v6.addSubnet(cidr.address, cidr.prefix, 'ipv6');
      entries.push(cidrText(cidr));
    }
    this.entries = entries;
    this.#v4Ranges = ranges.length <= 64 ? ranges : undefined;
  }

  get size(): number {
    return this.entries.length;
  }

  /** `ip` must be normalized (net/ip.ts); anything unparseable is not in any set. */
  has(ip: string): boolean {
    const v6 = ip.includes(':');
    if (!v6 && ip.indexOf('.') === -1) return false;
    const ranges = this.#v4Ranges;
    if (!v6 && ranges !== undefined) {
      const value = ipv4Value(ip);
      if (value < 0) return false;
      for (const [network, mask] of ranges) if ((value & mask) >>> 0 === network >>> 0) return true;
      return false;
    }
    try {
      return v6 ? this.#v6.check(ip, 'ipv6') : this.#v4.check(ip, 'ipv4');
    } catch {
      return false;
    }
  }
}

/** Compile a list into a set, or undefined for an empty list (the common case costs nothing). */
export function compileCidrSet(cidrs: readonly string[]): CidrSet | undefined {
  return cidrs.length === 0 ? undefined : new CidrSet(cidrs);
}
