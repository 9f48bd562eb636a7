/**
 * A JWT provider as users write it (declarative YAML, CLI, admin API) and as the store keeps
 * it (snake_case, like routing/spec.ts). One validator serves every entry point. The rules
 * that matter for security are enforced here, before any key is loaded:
 * - exactly one key source, and algorithms that fit it: HS* only with a shared secret,
 *   asymmetric algorithms only with a public key or JWKS URL. A provider can never accept
 *   both families, which is what defeats RS→HS key confusion (RFC 8725 §2.1, §3.1).
 * - "none" is not an algorithm (RFC 8725 §3.1).
 * - public keys are public: PEM private keys, JWKs with private members and symmetric "oct"
 *   JWKs are refused, so a leaked spec or export never carries signing material.
 * - HS secrets appear only sealed (AES-256-GCM under the secret key), never in plaintext.
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { decryptSecret, encryptSecret, type SecretKeys } from '../../core/crypto.js';
import { SpecError, type SpecIssue } from '../../core/spec-error.js';

export const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'HS256',
  'HS384',
  'HS512',
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];
export type HmacAlgorithm = 'HS256' | 'HS384' | 'HS512';

/** RFC 7518 §3.2: the HMAC key must be at least as long as the hash output. */
export const HS_MIN_SECRET_BYTES: Readonly<Record<HmacAlgorithm, number>> = Object.freeze({
  HS256: 32,
  HS384: 48,
  HS512: 64,
});

export function isJwtAlgorithm(value: unknown): value is JwtAlgorithm {
  return typeof value === 'string' && (JWT_ALGORITHMS as readonly string[]).includes(value);
}

export function isHmacAlgorithm(alg: string): alg is HmacAlgorithm {
  return alg === 'HS256' || alg === 'HS384' || alg === 'HS512';
}

export const JWT_PROVIDER_ID_PATTERN = '^[a-z0-9][a-z0-9_.-]{0,63}$';

export const JWT_DEFAULTS = Object.freeze({
  clockToleranceS: 30,
  requireExp: true,
  userClaim: 'sub',
  jwksCacheTtlS: 600,
  jwksCooldownS: 30,
  jwksTimeoutMs: 2000,
});

const ClaimName = Type.String({ minLength: 1, maxLength: 128 });

