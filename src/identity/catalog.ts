/**
 * Everything the request path needs to know about callers, held in memory and refreshed on
 * configuration change: clients, grants, decrypted HMAC secrets, the JWT verifier, and
 * caches of API keys and service tokens looked up by hash (positive and negative entries,
 * bounded, short-lived; cleared on every change so a revocation takes effect at once).
 * Store faults on a lookup propagate as exceptions: the caller answers 503, never 401.
 */
import type { Logger } from 'pino';
import { type JwtProviderSpec, parseJwtProviderSpec } from '../auth/jwt/spec.js';
import { type JwtOutcome, JwtVerifier } from '../auth/jwt/verifier.js';
import type { Clock } from '../core/clock.js';
import { credentialHash, decryptSecret, type SecretKeys } from '../core/crypto.js';
import { LruCache } from '../core/lru-cache.js';
import { type CidrSet, compileCidrSet } from '../net/cidr.js';
import type {
  ApiKeyRecord,
  ClientRecord,
  KeySecretRecord,
  ServiceTokenRecord,
  Store,
} from '../store/types.js';

export interface KeyEntry {
  readonly key: ApiKeyRecord;
  readonly secret: KeySecretRecord;
  /** The key's IP lists compiled once; undefined when empty. */
  readonly ipAllow: CidrSet | undefined;
  readonly ipDeny: CidrSet | undefined;
}

interface HmacSecret {
  secret: string;
  expiresAt: number | null;
}

export interface IdentityCatalogOptions {
  store: Store;
  keys: SecretKeys;
  clock: Clock;
  logger: Logger;
  cacheTtlMs: number;
  cacheSize: number;
  /** Demo credentials served in memory only (never stored). */
  overlay?: {
    clients: ClientRecord[];
    keys: Array<{ hash: string; entry: Omit<KeyEntry, 'ipAllow' | 'ipDeny'> }>;
    grants: Array<{ clientId: string; routeId: string; methods: string[] }>;
  };
}

/**
 * Build the verifier from every usable provider. `JwtVerifier.create` refuses a set with any
 * unusable provider as a whole; one bad provider must not disable the others, so on failure
 * each is tried alone and only the usable ones are kept.
 */
async function createVerifier(
  specs: JwtProviderSpec[],
  options: { keys: SecretKeys; clock: Clock; logger: Logger },
): Promise<JwtVerifier | undefined> {
  try {
    return await JwtVerifier.create(specs, options);
  } catch {
    const usable: JwtProviderSpec[] = [];
    for (const spec of specs) {
      try {
        await JwtVerifier.create([spec], options);
        usable.push(spec);
      } catch (error) {
        options.logger.error({ provider: spec.id, err: error }, 'JWT provider cannot be used; ignored');
      }
    }
    if (usable.length === 0) return undefined;
    try {
      return await JwtVerifier.create(usable, options);
    } catch (error) {
      // Individually fine but conflicting together (e.g. two providers for one issuer).
      options.logger.error(
        { err: error },
        'JWT providers conflict; JWT authentication is disabled until fixed',
      );
      return undefined;
    }
  }
}

export class IdentityCatalog {
  readonly #options: IdentityCatalogOptions;
  #clients = new Map<string, ClientRecord>();
  #grants = new Map<string, Map<string, ReadonlySet<string>>>();
  #hmac = new Map<string, HmacSecret[]>();
  #jwt: JwtVerifier | undefined;
  readonly #keyCache: LruCache<string, KeyEntry | null>;
  readonly #tokenCache: LruCache<string, ServiceTokenRecord | null>;
  readonly #jwtCache: LruCache<string, { outcome: JwtOutcome; until: number }>;
  readonly #inflight = new Map<string, Promise<KeyEntry | undefined>>();
  #generation = 0;

  constructor(options: IdentityCatalogOptions) {
    this.#options = options;
    const cache = { maxEntries: options.cacheSize, ttlMs: options.cacheTtlMs, clock: options.clock };
    this.#keyCache = new LruCache(cache);
    this.#tokenCache = new LruCache(cache);
    this.#jwtCache = new LruCache(cache);
  }

