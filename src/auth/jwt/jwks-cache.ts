/**
 * A cached JSON Web Key Set for one configured URL. Written here rather than using jose's
 * createRemoteJWKSet because the gateway needs more control:
 * - the last good key set is kept when the endpoint fails (an IdP outage must not log
 *   everybody out), with a warning;
 * - unknown `kid`s trigger at most one fetch per cooldown, however many arrive ("kid
 *   flooding": every forged token with a fresh kid would otherwise be one request to the IdP);
 * - concurrent callers share one in-flight fetch; stale sets are served while a background
 *   refresh runs;
 * - the fetch is bounded in time and size, and clock and fetch function are injected.
 * Only the configured URL is ever fetched: nothing named by a token (`jku`, `x5u`, `kid`) is
 * used as a location (RFC 8725 §3.10). A `kid` is only ever a Map key.
 */
import { type CryptoKey, importJWK } from 'jose';
import { request } from 'undici';
import type { Clock } from '../../core/clock.js';
import type { JwtAlgorithm } from './spec.js';

/** Largest JWKS document read; real ones are a few KiB. */
export const JWKS_MAX_BYTES = 1024 * 1024;

/** Fetches and JSON-parses the document at `url`; rejects on any transport, status or size problem. */
export type JwksFetch = (url: string, options: { timeoutMs: number; maxBytes: number }) => Promise<unknown>;

/** Minimal logger shape (pino's satisfies it). */
export interface JwtLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface JwksCacheOptions {
  cacheTtlS: number;
  cooldownS: number;
  timeoutMs: number;
}

export interface JwksCacheDeps {
  clock: Clock;
  logger: JwtLogger;
  fetch?: JwksFetch;
}

/** A JWK as found in a set; only public members are ever used. */
type Jwk = Record<string, unknown> & { kty: string };

interface KeySet {
  readonly byKid: ReadonlyMap<string, readonly Jwk[]>;
  readonly all: readonly Jwk[];
}

/** `unavailable`: no key set could be fetched at all — a dependency fault, not a bad token. */
export type JwksLookup = { ok: true; key: CryptoKey } | { ok: false; reason: string; unavailable?: true };

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'];

/**
 * Default fetch: undici `request` (no redirects are followed: a 3xx is a failure, so the set
 * cannot be moved to another host or to plain HTTP), one overall deadline covering connect,
 * headers and body, and a body cap.
 */