export const JwtProviderSpecSchema = Type.Object(
  {
    id: Type.String({ pattern: JWT_PROVIDER_ID_PATTERN }),
    jwks_url: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    // Checked by hand below: a PEM string or a JWK object, with messages that say which.
    public_key: Type.Optional(Type.Unknown()),
    secret_encrypted: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    // Items are checked by hand to name the bad value ("none", "hs256", …).
    algorithms: Type.Array(Type.String(), { minItems: 1 }),
    issuer: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    audience: Type.Optional(
      Type.Union([
        Type.String({ minLength: 1, maxLength: 2048 }),
        Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), { minItems: 1, maxItems: 64 }),
      ]),
    ),
    clock_tolerance_s: Type.Optional(Type.Integer({ minimum: 0, maximum: 300 })),
    typ: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    max_age_s: Type.Optional(Type.Integer({ minimum: 1, maximum: 31_536_000 })),
    require_exp: Type.Optional(Type.Boolean()),
    claims: Type.Optional(
      Type.Object(
        {
          user: Type.Optional(ClaimName),
          scopes: Type.Optional(ClaimName),
          client: Type.Optional(ClaimName),
        },
        { additionalProperties: false },
      ),
    ),
    jwks: Type.Optional(
      Type.Object(
        {
          cache_ttl_s: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
          // At least 1 s: the cooldown is what bounds fetches caused by unknown `kid`s.
          cooldown_s: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
          timeout_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: 30_000 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** A provider as written by a user. */
export type JwtProviderInput = Static<typeof JwtProviderSpecSchema>;

/** A public JWK as accepted in `public_key` (no private members, never "oct"). */
export type PublicJwk = JsonWebKey & { kty: string };

/** A validated provider in canonical form: defaults filled in. */
export interface JwtProviderSpec {
  id: string;
  jwks_url?: string;
  public_key?: string | PublicJwk;
  secret_encrypted?: string;
  algorithms: JwtAlgorithm[];
  issuer?: string;
  audience?: string | string[];
  clock_tolerance_s: number;
  typ?: string;
  max_age_s?: number;
  require_exp: boolean;
  claims: { user: string; scopes?: string; client?: string };
  jwks?: { cache_ttl_s: number; cooldown_s: number; timeout_ms: number };
}

/** What an export carries: never `secret_encrypted` (exports never carry secrets, sealed or not). */
export type ExportedJwtProviderSpec = Omit<JwtProviderSpec, 'secret_encrypted'>;

const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', '[::1]', 'localhost']);
/** JWK members that only private or symmetric keys have (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037). */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'] as const;
const SEALED_SECRET_PATTERN = /^[A-Za-z0-9+/]+={0,2}$/;
/** AES-GCM iv (12) + tag (16) in front of the ciphertext (core/crypto.ts). */
const SEAL_OVERHEAD_BYTES = 12 + 16;
/** Sealed plaintext is "hs1:" + base64 (sealHsSecret); base64 of 32 bytes is 44 characters. */
const MIN_SEALED_SECRET_CHARS = 4 + 44;

/** Validate and canonicalize one provider. Throws SpecError listing every problem found. */
export function parseJwtProviderSpec(input: unknown, at = 'jwt_provider'): JwtProviderSpec {
  const issues: SpecIssue[] = [];
  if (!Value.Check(JwtProviderSpecSchema, input)) {
    for (const e of Value.Errors(JwtProviderSpecSchema, input)) {
      const path = at + e.path.replaceAll('/', '.');
      if (e.path === '/secret' || e.path === '/hs_secret') {
        issues.push({
          path,
          message: 'plaintext secrets are not accepted in a spec; pass the secret with --secret-file',
        });
      } else {
        issues.push({ path, message: e.message });
      }
    }
    throw new SpecError(issues);
  }
  const spec = input as JwtProviderInput;

  const sources = (['jwks_url', 'public_key', 'secret_encrypted'] as const).filter(
    (k) => spec[k] !== undefined,
  );
  if (sources.length === 0) {
    issues.push({
      path: at,
      message: 'needs exactly one key source: jwks_url, public_key or secret_encrypted',
    });
  } else if (sources.length > 1) {
    issues.push({
      path: at,
      message: `has ${sources.join(' and ')}; exactly one key source is allowed (one provider, one kind of key)`,
    });
  }

  const algorithms: JwtAlgorithm[] = [];
  spec.algorithms.forEach((alg, i) => {
    if (alg.toLowerCase() === 'none') {
      issues.push({
        path: `${at}.algorithms.${i}`,
        message: '"none" is never accepted: unsigned tokens prove nothing (RFC 8725 §3.1)',
      });
    } else if (!isJwtAlgorithm(alg)) {
      issues.push({
        path: `${at}.algorithms.${i}`,
        message: `unknown algorithm; use one of ${JWT_ALGORITHMS.join(', ')}`,
      });
    } else if (algorithms.includes(alg)) {
      issues.push({ path: `${at}.algorithms.${i}`, message: 'algorithm listed twice' });
    } else {
      algorithms.push(alg);
    }
  });
  const hmac = algorithms.filter(isHmacAlgorithm);
  const asymmetric = algorithms.filter((a) => !isHmacAlgorithm(a));
  if (hmac.length > 0 && asymmetric.length > 0) {
    // RFC 8725 §2.1: a verifier that accepts both lets an attacker HMAC-sign with the public key.
    issues.push({
      path: `${at}.algorithms`,
      message: 'mixes HMAC (HS*) and public-key algorithms; a provider uses one family only (RFC 8725 §3.1)',
    });
  } else if (sources.length === 1) {
    if (spec.secret_encrypted !== undefined && asymmetric.length > 0) {
      issues.push({
        path: `${at}.algorithms`,
        message: 'a shared secret (secret_encrypted) can only be used with HS256, HS384 or HS512',
      });
    }
    if (spec.secret_encrypted === undefined && hmac.length > 0) {
      issues.push({
        path: `${at}.algorithms`,
        message: `HS* algorithms need a shared secret (secret_encrypted); ${sources[0]} only serves public-key algorithms`,
      });
    }
  }

  if (spec.jwks_url !== undefined) {
    const problem = checkJwksUrl(spec.jwks_url);
    if (problem) issues.push({ path: `${at}.jwks_url`, message: problem });
  } else if (spec.jwks !== undefined) {
    issues.push({ path: `${at}.jwks`, message: 'only applies to a provider with jwks_url' });
  }

  let publicKey: string | PublicJwk | undefined;
  if (spec.public_key !== undefined) {
    const checked = checkPublicKey(
      spec.public_key,
      asymmetric.length === algorithms.length ? algorithms : [],
    );
    if (typeof checked === 'string') issues.push({ path: `${at}.public_key`, message: checked });
    else publicKey = checked.value;
  }

  if (spec.secret_encrypted !== undefined) {
    const sealed = spec.secret_encrypted;
    const bytes = SEALED_SECRET_PATTERN.test(sealed) ? Buffer.from(sealed, 'base64').length : 0;
    if (bytes <= SEAL_OVERHEAD_BYTES) {
      issues.push({
        path: `${at}.secret_encrypted`,
        message: 'is not a sealed secret; give the plaintext with --secret-file and let portcullis seal it',
      });
    } else if (bytes < SEAL_OVERHEAD_BYTES + MIN_SEALED_SECRET_CHARS) {
      issues.push({
        path: `${at}.secret_encrypted`,
        message:
          'seals a secret shorter than 32 bytes (RFC 7518 §3.2: an HMAC key must be as long as the hash)',
      });
    }
  }

  if (issues.length > 0) throw new SpecError(issues);

  const out: JwtProviderSpec = {
    id: spec.id,
    algorithms,
    clock_tolerance_s: spec.clock_tolerance_s ?? JWT_DEFAULTS.clockToleranceS,
    require_exp: spec.require_exp ?? JWT_DEFAULTS.requireExp,
    claims: { user: spec.claims?.user ?? JWT_DEFAULTS.userClaim },
  };
  if (spec.jwks_url !== undefined) {
    out.jwks_url = spec.jwks_url;
    out.jwks = {
      cache_ttl_s: spec.jwks?.cache_ttl_s ?? JWT_DEFAULTS.jwksCacheTtlS,
      cooldown_s: spec.jwks?.cooldown_s ?? JWT_DEFAULTS.jwksCooldownS,
      timeout_ms: spec.jwks?.timeout_ms ?? JWT_DEFAULTS.jwksTimeoutMs,
    };
  }
  if (publicKey !== undefined) out.public_key = publicKey;
  if (spec.secret_encrypted !== undefined) out.secret_encrypted = spec.secret_encrypted;
  if (spec.issuer !== undefined) out.issuer = spec.issuer;
  if (spec.audience !== undefined)
    out.audience = Array.isArray(spec.audience) ? [...spec.audience] : spec.audience;
  if (spec.typ !== undefined) out.typ = spec.typ;
  if (spec.max_age_s !== undefined) out.max_age_s = spec.max_age_s;
  if (spec.claims?.scopes !== undefined) out.claims.scopes = spec.claims.scopes;
  if (spec.claims?.client !== undefined) out.claims.client = spec.claims.client;
  return out;
}

/** The spec as exported: without `secret_encrypted`. Re-importing an HS provider needs --secret-file. */
export function specForExport(spec: JwtProviderSpec): ExportedJwtProviderSpec {
  const { secret_encrypted: _dropped, ...rest } = spec;
  return structuredClone(rest);
}

export function checkJwksUrl(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute https:// URL';
  }
  if (url.username || url.password)
    return 'must not carry credentials (they would appear in exports and logs)';
  if (url.hash) return 'must not have a fragment';
  if (url.protocol === 'https:') return undefined;
  // Plain-HTTP key sets are MITM-able: whoever rewrites the response mints valid tokens (RFC 8725 §3.9 spirit).
  if (url.protocol === 'http:') {
    return LOOPBACK_HOSTS.has(url.hostname)
      ? undefined
      : 'must use https:// (http:// only for 127.0.0.1, [::1] or localhost: a plain-HTTP key set can be replaced in transit)';
  }
  return 'must use https://';
}

type Checked = { value: string | PublicJwk } | string;

/**
 * A public key for the given (asymmetric) algorithms: PEM SPKI or a public JWK. Returns the
 * canonical value or a message. `algorithms` is empty when the family check already failed.
 */
function checkPublicKey(value: unknown, algorithms: readonly JwtAlgorithm[]): Checked {
  let key: KeyObject;
  let canonical: string | PublicJwk;
  if (typeof value === 'string') {
    if (/PRIVATE KEY/.test(value)) {
      return 'contains private key material; give the public key only (openssl pkey -in key.pem -pubout)';
    }
    const pem = value.trim();
    if (!/^-----BEGIN PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PUBLIC KEY-----$/.test(pem)) {
      return 'must be one PEM "PUBLIC KEY" (SPKI) block or a JWK object; convert other forms with openssl pkey -pubin -pubout';
    }
    try {
      key = createPublicKey({ key: pem, format: 'pem' });
    } catch {
      return 'is not a valid PEM public key';
    }
    canonical = `${pem}\n`;
  } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const jwk = value as Record<string, unknown>;
    if (typeof jwk.kty !== 'string') return 'a JWK needs a "kty" string';
    if (jwk.kty === 'oct') {
      return 'symmetric "oct" JWKs are refused; HS algorithms take their secret from --secret-file';
    }
    const secretMember = PRIVATE_JWK_MEMBERS.find((m) => Object.hasOwn(jwk, m));
    if (secretMember) return `contains private key material ("${secretMember}"); give the public JWK only`;
    if (jwk.use !== undefined && jwk.use !== 'sig')
      return 'a JWK with "use" other than "sig" cannot verify signatures';
    if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) {
      return 'a JWK with "key_ops" must include "verify"';
    }
    if (jwk.alg !== undefined) {
      // RFC 7517 §4.4: "alg" restricts the key to that algorithm.
      const other = algorithms.find((a) => a !== jwk.alg);
      if (typeof jwk.alg !== 'string' || other)
        return `the JWK is for "${String(jwk.alg)}" only; algorithms must match it`;
    }
    try {
      key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } catch {
      return 'is not a valid public JWK';
    }
    canonical = structuredClone(jwk) as PublicJwk;
  } else {
    return 'must be a PEM public key string or a JWK object';
  }
  for (const alg of algorithms) {
    const problem = keyFitsAlgorithm(key, alg);
    if (problem) return problem;
  }
  return { value: canonical };
}

