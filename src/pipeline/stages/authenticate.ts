/**
 * Authentication: turn the presented credential into a Principal, or refuse. Public methods
 * pass as anonymous. Unknown and wrong credentials get the same answer (invalid_credentials
 * with the same detail), so an answer never tells whether a key exists. A store or state
 * fault is a 503, never a 401/403 (a caller must not be told its valid key is bad because a
 * database blinked).
 */
import type { Logger } from 'pino';
import { parseApiKey } from '../../auth/api-key/format.js';
import { parseHmacAuthorization } from '../../auth/hmac/header.js';
import { createHmacVerifier, type HmacVerdict } from '../../auth/hmac/verify.js';
import type { Clock } from '../../core/clock.js';
import type { ErrorCode } from '../../errors/catalog.js';
import type { IdentityCatalog, KeyEntry } from '../../identity/catalog.js';
import type { AuthMethod } from '../../routing/spec.js';
import type { HotState } from '../../state/types.js';
import type { ClientRecord } from '../../store/types.js';
import { deny } from '../decision.js';
import { anonymous } from '../principal.js';
import type { Deny, Exchange, Stage } from '../types.js';

const CHALLENGES: Record<Exclude<AuthMethod, 'public'>, string> = {
  api_key: 'Bearer realm="portcullis"',
  jwt: 'Bearer realm="portcullis"',
  hmac: 'HMAC realm="portcullis"',
};

/** The WWW-Authenticate value for a requirement (RFC 9110 §11.6.1: one challenge per scheme). */
export function challengeFor(requirement: readonly AuthMethod[]): string {
  const challenges = new Set<string>();
  for (const method of requirement) if (method !== 'public') challenges.add(CHALLENGES[method]);
  return [...challenges].join(', ');
}

export interface AuthenticateOptions {
  identity: IdentityCatalog;
  state: HotState;
  clock: Clock;
  logger: Logger;
  hmacWindowS: number;
  hmacBodyLimitBytes: number;
}

const INVALID_KEY = 'invalid API key';
const BODYLESS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