export const fetchJwksDocument: JwksFetch = async (url, { timeoutMs, maxBytes }) => {
  const signal = AbortSignal.timeout(timeoutMs);
  const res = await request(url, {
    method: 'GET',
    signal,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    headers: { accept: 'application/jwk-set+json, application/json' },
  });
  if (res.statusCode !== 200) {
    discard(res.body);
    throw new Error(`JWKS endpoint answered HTTP ${res.statusCode}`);
  }
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    discard(res.body);
    throw new Error(`JWKS document is larger than ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      discard(res.body);
      throw new Error(`JWKS document is larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
};

/** Drop a response body; undici reports a destroyed body as an 'error' that nobody else awaits. */
function discard(body: { on(event: 'error', listener: () => void): unknown; destroy(): unknown }): void {
  body.on('error', () => {});
  body.destroy();
}

export class JwksCache {
  readonly url: string;
  #ttlMs: number;
  #cooldownMs: number;
  #timeoutMs: number;
  #clock: Clock;
  #logger: JwtLogger;
  #fetch: JwksFetch;
  #set: KeySet | undefined;
  #fetchedAt = 0;
  #attemptedAt: number | undefined;
  #inflight: Promise<void> | undefined;
  /** Imported keys per JWK object of the current set (a new set brings new objects). */
  #imported = new WeakMap<Jwk, Map<JwtAlgorithm, Promise<CryptoKey>>>();

  constructor(url: string, options: JwksCacheOptions, deps: JwksCacheDeps) {
    this.url = url;
    this.#ttlMs = options.cacheTtlS * 1000;
    this.#cooldownMs = options.cooldownS * 1000;
    this.#timeoutMs = options.timeoutMs;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#fetch = deps.fetch ?? fetchJwksDocument;
  }

  /** The verification key for a JWS header's `kid` (already checked to be a plain string) and `alg`. */
  async keyFor(kid: string | undefined, alg: JwtAlgorithm): Promise<JwksLookup> {
    if (this.#set === undefined) {
      await (this.#inflight ?? (this.#mayFetch() ? this.#refresh() : undefined));
      if (this.#set === undefined)
        return {
          ok: false,
          reason: 'no JWKS key set available (fetch failed or cooling down)',
          unavailable: true,
        };
    } else if (this.#clock.monotonic() - this.#fetchedAt >= this.#ttlMs && this.#inflight === undefined) {
      // Stale-while-revalidate: answer from the current set, refresh in the background.
      if (this.#mayFetch()) void this.#refresh();
    }
    let found = this.#select(kid, alg);
    if (found === 'none') {
      // A new kid may mean the IdP rotated keys. One fetch per cooldown however many unknown
      // kids arrive; callers meanwhile share the in-flight fetch or are refused.
      const pending = this.#inflight ?? (this.#mayFetch() ? this.#refresh() : undefined);
      if (pending) {
        await pending;
        found = this.#select(kid, alg);
      }
    }
    if (found === 'none') return { ok: false, reason: 'no JWKS key matches the token kid and alg' };
    if (found === 'ambiguous') return { ok: false, reason: 'several JWKS keys match the token kid and alg' };
    try {
      return { ok: true, key: await this.#import(found, alg) };
    } catch {
      return { ok: false, reason: 'the matching JWKS key cannot be imported for this alg' };
    }
  }

  /** Resolves when no fetch is in flight (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.#inflight) await this.#inflight;
  }

  #mayFetch(): boolean {
    return this.#attemptedAt === undefined || this.#clock.monotonic() - this.#attemptedAt >= this.#cooldownMs;
  }

  #refresh(): Promise<void> {
    if (this.#inflight) return this.#inflight;
    this.#attemptedAt = this.#clock.monotonic();
    // `.finally` runs asynchronously, so #inflight is always set before it is cleared.
    this.#inflight = this.#load().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #load(): Promise<void> {
    try {
      const doc = await withDeadline(
        this.#fetch(this.url, { timeoutMs: this.#timeoutMs, maxBytes: JWKS_MAX_BYTES }),
        this.#timeoutMs,
      );
      const { set, skipped } = parseKeySet(doc);
      this.#set = set;
      this.#fetchedAt = this.#clock.monotonic();
      this.#imported = new WeakMap();
      if (skipped > 0) {
        this.#logger.warn(
          { jwks_url: this.url, skipped },
          'JWKS contains private, symmetric or malformed keys; they are ignored',
        );
      }
    } catch (err) {
      this.#logger.warn(
        {
          jwks_url: this.url,
          err: err instanceof Error ? err.message : String(err),
          has_keys: this.#set !== undefined,
        },
        'JWKS fetch failed; keeping the last good key set',
      );
    }
  }

  #select(kid: string | undefined, alg: JwtAlgorithm): Jwk | 'none' | 'ambiguous' {
    const set = this.#set;
    if (set === undefined) return 'none';
    const candidates = kid === undefined ? set.all : (set.byKid.get(kid) ?? []);
    const fitting = candidates.filter((jwk) => jwkFitsAlgorithm(jwk, alg));
    if (fitting.length === 0) return 'none';
    if (fitting.length > 1) return 'ambiguous';
    return fitting[0] as Jwk;
  }

  #import(jwk: Jwk, alg: JwtAlgorithm): Promise<CryptoKey> {
    let perAlg = this.#imported.get(jwk);
    if (!perAlg) {
      perAlg = new Map();
      this.#imported.set(jwk, perAlg);
    }
    let key = perAlg.get(alg);
    if (!key) {
      key = importJWK(jwk, alg) as Promise<CryptoKey>;
      perAlg.set(alg, key);
    }
    return key;
  }
}

/**
 * The cache's own deadline, on top of the fetch function's: an injected or misbehaving fetch
 * must not hold every caller waiting on the shared in-flight promise.
 */
function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`JWKS fetch took longer than ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** Must be `{ "keys": [...] }` (RFC 7517 §5). Keys that are not public signature keys are skipped. */
function parseKeySet(doc: unknown): { set: KeySet; skipped: number } {
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) {
    throw new Error('JWKS document is not a JSON object with a "keys" array');
  }
  const byKid = new Map<string, Jwk[]>();
  const all: Jwk[] = [];
  let skipped = 0;
  for (const entry of (doc as { keys: unknown[] }).keys) {
    if (!isUsableJwk(entry)) {
      skipped++;
      continue;
    }
    const jwk = Object.freeze({ ...entry }) as Jwk;
    all.push(jwk);
    if (typeof jwk.kid === 'string') {
      const list = byKid.get(jwk.kid);
      if (list) list.push(jwk);
      else byKid.set(jwk.kid, [jwk]);
    }
  }
  return { set: { byKid, all }, skipped };
}

function isUsableJwk(entry: unknown): entry is Jwk {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return false;
  const jwk = entry as Record<string, unknown>;
  if (typeof jwk.kty !== 'string' || jwk.kty === 'oct') return false;
  if (jwk.kid !== undefined && typeof jwk.kid !== 'string') return false;
  // A set publishing private members means the IdP leaked its signing key: such keys are
  // skipped with a warning rather than trusted.
  return !PRIVATE_JWK_MEMBERS.some((m) => Object.hasOwn(jwk, m));
}

const EC_CURVE_FOR: Readonly<Partial<Record<JwtAlgorithm, string>>> = {
  ES256: 'P-256',
  ES384: 'P-384',
  ES512: 'P-521',
};

/** Key type, curve, `use`, `alg` and `key_ops` must all allow verifying `alg` (RFC 7517 §4). */
export function jwkFitsAlgorithm(jwk: Jwk, alg: JwtAlgorithm): boolean {
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify')))
    return false;
  if (alg.startsWith('RS') || alg.startsWith('PS')) return jwk.kty === 'RSA';
  const curve = EC_CURVE_FOR[alg];
  if (curve !== undefined) return jwk.kty === 'EC' && jwk.crv === curve;
  if (alg === 'EdDSA') return jwk.kty === 'OKP' && jwk.crv === 'Ed25519';
  return false;
}