const EC_CURVES: Readonly<Record<string, JwtAlgorithm>> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
};

/** Why `key` cannot verify `alg`, or undefined when it can (RFC 7518 §3.1 key/alg pairing). */
export function keyFitsAlgorithm(key: KeyObject, alg: JwtAlgorithm): string | undefined {
  const type = key.asymmetricKeyType;
  if (alg.startsWith('RS') || alg.startsWith('PS')) {
    if (type === 'rsa-pss') {
      return 'RSA-PSS (id-RSASSA-PSS) keys are not supported; export the key as a plain rsaEncryption SPKI';
    }
    if (type !== 'rsa') return `${alg} needs an RSA key, this is ${type ?? 'not an asymmetric key'}`;
    // RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used".
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) return `RSA keys must be at least 2048 bits (RFC 7518 §3.3); this one has ${bits}`;
    return undefined;
  }
  if (alg.startsWith('ES')) {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (type !== 'ec' || curve === undefined || EC_CURVES[curve] !== alg) {
      return `${alg} needs an EC key on ${alg === 'ES256' ? 'P-256' : alg === 'ES384' ? 'P-384' : 'P-521'}`;
    }
    return undefined;
  }
  if (alg === 'EdDSA') return type === 'ed25519' ? undefined : 'EdDSA needs an Ed25519 key';
  return `${alg} cannot be verified with a public key`;
}

