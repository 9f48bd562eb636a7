/**
 * JWT verification for the gateway. Providers are compiled once (keys imported, secrets
 * opened, options fixed); a request only picks a provider and calls jose's jwtVerify.
 * Refusals are data (`{ ok: false }`), never exceptions: nothing a client sends makes
 * `verify` throw. The client-safe `detail` is one of a few fixed strings; the internal
 * `reason` names the failed check but never echoes token contents (log injection, leaks).
 */
import {
  type CryptoKey,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  importJWK,
  importSPKI,
  type JWTVerifyOptions,
  jwtVerify,
} from 'jose';
import type { Clock } from '../../core/clock.js';
import type { SecretKeys } from '../../core/crypto.js';
import { SpecError, type SpecIssue } from '../../core/spec-error.js';
import { JwksCache, type JwksFetch, type JwtLogger } from './jwks-cache.js';
import {
  HS_MIN_SECRET_BYTES,
  isHmacAlgorithm,
  type JwtAlgorithm,
  type JwtProviderSpec,
  openHsSecret,
  parseJwtProviderSpec,
} from './spec.js';

export type { JwtLogger } from './jwks-cache.js';

export type JwtOutcome =
  | {
      ok: true;
      providerId: string;
      userId: string | undefined;
      clientId: string | undefined;
      scopes: string[];
      /** Epoch milliseconds (the token's `exp` × 1000), like every other timestamp in Portcullis. */
      expiresAt: number | undefined;
    }
  | {
      ok: false;
      /** `key_set_unavailable`: the provider's JWKS could never be fetched — a fault (503), not a verdict. */
      code: 'invalid_credentials' | 'key_set_unavailable';
      /** Client-safe: "invalid token", "token expired" or "token not yet valid". */
      detail: string;
      /** Internal, for logs. */
      reason: string;
    };

export interface JwtVerifierOptions {
  /** Opens `secret_encrypted` of HS providers. */
  keys: SecretKeys;
  clock: Clock;
  logger: JwtLogger;
  /** JWKS fetch; the default uses undici. */
  fetch?: JwksFetch;
}

/** Tokens longer than this are refused before any decoding (a real access token is 1-4 KiB). */
export const MAX_TOKEN_LENGTH = 16 * 1024;
/** Longest `kid` looked up; real ones are UUIDs, thumbprints or short names. */
export const MAX_KID_LENGTH = 256;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const KID_PATTERN = /^[\x20-\x7e\u00a0-\uffff]+$/;

type KeyResolver = (header: { alg?: string; kid?: unknown }) => Promise<CryptoKey | Uint8Array>;

interface CompiledProvider {
  readonly id: string;
  readonly algorithms: ReadonlySet<string>;
  /** Everything but `currentDate`, fixed at compile time. */
  readonly options: Readonly<Omit<JWTVerifyOptions, 'currentDate'>>;
  readonly resolveKey: KeyResolver;
  readonly claims: JwtProviderSpec['claims'];
  readonly jwks: JwksCache | undefined;
}

/** A refusal raised inside jose's key callback and turned back into an outcome. */
class Refusal extends Error {
  readonly unavailable: boolean;
  constructor(message: string, unavailable = false) {
    super(message);
    this.unavailable = unavailable;
  }
}

export class JwtVerifier {
  #byIssuer: ReadonlyMap<string, CompiledProvider>;
  #fallback: CompiledProvider | undefined;
  #providers: readonly CompiledProvider[];
  #clock: Clock;

  private constructor(providers: CompiledProvider[], issuers: Map<string, CompiledProvider>, clock: Clock) {
    this.#providers = Object.freeze(providers);
    this.#byIssuer = issuers;
    this.#fallback = providers.find((p) => !p.options.issuer);
    this.#clock = clock;
  }

  /**
   * Compile providers: re-validate each spec (the RS→HS guard must not depend on the caller
   * having parsed it), import static keys once per algorithm, open HS secrets. Throws
   * SpecError naming every provider that cannot be used.
   */
  static async create(specs: readonly JwtProviderSpec[], options: JwtVerifierOptions): Promise<JwtVerifier> {
    const issues: SpecIssue[] = [];
    const providers: CompiledProvider[] = [];
    const issuers = new Map<string, CompiledProvider>();
    const ids = new Set<string>();
    let withoutIssuer = 0;
    for (const [i, raw] of specs.entries()) {
      const rawId = (raw as { id?: unknown } | null)?.id;
      const at = `jwt_providers.${typeof rawId === 'string' ? rawId : i}`;
      let spec: JwtProviderSpec;
      try {
        spec = parseJwtProviderSpec(raw, at);
      } catch (err) {
        if (err instanceof SpecError) issues.push(...err.issues);
        else throw err;
        continue;
      }
      if (ids.has(spec.id))
        issues.push({ path: `${at}.id`, message: `provider "${spec.id}" is defined twice` });
      ids.add(spec.id);
      let provider: CompiledProvider;
      try {
        provider = await compileProvider(spec, at, options);
      } catch (err) {
        if (err instanceof SpecError) issues.push(...err.issues);
        else throw err;
        continue;
      }
      if (spec.issuer === undefined) {
        withoutIssuer++;
        if (withoutIssuer > 1) {
          // Two issuer-less providers could never be told apart: tokens would match neither.
          issues.push({ path: `${at}.issuer`, message: 'only one provider may omit issuer' });
        }
      } else if (issuers.has(spec.issuer)) {
        issues.push({ path: `${at}.issuer`, message: 'another provider already has this issuer' });
      } else {
        issuers.set(spec.issuer, provider);
      }
      providers.push(provider);
    }
    if (issues.length > 0) throw new SpecError(issues);
    return new JwtVerifier(providers, issuers, options.clock);
  }

