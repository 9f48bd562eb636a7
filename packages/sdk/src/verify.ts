/**
 * Client of the verification API, `POST /_portcullis/verify` on the proxy listener: an
 * application checks a credential in its own code and gets the gateway's decision. A refusal
 * is an answer (`valid: false` with a code), not an exception; errors are for calls that
 * could not be judged (bad service token 401/403, malformed call 400, dependency fault 503).
 *
 * Never retried: a verification consumes rate limits and remaining-uses budgets like a real
 * request, so sending it again after a lost answer could spend them twice.
 */
import { createTransport, type Transport, type TransportOptions } from './transport.js';

export const VERIFY_PATH = '/_portcullis/verify';

export interface VerifyContext {
  /** Judge against this route id instead of matching host and path. */
  route?: string;
  /** Upper-case HTTP method of the request being judged. Default GET (server side). */
  method?: string;
  /** Path of the request being judged, starting with `/`. */
  path?: string;
  host?: string;
  /** The end client's address (for IP rules and key binding). */
  ip?: string;
}

export interface VerifyKeyInput extends VerifyContext {
  /** The API key as the end client presented it. */
  key: string;
}

export interface VerifyAuthorizationInput extends VerifyContext {
  /** A whole `Authorization` header value (`Bearer <api key or JWT>`). HMAC cannot be verified here. */
  authorization: string;
}

export interface VerifyResult {
  valid: boolean;
  /** `valid`, or the refusal's code (docs/errors.md): `invalid_credentials`, `rate_limited`, … */
  code: string;
  client: { id: string; name: string | null } | null;
  keyId: string | null;
  userId: string | null;
  environment: 'live' | 'test' | null;
  scopes: string[];
  /** Id of the route the request was judged against, when allowed. */
  route: string | null;
  /** The tightest rate limit that applied, when allowed. */
  ratelimit: { policy: string; limit: number; remaining: number; reset: number } | null;
  /** Remaining uses of the key's budget after this call, when it has one. */
  remaining: number | null;
  requestId: string;
}

export interface VerifierOptions extends Omit<TransportOptions, 'baseUrl' | 'token' | 'retries'> {
  /** The proxy listener, e.g. `http://127.0.0.1:8080`. */
  url: string | URL;
  /** A service token of role `verifier`. */
  token: string;
}

const CONTEXT_FIELDS = ['route', 'method', 'path', 'host', 'ip'] as const;

function checkContext(input: VerifyContext, body: Record<string, string>): void {
  for (const field of CONTEXT_FIELDS) {
    const value = input[field];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new TypeError(`${field} must be a string`);
    body[field] = value;
  }
}

export class PortcullisVerifier {
  readonly transport: Transport;

  constructor(options: VerifierOptions) {
    const { url, token, ...rest } = options;
    if (typeof token !== 'string' || token === '') throw new TypeError('token must be a non-empty string');
    this.transport = createTransport({ ...rest, baseUrl: url, token, retries: 0 });
  }

  /** Verify an API key as if it were presented on a request (`X-API-Key`). */
  async verifyKey(input: VerifyKeyInput, signal?: AbortSignal): Promise<VerifyResult> {
    if (typeof input?.key !== 'string' || input.key === '')
      throw new TypeError('key must be a non-empty string');
    const body: Record<string, string> = { key: input.key };
    checkContext(input, body);
    return this.#verify(body, signal);
  }

  /** Verify a whole `Authorization` value (`Bearer <api key>` or `Bearer <JWT>`). */
  async verifyAuthorization(input: VerifyAuthorizationInput, signal?: AbortSignal): Promise<VerifyResult> {
    if (typeof input?.authorization !== 'string' || input.authorization === '')
      throw new TypeError('authorization must be a non-empty string');
    const body: Record<string, string> = { authorization: input.authorization };
    checkContext(input, body);
    return this.#verify(body, signal);
  }

  #verify(body: Record<string, string>, signal: AbortSignal | undefined): Promise<VerifyResult> {
    return this.transport.request<VerifyResult>({
      method: 'POST',
      path: VERIFY_PATH,
      body,
      idempotent: false,
      ...(signal !== undefined ? { signal } : {}),
    });
  }
}