/**
 * The shared secret as read from `--secret-file` (or typed). One trailing newline is removed
 * from text files (`echo secret > file` adds one, and the issuer never signs with it); binary
 * secrets are kept byte for byte. Refused when shorter than the hash of the strongest HS
 * algorithm configured (RFC 7518 §3.2; at least 32 bytes in any case).
 */
export function hsSecretFromInput(
  raw: Buffer | string,
  options: { algorithms?: readonly string[]; at?: string } = {},
): Buffer {
  const at = options.at ?? 'secret_file';
  let bytes: Buffer = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw);
  if (isText(bytes)) bytes = stripOneNewline(bytes);
  const needed = Math.max(
    32,
    ...(options.algorithms ?? []).filter(isHmacAlgorithm).map((a) => HS_MIN_SECRET_BYTES[a]),
  );
  if (bytes.length < needed) {
    throw new SpecError([
      {
        path: at,
        message:
          `the secret is ${bytes.length} bytes; at least ${needed} are required (RFC 7518 §3.2: ` +
          'an HMAC key must be as long as the hash). Generate one with: openssl rand -base64 48',
      },
    ]);
  }
  return bytes;
}

/**
 * Tag of the sealed plaintext: `hs1:` + base64 of the secret bytes. The tag makes a value sealed
 * some other way (e.g. encryptSecret of the raw text) fail loudly instead of decoding to other bytes.
 */