export function authenticateStage(options: AuthenticateOptions): Stage {
  const { identity, clock, logger } = options;
  // Built once: an invalid window fails at start-up, not as a 503 on every signed request.
  const verifyHmac = createHmacVerifier({ windowS: options.hmacWindowS, state: options.state, clock });

  const unauthorized = (exchange: Exchange, code: ErrorCode, detail: string): Deny =>
    deny(code, detail, [['www-authenticate', challengeFor(exchange.requirement as readonly AuthMethod[])]]);

  const unavailable = (exchange: Exchange, error: unknown): Deny => {
    logger.error({ requestId: exchange.facts.requestId, err: error }, 'credential lookup failed');
    return deny('store_unavailable', 'credentials cannot be checked right now');
  };

  /** Client status applies to every kind of credential that names a client. */
  const clientRefusal = (client: ClientRecord): Deny | undefined => {
    if (client.status === 'suspended') return deny('client_suspended', 'this client is suspended');
    if (client.status === 'revoked') return deny('client_revoked', 'this client is revoked');
    return undefined;
  };

  const finishKey = (exchange: Exchange, entry: KeyEntry | undefined): Deny | undefined => {
    if (!entry) return unauthorized(exchange, 'invalid_credentials', INVALID_KEY);
    const { key, secret } = entry;
    const now = clock.now();
    if (key.status === 'revoked') return unauthorized(exchange, 'key_revoked', 'this key has been revoked');
    if (key.expiresAt !== null && key.expiresAt <= now)
      return unauthorized(exchange, 'key_expired', 'this key has expired');
    if (secret.expiresAt !== null && secret.expiresAt <= now) {
      return unauthorized(
        exchange,
        'key_expired',
        'this key secret was rotated and its grace period has ended',
      );
    }
    const client = identity.client(key.clientId);
    if (!client) return unauthorized(exchange, 'invalid_credentials', INVALID_KEY);
    const refusal = clientRefusal(client);
    if (refusal) return refusal;
    exchange.key = entry;
    exchange.principal = {
      kind: 'api_key',
      clientId: client.id,
      clientName: client.name,
      keyId: key.id,
      environment: key.environment,
      scopes: key.scopes,
    };
    return undefined;
  };

  const authenticateKey = (
    exchange: Exchange,
    value: string,
  ): Deny | undefined | Promise<Deny | undefined> => {
    // A key seen recently skips the format check: only well-formed keys are cached.
    const cached = identity.cachedKey(value);
    if (cached !== undefined) return finishKey(exchange, cached ?? undefined);
    // Malformed keys (bad checksum, wrong prefix) are refused without a lookup.
    if (!parseApiKey(value).ok) return unauthorized(exchange, 'invalid_credentials', INVALID_KEY);
    let found: ReturnType<IdentityCatalog['lookupKey']>;
    try {
      found = identity.lookupKey(value);
    } catch (error) {
      return unavailable(exchange, error);
    }
    if (found instanceof Promise) {
      return found.then(
        (entry) => finishKey(exchange, entry),
        (error: unknown) => unavailable(exchange, error),
      );
    }
    return finishKey(exchange, found);
  };

  const authenticateJwt = async (exchange: Exchange, token: string): Promise<Deny | undefined> => {
    const outcome = await identity.verifyJwt(token);
    if (!outcome) return unauthorized(exchange, 'invalid_credentials', 'invalid token');
    if (!outcome.ok && outcome.code === 'key_set_unavailable')
      return unavailable(exchange, new Error(outcome.reason));
    if (!outcome.ok) {
      logger.debug({ requestId: exchange.facts.requestId, reason: outcome.reason }, 'JWT refused');
      return unauthorized(exchange, 'invalid_credentials', outcome.detail);
    }
    // A route may trust only some identity providers (tenants): a token from another is refused.
    const accepted = exchange.match?.route.spec.jwt_providers;
    if (accepted && !accepted.includes(outcome.providerId)) {
      return unauthorized(
        exchange,
        'invalid_credentials',
        'this route does not accept tokens from this issuer',
      );
    }
    let client: ClientRecord | undefined;
    if (outcome.clientId !== undefined) {
      client = identity.client(outcome.clientId);
      if (client) {
        const refusal = clientRefusal(client);
        if (refusal) return refusal;
      }
    }
    exchange.principal = {
      kind: 'jwt',
      providerId: outcome.providerId,
      ...(outcome.userId !== undefined ? { userId: outcome.userId } : {}),
      ...(client ? { clientId: client.id, clientName: client.name } : {}),
      scopes: outcome.scopes,
    };
    return undefined;
  };

  const authenticateHmac = async (exchange: Exchange, header: string): Promise<Deny | undefined> => {
    const parsed = parseHmacAuthorization(header);
    if (!parsed.ok) return unauthorized(exchange, 'invalid_credentials', 'invalid signature header');
    // An unknown client is verified against no secret (a decoy HMAC inside the verifier), so
    // it costs the same and gets the same answer as a wrong signature.
    const client = identity.client(parsed.clientId);
    const secrets = client ? identity.hmacSecrets(client.id) : [];
    // Cheap checks before reading up to a megabyte of body.
    if (Math.abs(clock.now() / 1000 - parsed.timestamp) > options.hmacWindowS) {
      return unauthorized(
        exchange,
        'signature_expired',
        'the signature timestamp is outside the allowed window',
      );
    }
    let body: Buffer = Buffer.alloc(0);
    if (exchange.readBody) {
      let read: Buffer | 'too_large';
      try {
        read = await exchange.readBody(options.hmacBodyLimitBytes);
      } catch {
        // The client went away mid-body: nothing to verify, and not a server fault.
        return deny('bad_request', 'the request body could not be read');
      }
      if (read === 'too_large') {
        return deny('payload_too_large', `signed bodies are limited to ${options.hmacBodyLimitBytes} bytes`);
      }
      body = read;
      exchange.body = read;
    } else if (!BODYLESS.has(exchange.facts.method)) {
      // Forward-auth and the verification API never see the body, so a signature could not
      // cover it: a signed request that may carry a body is only verified in gateway mode.
      return unauthorized(
        exchange,
        'invalid_credentials',
        'signed requests with a body can only be verified in gateway mode',
      );
    }
    let result: HmacVerdict;
    try {
      result = await verifyHmac({
        header: parsed,
        method: exchange.facts.method,
        target: exchange.facts.rawTarget,
        body,
        secrets,
      });
    } catch (error) {
      return unavailable(exchange, error);
    }
    if (!result.ok) {
      const detail =
        result.code === 'signature_expired'
          ? 'the signature timestamp is outside the allowed window'
          : result.code === 'replayed_request'
            ? 'this nonce was already used'
            : 'invalid signature';
      return unauthorized(exchange, result.code, detail);
    }
    if (!client) return unauthorized(exchange, 'invalid_credentials', 'invalid signature');
    const refusal = clientRefusal(client);
    if (refusal) return refusal;
    exchange.principal = { kind: 'hmac', clientId: client.id, clientName: client.name, scopes: [] };
    return undefined;
  };

  return (exchange) => {
    const requirement = exchange.requirement as readonly AuthMethod[];
    if (requirement[0] === 'public') {
      exchange.principal = anonymous;
      return undefined;
    }
    const credential = exchange.credential;
    if (!credential) return unauthorized(exchange, 'missing_credentials', 'this route requires credentials');
    if (!requirement.includes(credential.kind)) {
      return unauthorized(
        exchange,
        'invalid_credentials',
        'this route does not accept this kind of credential',
      );
    }
    switch (credential.kind) {
      case 'api_key':
        return authenticateKey(exchange, credential.value);
      case 'jwt':
        return authenticateJwt(exchange, credential.value);
      case 'hmac':
        return authenticateHmac(exchange, credential.value);
    }
  };
}
