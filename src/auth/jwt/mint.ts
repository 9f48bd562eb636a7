/**
 * Test tokens for `portcullis jwt mint`: sign a JWT with an HS secret or a private key PEM,
 * with times taken from the injected clock. Minting refuses what the verifier would refuse
 * anyway (short HS secrets, key/alg mismatches) so a mistake shows up here, not as a 401.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { type JWTHeaderParameters, SignJWT } from 'jose';
import type { Clock } from '../../core/clock.js';
import {
  HS_MIN_SECRET_BYTES,
  isHmacAlgorithm,
  isJwtAlgorithm,
  type JwtAlgorithm,
  keyFitsAlgorithm,
} from './spec.js';

export interface MintJwtOptions {
  algorithm: JwtAlgorithm;
  /** HS* only. */
  secret?: Buffer;
  /** Asymmetric algorithms only: PKCS#8, PKCS#1 or SEC1 PEM. */
  privateKeyPem?: string;
  kid?: string;
  issuer?: string;
  audience?: string | string[];
  subject?: string;
  /** Written as the space-separated `scope` claim (RFC 8693 §4.2). */
  scopes?: string[];
  clientId?: string;
  /** Claim carrying `clientId`; default `client_id` (RFC 8693 §4.3). */
  clientClaim?: string;
  /** Lifetime in seconds from now (clock). */
  expiresInS: number;
  /** Seconds from now before which the token is not valid (`nbf`). */
  notBeforeS?: number;
  typ?: string;
  /** More claims; they may not override the claims set by the options above. */
  extraClaims?: Record<string, unknown>;
  clock: Clock;
}

const MAX_LIFETIME_S = 10 * 365 * 86_400;

export async function mintJwt(options: MintJwtOptions): Promise<string> {
  const { algorithm, clock } = options;
  if (!isJwtAlgorithm(algorithm))
    throw new TypeError(`algorithm must be one of the supported JWS algorithms`);
  if (
    !Number.isInteger(options.expiresInS) ||
    options.expiresInS < 1 ||
    options.expiresInS > MAX_LIFETIME_S
  ) {
    throw new TypeError(`expiresInS must be an integer between 1 and ${MAX_LIFETIME_S}`);
  }
  if (options.notBeforeS !== undefined && !Number.isInteger(options.notBeforeS)) {
    throw new TypeError('notBeforeS must be an integer number of seconds');
  }

  const key = signingKey(options);
  const now = Math.floor(clock.now() / 1000);
  const claims: Record<string, unknown> = {};
  if (options.scopes !== undefined) claims.scope = options.scopes.join(' ');
  if (options.clientId !== undefined) claims[options.clientClaim ?? 'client_id'] = options.clientId;
  for (const [name, value] of Object.entries(options.extraClaims ?? {})) {
    const taken =
      Object.hasOwn(claims, name) ||
      ['iat', 'exp', 'nbf', 'iss', 'aud', 'sub'].includes(name) ||
      (name === 'scope' && options.scopes !== undefined);
    if (taken) throw new TypeError(`extraClaims.${name} conflicts with a claim set by the options`);
    claims[name] = value;
  }

  const header: JWTHeaderParameters = { alg: algorithm };
  if (options.kid !== undefined) header.kid = options.kid;
  if (options.typ !== undefined) header.typ = options.typ;
  const jwt = new SignJWT(claims)
    .setProtectedHeader(header)
    .setIssuedAt(now)
    .setExpirationTime(now + options.expiresInS);
  if (options.notBeforeS !== undefined) jwt.setNotBefore(now + options.notBeforeS);
  if (options.issuer !== undefined) jwt.setIssuer(options.issuer);
  if (options.audience !== undefined) jwt.setAudience(options.audience);
  if (options.subject !== undefined) jwt.setSubject(options.subject);
  return jwt.sign(key);
}

function signingKey(options: MintJwtOptions): Uint8Array | KeyObject {
  const { algorithm } = options;
  if (isHmacAlgorithm(algorithm)) {
    if (options.privateKeyPem !== undefined)
      throw new TypeError(`${algorithm} signs with secret, not privateKeyPem`);
    if (options.secret === undefined) throw new TypeError(`${algorithm} needs secret`);
    if (options.secret.length < HS_MIN_SECRET_BYTES[algorithm]) {
      throw new TypeError(
        `${algorithm} needs a secret of at least ${HS_MIN_SECRET_BYTES[algorithm]} bytes (RFC 7518 §3.2)`,
      );
    }
    return new Uint8Array(options.secret);
  }
  if (options.secret !== undefined) throw new TypeError(`${algorithm} signs with privateKeyPem, not secret`);
  if (options.privateKeyPem === undefined) throw new TypeError(`${algorithm} needs privateKeyPem`);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: options.privateKeyPem, format: 'pem' });
  } catch {
    throw new TypeError('privateKeyPem is not a readable PEM private key');
  }
  const problem = keyFitsAlgorithm(key, algorithm);
  if (problem) throw new TypeError(`privateKeyPem: ${problem}`);
  return key;
}