const SEALED_TAG = 'hs1:';

/** Seal a secret for `secret_encrypted` (AES-256-GCM under the secret key; binary-safe). */
export function sealHsSecret(keys: SecretKeys, secret: Buffer): string {
  return encryptSecret(keys, SEALED_TAG + secret.toString('base64'));
}

/** Open a `secret_encrypted` value. Throws when it was altered, sealed under another key or not by sealHsSecret. */
export function openHsSecret(keys: SecretKeys, sealed: string): Buffer {
  const plaintext = decryptSecret(keys, sealed);
  const encoded = plaintext.startsWith(SEALED_TAG) ? plaintext.slice(SEALED_TAG.length) : '';
  const secret = Buffer.from(encoded, 'base64');
  if (encoded === '' || secret.toString('base64') !== encoded) {
    throw new Error('sealed value was not produced by sealHsSecret');
  }
  return secret;
}

function isText(bytes: Buffer): boolean {
  const body = stripOneNewline(bytes);
  if (!Buffer.from(body.toString('utf8'), 'utf8').equals(body)) return false;
  for (const b of body) if (b < 0x20 || b === 0x7f) return false;
  return true;
}

function stripOneNewline(bytes: Buffer): Buffer {
  if (bytes.length >= 2 && bytes[bytes.length - 2] === 0x0d && bytes[bytes.length - 1] === 0x0a) {
    return bytes.subarray(0, -2);
  }
  if (bytes.length >= 1 && bytes[bytes.length - 1] === 0x0a) return bytes.subarray(0, -1);
  return bytes;
}