  get providerIds(): string[] {
    return this.#providers.map((p) => p.id);
  }

  /** Verify a bearer token. Never throws. */
  async verify(token: string): Promise<JwtOutcome> {
    try {
      return await this.#verify(token);
    } catch (err) {
      return classify(err);
    }
  }

  /** Waits for background JWKS refreshes (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all(this.#providers.map((p) => p.jwks?.flush()));
  }

  async #verify(token: string): Promise<JwtOutcome> {
    if (typeof token !== 'string') return refuse('token is not a string');
    // Bounded before any parsing: base64 and JSON work grows with the input.
    if (token.length > MAX_TOKEN_LENGTH) return refuse(`token longer than ${MAX_TOKEN_LENGTH} characters`);
    if (!COMPACT_JWS.test(token)) return refuse('not a compact JWS (three base64url segments)');
    let header: Record<string, unknown>;
    let payload: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(token) as Record<string, unknown>;
    } catch {
      return refuse('header is not base64url JSON object');
    }
    try {
      payload = decodeJwt(token);
    } catch {
      return refuse('payload is not a base64url JSON object');
    }
    const kidProblem = checkKid(header.kid);
    if (kidProblem) return refuse(kidProblem);

    // Unverified `iss` only chooses which key to try; jose then checks it again as a claim.
    const iss = typeof payload.iss === 'string' ? payload.iss : undefined;
    const provider = (iss !== undefined ? this.#byIssuer.get(iss) : undefined) ?? this.#fallback;
    if (!provider) return refuse('no provider for the token issuer');
    // Allowed algorithms come from the provider, never from the token (RFC 8725 §2.1, §3.1).
    if (typeof header.alg !== 'string' || !provider.algorithms.has(header.alg)) {
      return refuse(`alg not allowed for provider ${provider.id}`);
    }

    const result = await jwtVerify(token, provider.resolveKey, {
      ...provider.options,
      currentDate: new Date(this.#clock.now()),
    });
    const claims = result.payload as Record<string, unknown>;
    return {
      ok: true,
      providerId: provider.id,
      userId: stringClaim(claims, provider.claims.user),
      clientId:
        provider.claims.client === undefined ? undefined : stringClaim(claims, provider.claims.client),
      scopes: readScopes(claims, provider.claims.scopes),
      expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : undefined,
    };
  }
}

async function compileProvider(
  spec: JwtProviderSpec,
  at: string,
  options: JwtVerifierOptions,
): Promise<CompiledProvider> {
  const verifyOptions: Omit<JWTVerifyOptions, 'currentDate'> = {
    algorithms: [...spec.algorithms],
    clockTolerance: spec.clock_tolerance_s,
    // RFC 7519 §4.1.4 says exp is optional; a gateway credential without an end is refused by default.
    requiredClaims: spec.require_exp ? ['exp'] : [],
  };
  if (spec.issuer !== undefined) verifyOptions.issuer = spec.issuer;
  if (spec.audience !== undefined) verifyOptions.audience = spec.audience;
  // RFC 8725 §3.11: explicit typing keeps e.g. ID tokens from being replayed as access tokens.
  if (spec.typ !== undefined) verifyOptions.typ = spec.typ;
  if (spec.max_age_s !== undefined) verifyOptions.maxTokenAge = spec.max_age_s;

  let resolveKey: KeyResolver;
  let jwks: JwksCache | undefined;
  if (spec.jwks_url !== undefined && spec.jwks !== undefined) {
    const cache = new JwksCache(
      spec.jwks_url,
      { cacheTtlS: spec.jwks.cache_ttl_s, cooldownS: spec.jwks.cooldown_s, timeoutMs: spec.jwks.timeout_ms },
      { clock: options.clock, logger: options.logger, ...(options.fetch ? { fetch: options.fetch } : {}) },
    );
    jwks = cache;
    resolveKey = async (header) => {
      const kidProblem = checkKid(header.kid);
      if (kidProblem) throw new Refusal(kidProblem);
      const found = await cache.keyFor(header.kid as string | undefined, header.alg as JwtAlgorithm);
      if (!found.ok) throw new Refusal(found.reason, found.unavailable === true);
      return found.key;
    };
  } else {
    const keys = await staticKeys(spec, at, options.keys);
    resolveKey = async (header) => {
      // jose has already checked header.alg against the provider's algorithms.
      const key = keys.get(header.alg as JwtAlgorithm);
      if (!key) throw new Refusal('no key for this alg');
      return key;
    };
  }
  return Object.freeze({
    id: spec.id,
    algorithms: new Set<string>(spec.algorithms),
    options: Object.freeze(verifyOptions),
    resolveKey,
    claims: Object.freeze({ ...spec.claims }),
    jwks,
  });
}

/** One imported key per configured algorithm: a CryptoKey is bound to its algorithm. */
async function staticKeys(
  spec: JwtProviderSpec,
  at: string,
  secretKeys: SecretKeys,
): Promise<Map<JwtAlgorithm, CryptoKey | Uint8Array>> {
  const keys = new Map<JwtAlgorithm, CryptoKey | Uint8Array>();
  if (spec.secret_encrypted !== undefined) {
    let secret: Buffer;
    try {
      secret = openHsSecret(secretKeys, spec.secret_encrypted);
    } catch {
      throw new SpecError([
        {
          path: `${at}.secret_encrypted`,
          message:
            'cannot be opened with this PORTCULLIS_SECRET_KEY (altered, sealed under another key, or not sealed by portcullis)',
        },
      ]);
    }
    for (const alg of spec.algorithms) {
      if (!isHmacAlgorithm(alg)) continue;
      if (secret.length < HS_MIN_SECRET_BYTES[alg]) {
        throw new SpecError([
          {
            path: `${at}.secret_encrypted`,
            message: `${alg} needs a secret of at least ${HS_MIN_SECRET_BYTES[alg]} bytes (RFC 7518 §3.2); this one has ${secret.length}`,
          },
        ]);
      }
      keys.set(alg, new Uint8Array(secret));
    }
    return keys;
  }
  const publicKey = spec.public_key;
  if (publicKey === undefined) {
    throw new SpecError([{ path: at, message: 'no key source' }]);
  }
  for (const alg of spec.algorithms) {
    try {
      const key =
        typeof publicKey === 'string'
          ? await importSPKI(publicKey, alg)
          : ((await importJWK({ ...publicKey }, alg)) as CryptoKey);
      keys.set(alg, key);
    } catch (err) {
      throw new SpecError([
        {
          path: `${at}.public_key`,
          message: `cannot be used for ${alg}: ${err instanceof Error ? err.message : String(err)}`,
        },
      ]);
    }
  }
  return keys;
}

/** A `kid` is only a lookup key: a short plain string, never a path, URL or query (RFC 8725 §3.10). */
function checkKid(kid: unknown): string | undefined {
  if (kid === undefined) return undefined;
  if (typeof kid !== 'string') return 'kid is not a string';
  if (kid.length === 0 || kid.length > MAX_KID_LENGTH) return `kid is empty or longer than ${MAX_KID_LENGTH}`;
  if (!KID_PATTERN.test(kid)) return 'kid has control characters';
  return undefined;
}

function stringClaim(claims: Record<string, unknown>, name: string): string | undefined {
  if (!Object.hasOwn(claims, name)) return undefined;
  const value = claims[name];
  return typeof value === 'string' ? value : undefined;
}

/** RFC 8693 §4.2 `scope` is a space-separated string; many IdPs send `scp` as an array or string. */
function readScopes(claims: Record<string, unknown>, configured: string | undefined): string[] {
  if (configured !== undefined)
    return scopeList(Object.hasOwn(claims, configured) ? claims[configured] : undefined);
  if (Object.hasOwn(claims, 'scope')) return scopeList(claims.scope);
  if (Object.hasOwn(claims, 'scp')) return scopeList(claims.scp);
  return [];
}

function scopeList(value: unknown): string[] {
  if (typeof value === 'string') return [...new Set(value.split(' ').filter((s) => s.length > 0))];
  if (Array.isArray(value) && value.every((s) => typeof s === 'string')) {
    return [...new Set((value as string[]).filter((s) => s.length > 0))];
  }
  return [];
}

function refuse(reason: string, detail = 'invalid token'): JwtOutcome {
  return { ok: false, code: 'invalid_credentials', detail, reason };
}

/** Map a failure to a fixed client-safe detail; jose's messages name the claim, never its value. */
function classify(err: unknown): JwtOutcome {
  if (err instanceof Refusal) {
    return err.unavailable
      ? { ok: false, code: 'key_set_unavailable', detail: 'token keys are unavailable', reason: err.message }
      : refuse(err.message);
  }
  if (err instanceof errors.JWTExpired) return refuse(`${err.code}: ${err.message}`, 'token expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    const early = (err.claim === 'nbf' || err.claim === 'iat') && err.reason === 'check_failed';
    return refuse(`${err.code}: ${err.message}`, early ? 'token not yet valid' : 'invalid token');
  }
  // jose quotes the token's own `crit` entry in this message; keep token text out of logs.
  if (err instanceof errors.JOSENotSupported) return refuse(`${err.code}: unsupported crit extension`);
  if (err instanceof errors.JOSEError) return refuse(`${err.code}: ${err.message}`);
  return refuse(`verification failed: ${err instanceof Error ? err.message : 'unknown error'}`);
}