  async refresh(): Promise<void> {
    const { store, keys, logger, clock, overlay } = this.#options;
    const [clients, grants, secrets, providers] = await Promise.all([
      store.clients.list(),
      store.grants.list(),
      store.hmacSecrets.list(),
      store.jwtProviders.list(),
    ]);
    const clientMap = new Map<string, ClientRecord>();
    for (const client of [...(overlay?.clients ?? []), ...clients]) clientMap.set(client.id, client);
    const grantMap = new Map<string, Map<string, ReadonlySet<string>>>();
    for (const grant of [...(overlay?.grants ?? []), ...grants]) {
      let byRoute = grantMap.get(grant.clientId);
      if (!byRoute) {
        byRoute = new Map();
        grantMap.set(grant.clientId, byRoute);
      }
      byRoute.set(grant.routeId, new Set(grant.methods));
    }
    const hmac = new Map<string, HmacSecret[]>();
    for (const record of secrets) {
      let plain: string;
      try {
        plain = decryptSecret(keys, record.ciphertext);
      } catch {
        // Undecryptable under this key: skip it (the key fingerprint check makes this rare).
        logger.error(
          { client: record.clientId, secret: record.id },
          'HMAC secret cannot be decrypted; ignored',
        );
        continue;
      }
      const list = hmac.get(record.clientId) ?? [];
      list.push({ secret: plain, expiresAt: record.expiresAt });
      hmac.set(record.clientId, list);
    }
    let jwt: JwtVerifier | undefined;
    const specs = [];
    for (const provider of providers) {
      try {
        specs.push(parseJwtProviderSpec(provider.spec, `jwt_providers.${provider.id}`));
      } catch (error) {
        logger.error({ provider: provider.id, err: error }, 'JWT provider is invalid; ignored');
      }
    }
    if (specs.length > 0) jwt = await createVerifier(specs, { keys, clock, logger });
    this.#clients = clientMap;
    this.#grants = grantMap;
    this.#hmac = hmac;
    this.#jwt = jwt;
    this.#generation++;
    // A lookup that started before this refresh must not answer requests after it.
    this.#inflight.clear();
    this.#keyCache.clear();
    this.#tokenCache.clear();
    this.#jwtCache.clear();
  }

  client(id: string): ClientRecord | undefined {
    return this.#clients.get(id);
  }

  /** Methods granted to a client on a route ('*' = every method), or undefined. */
  grant(clientId: string, routeId: string): ReadonlySet<string> | undefined {
    return this.#grants.get(clientId)?.get(routeId);
  }

  /** The client's HMAC secrets still valid now (current, and older ones inside their overlap). */
  hmacSecrets(clientId: string): string[] {
    const now = this.#options.clock.now();
    return (this.#hmac.get(clientId) ?? [])
      .filter((s) => s.expiresAt === null || s.expiresAt > now)
      .map((s) => s.secret);
  }

  get jwt(): JwtVerifier | undefined {
    return this.#jwt;
  }

  /**
   * Verify a JWT, remembering successful verifications until the token expires (at most
   * `cacheTtlMs`): a signature check costs far more than the rest of a request, and a client
   * sends the same token many times. Like Envoy's jwt_cache. Only successes are cached, the
   * cache is bounded, keyed by the whole token, and cleared on every configuration change.
   */
  async verifyJwt(token: string): Promise<JwtOutcome | undefined> {
    const verifier = this.#jwt;
    if (!verifier) return undefined;
    const cached = this.#jwtCache.lookup(token);
    const now = this.#options.clock.now();
    if (cached.hit && cached.value.until > now) return cached.value.outcome;
    const generation = this.#generation;
    const outcome = await verifier.verify(token);
    if (outcome.ok && generation === this.#generation) {
      const until =
        outcome.expiresAt === undefined
          ? now + this.#options.cacheTtlMs
          : Math.min(outcome.expiresAt, now + this.#options.cacheTtlMs);
      if (until > now) this.#jwtCache.set(token, { outcome, until });
    }
    return outcome;
  }

  /**
   * Find the key a presented secret belongs to. Cached (misses too) by the presented string, so
   * a cache hit costs a map lookup and no HMAC; only a miss computes the keyed hash the store is
   * searched by. The cache lives in this process's memory only. Store faults throw.
   */
  /**
   * The cached answer for a presented key, without any lookup: its entry, null (known not to
   * exist), or undefined (not cached). Only keys that passed the format check are ever cached.
   */
  cachedKey(presented: string): KeyEntry | null | undefined {
    const cached = this.#keyCache.lookup(presented);
    return cached.hit ? cached.value : undefined;
  }

  lookupKey(presented: string): Promise<KeyEntry | undefined> | KeyEntry | undefined {
    const cached = this.#keyCache.lookup(presented);
    if (cached.hit) return cached.value ?? undefined;
    const hash = credentialHash(this.#options.keys, presented);
    const overlay = this.#options.overlay?.keys.find((k) => k.hash === hash);
    if (overlay) return { ...overlay.entry, ipAllow: undefined, ipDeny: undefined };
    let pending = this.#inflight.get(presented);
    if (!pending) {
      const generation = this.#generation;
      pending = this.#options.store.apiKeys
        .findByHash(hash)
        .then((found) => {
          const entry = found
            ? {
                key: found.key,
                secret: found.secret,
                ipAllow: compileCidrSet(found.key.ipAllow),
                ipDeny: compileCidrSet(found.key.ipDeny),
              }
            : undefined;
          // A refresh while the query ran may have revoked the key: do not cache a stale answer.
          if (generation === this.#generation) this.#keyCache.set(presented, entry ?? null);
          return entry;
        })
        .finally(() => this.#inflight.delete(presented));
      this.#inflight.set(presented, pending);
    }
    return pending;
  }

  async lookupServiceToken(hash: string): Promise<ServiceTokenRecord | undefined> {
    const cached = this.#tokenCache.lookup(hash);
    if (cached.hit) return cached.value ?? undefined;
    const generation = this.#generation;
    const found = await this.#options.store.serviceTokens.findByHash(hash);
    if (generation === this.#generation) this.#tokenCache.set(hash, found ?? null);
    return found;
  }
}
