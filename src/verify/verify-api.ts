/**
 * The verification API (PRODUCT.md §1 item 3): `POST /_portcullis/verify` lets an application
 * check a credential in its own code. The same pipeline decides (limits are consumed, the
 * decision is recorded); the answer is always 200 with `valid` and a `code` for a decision,
 * and an HTTP error only when the call itself is wrong (bad service token, bad JSON) or a
 * dependency failed (503). Callers authenticate with a service token of role `verifier`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isWellFormedServiceToken } from '../auth/service-token.js';
import type { Clock } from '../core/clock.js';
import { credentialHash, type SecretKeys } from '../core/crypto.js';
import { writeDeny } from '../gateway/problem-response.js';
import type { IdentityCatalog } from '../identity/catalog.js';
import { normalizeHost } from '../net/host.js';
import { normalizeIp } from '../net/ip.js';
import { normalizePath } from '../net/path.js';
import { deny } from '../pipeline/decision.js';
import type { Decide } from '../pipeline/pipeline.js';
import type { Decision, Deny, RequestFacts } from '../pipeline/types.js';

export const VERIFY_PATH = '/_portcullis/verify';
const BODY_LIMIT = 64 * 1024;

export interface VerifyApiOptions {
  decide: Decide;
  identity: IdentityCatalog;
  keys: SecretKeys;
  clock: Clock;
  pathCaseInsensitive: boolean;
  pathAllowSemicolons: boolean;
  report: (facts: RequestFacts | undefined, decision: Decision | undefined, status: number) => void;
  onFault: (res: ServerResponse, requestId: string, error: unknown, facts?: RequestFacts) => void;
}

interface VerifyRequest {
  key?: string;
  authorization?: string;
  route?: string;
  method?: string;
  path?: string;
  host?: string;
  ip?: string;
}

const FIELDS = new Set(['key', 'authorization', 'route', 'method', 'path', 'host', 'ip']);

function readJson(req: IncomingMessage): Promise<unknown | 'too_large' | 'invalid'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT) {
        resolve('too_large');
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        resolve('invalid');
      }
    });
    req.on('error', () => resolve('invalid'));
  });
}

function validate(body: unknown): VerifyRequest | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return 'the body must be a JSON object';
  for (const [field, value] of Object.entries(body)) {
    if (!FIELDS.has(field)) return `unknown field "${field}"`;
    if (typeof value !== 'string') return `field "${field}" must be a string`;
  }
  const request = body as VerifyRequest;
  if ((request.key === undefined) === (request.authorization === undefined))
    return 'give exactly one of "key" or "authorization"';
  if (request.method !== undefined && !/^[A-Z]{1,16}$/.test(request.method))
    return 'field "method" must be an upper-case HTTP method';
  if (request.path !== undefined && !request.path.startsWith('/')) return 'field "path" must start with "/"';
  if (request.ip !== undefined && normalizeIp(request.ip) === undefined)
    return 'field "ip" is not an IP address';
  if (request.authorization !== undefined && /^hmac\s/i.test(request.authorization)) {
    return 'HMAC-signed requests cannot be verified here (the signature covers a body and target this API does not see)';
  }
  return request;
}

export function createVerifyApi(options: VerifyApiOptions) {
  const { identity, keys, clock, report } = options;

  const problem = (res: ServerResponse, decision: Deny, requestId: string) => {
    writeDeny(res, decision, requestId);
    report(undefined, decision, decision.status);
  };

  const answer = (res: ServerResponse, facts: RequestFacts, decision: Decision) => {
    // A dependency fault is not a verdict about the credential: it is an error of the call.
    if (decision.kind === 'deny' && decision.status >= 500) {
      writeDeny(res, decision, facts.requestId);
      report(facts, decision, decision.status);
      return;
    }
    const principal = decision.kind === 'allow' ? decision.principal : decision.principal;
    const body = {
      valid: decision.kind === 'allow',
      code: decision.kind === 'allow' ? 'valid' : decision.code,
      client:
        principal?.clientId !== undefined
          ? { id: principal.clientId, name: principal.clientName ?? null }
          : null,
      keyId: principal?.keyId ?? null,
      userId: principal?.userId ?? null,
      environment: principal?.environment ?? null,
      scopes: principal?.scopes ?? [],
      route: decision.kind === 'allow' ? decision.match.route.id : null,
      ratelimit:
        decision.kind === 'allow' && decision.rateLimit
          ? {
              policy: decision.rateLimit.policy,
              limit: decision.rateLimit.limit,
              remaining: decision.rateLimit.remaining,
              reset: decision.rateLimit.resetS,
            }
          : null,
      remaining: decision.kind === 'allow' ? decision.remaining : null,
      requestId: facts.requestId,
    };
    const text = JSON.stringify(body);
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      'x-request-id': facts.requestId,
    });
    res.end(text);
    if (decision.kind === 'allow' && decision.onFinish) for (const fn of decision.onFinish) fn(200);
    report(facts, decision, decision.kind === 'allow' ? 200 : decision.status);
  };

  return async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    callFacts: RequestFacts,
  ): Promise<void> {
    const requestId = callFacts.requestId;
    if (req.method !== 'POST') {
      problem(res, deny('method_not_allowed', 'use POST', [['allow', 'POST']]), requestId);
      return;
    }
    const authorization = req.headers.authorization;
    const token = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : undefined;
    const challenge = [['www-authenticate', 'Bearer realm="portcullis-verify"']] as const;
    if (!token || !isWellFormedServiceToken(token)) {
      problem(res, deny('invalid_credentials', 'a verifier service token is required', challenge), requestId);
      return;
    }
    let record: Awaited<ReturnType<IdentityCatalog['lookupServiceToken']>>;
    try {
      record = await identity.lookupServiceToken(credentialHash(keys, token));
    } catch (error) {
      options.onFault(res, requestId, error);
      return;
    }
    const now = clock.now();
    if (!record || record.revokedAt !== null || (record.expiresAt !== null && record.expiresAt <= now)) {
      problem(res, deny('invalid_credentials', 'a verifier service token is required', challenge), requestId);
      return;
    }
    if (record.role !== 'verifier' && record.role !== 'admin') {
      problem(res, deny('forbidden', 'this token may not call the verification API'), requestId);
      return;
    }
    const body = await readJson(req);
    if (body === 'too_large') {
      problem(res, deny('payload_too_large', `the body is limited to ${BODY_LIMIT} bytes`), requestId);
      return;
    }
    const request = body === 'invalid' ? 'the body is not valid JSON' : validate(body);
    if (typeof request === 'string') {
      problem(res, deny('bad_request', request), requestId);
      return;
    }
    const host = normalizeHost(request.host ?? 'localhost', false);
    const path = normalizePath(request.path ?? '/', {
      caseInsensitive: options.pathCaseInsensitive,
      allowSemicolons: options.pathAllowSemicolons,
    });
    if (!host.ok || !path.ok) {
      problem(
        res,
        deny(
          'bad_request',
          !host.ok ? 'field "host" is not a valid host' : 'field "path" is not a valid path',
        ),
        requestId,
      );
      return;
    }
    const rawHeaders =
      request.key !== undefined
        ? ['x-api-key', request.key]
        : ['authorization', request.authorization as string];
    const facts: RequestFacts = {
      requestId,
      door: 'verify',
      method: request.method ?? 'GET',
      hostname: host.hostname,
      port: host.port,
      host: host.port === undefined ? host.hostname : `${host.hostname}:${host.port}`,
      path: path.path,
      query: '',
      rawHeaders,
      hasBody: false,
      connection: undefined,
      rawTarget: path.path,
      clientIp: request.ip !== undefined ? (normalizeIp(request.ip) as string) : callFacts.clientIp,
      peerIp: callFacts.peerIp,
      protocol: 'http',
      startedAt: callFacts.startedAt,
      ...(request.route !== undefined ? { routeId: request.route } : {}),
    };
    try {
      answer(res, facts, await options.decide(facts));
    } catch (error) {
      options.onFault(res, requestId, error, facts);
    }
  };
}
