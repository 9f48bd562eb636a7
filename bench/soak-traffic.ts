/**
 * What the soak sends: the configuration it applies (routes, a fixed-window policy), the
 * credentials it creates with the real CLI (API keys, an HMAC client, an HS256 JWT provider, a
 * revoked key, a blocked address), and the traffic kinds built on them, each with the answers
 * it must get. Credentials stay in memory: nothing here prints or writes one.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildHmacAuthorization } from '@portcullis/sdk/hmac';
import { SignJWT } from 'jose';
import { generateApiKey } from '../src/auth/api-key/format.js';

export const LIMIT_POLICY_ID = 'soak-window';
const JWT_ISSUER = 'https://soak.test';
const JWT_AUDIENCE = 'soak';
/** The address the blocklist names; the load generator binds some connections to it. */
export const BLOCKED_SOURCE = '127.0.0.2';

export interface LimitSettings {
  /** Allowed requests per key per window. */
  limit: number;
  windowMs: number;
  /** Keys sharing the limited route, each with its own counter. */
  keys: number;
}

export function soakConfig(upstreamUrl: string, limit: LimitSettings): string {
  const upstream = `    upstream: { url: "${upstreamUrl}" }`;
  return [
    'policies:',
    `  - id: ${LIMIT_POLICY_ID}`,
    '    algorithm: fixed_window',
    `    limit: ${limit.limit}`,
    `    window: ${limit.windowMs}ms`,
    '    key_by: [key]',
    'routes:',
    '  - id: soak-api',
    '    path: "/api/*"',
    '    methods: { GET: api_key, POST: api_key }',
    upstream,
    '  - id: soak-signed',
    '    path: "/signed/*"',
    '    methods: { GET: hmac, POST: hmac }',
    upstream,
    '  - id: soak-jwt',
    '    path: "/jwt/*"',
    '    methods: { GET: jwt }',
    upstream,
    '  - id: soak-limited',
    '    path: "/limited/*"',
    '    methods: { GET: api_key }',
    `    policies: [${LIMIT_POLICY_ID}]`,
    upstream,
    '',
  ].join('\n');
}

interface IssuedKey {
  id: string;
  key: string;
}

export interface SoakFixtures {
  /** One key per client, each client granted GET and POST on soak-api. */
  apiKeys: IssuedKey[];
  /** A granted key the soak revokes while traffic flows (propagation to every instance). */
  midRevokeKey: IssuedKey;
  /** Revoked before the load starts. */
  revokedKey: IssuedKey;
  /** A valid key of a client without a grant on soak-api. */
  noGrantKey: IssuedKey;
  limitedKeys: IssuedKey[];
  hmac: { clientId: string; secret: string };
  jwtTokens: string[];
  /** Well-formed, signed with a secret the provider does not have. */
  badJwt: string;
}

type Cli = (args: string[]) => Promise<string>;

function parseJson<T>(out: string, what: string): T {
  try {
    return JSON.parse(out) as T;
  } catch {
    // Never echo `out`: it may hold a key or a secret.
    throw new Error(`${what}: output is not JSON`);
  }
}

async function createKey(cli: Cli, client: string): Promise<IssuedKey> {
  const out = parseJson<{ id?: unknown; key?: unknown }>(
    await cli(['keys', 'create', '--client', client, '--env', 'live', '--json']),
    'keys create',
  );
  if (typeof out.id !== 'string' || typeof out.key !== 'string') throw new Error('keys create: no id/key');
  return { id: out.id, key: out.key };
}

async function addClient(cli: Cli, id: string, grants: Array<{ route: string; methods: string }>) {
  await cli(['clients', 'add', '--id', id, '--name', id, '--json']);
  for (const grant of grants)
    await cli([
      'grants',
      'add',
      '--client',
      id,
      '--route',
      grant.route,
      '--methods',
      grant.methods,
      '--json',
    ]);
}

/**
 * Everything through the CLI, as an operator would: `apply` for routes and the policy, then
 * clients, grants, keys, the HMAC secret, the JWT provider, the revocation and the block.
 * Independent clients are set up side by side (each command is a Node start-up).
 */
export async function setupFixtures(
  cli: Cli,
  dir: string,
  options: { upstreamUrl: string; limit: LimitSettings; apiClients: number; tokenLifetimeS: number },
): Promise<SoakFixtures> {
  const configFile = join(dir, 'soak.yaml');
  writeFileSync(configFile, soakConfig(options.upstreamUrl, options.limit));
  await cli(['apply', '-f', configFile]);

  const apiClientIds = Array.from({ length: options.apiClients }, (_, i) => `soak-app-${i + 1}`);
  const limitedIds = Array.from({ length: options.limit.keys }, (_, i) => `soak-limited-${i + 1}`);
  const api = [{ route: 'soak-api', methods: 'GET,POST' }];
  await Promise.all([
    ...apiClientIds.map((id) => addClient(cli, id, api)),
    ...limitedIds.map((id) => addClient(cli, id, [{ route: 'soak-limited', methods: 'GET' }])),
    addClient(cli, 'soak-signer', [{ route: 'soak-signed', methods: 'GET,POST' }]),
    addClient(cli, 'soak-nogrant', []),
  ]);
  const [apiKeys, limitedKeys, extra] = await Promise.all([
    Promise.all(apiClientIds.map((id) => createKey(cli, id))),
    Promise.all(limitedIds.map((id) => createKey(cli, id))),
    Promise.all([
      createKey(cli, apiClientIds[0]!),
      createKey(cli, apiClientIds[1 % apiClientIds.length]!),
      createKey(cli, 'soak-nogrant'),
    ]),
  ]);
  const [midRevokeKey, revokedKey, noGrantKey] = extra;

  const hmac = parseJson<{ secret?: unknown }>(
    await cli(['clients', 'hmac-secret', '--client', 'soak-signer', '--json']),
    'clients hmac-secret',
  );
  if (typeof hmac.secret !== 'string') throw new Error('clients hmac-secret: no secret');

  const jwtSecret = randomBytes(32);
  const secretFile = join(dir, 'jwt-hs256.secret');
  writeFileSync(secretFile, jwtSecret, { mode: 0o600 });
  await cli([
    'jwt-providers',
    'add',
    '--id',
    'soak-hs',
    '--secret-file',
    secretFile,
    '--algorithms',
    'HS256',
    '--issuer',
    JWT_ISSUER,
    '--audience',
    JWT_AUDIENCE,
    '--json',
  ]);
  await cli(['keys', 'revoke', revokedKey.id, '--reason', 'soak: revoked before the load', '--json']);
  await cli(['blocks', 'add', '--ip', `${BLOCKED_SOURCE}/32`, '--reason', 'soak: blocked address', '--json']);

  const mint = (subject: string, secret: Uint8Array) =>
    new SignJWT({ scope: 'soak' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(JWT_ISSUER)
      .setAudience(JWT_AUDIENCE)
      .setSubject(subject)
      .setIssuedAt()
      .setExpirationTime(`${options.tokenLifetimeS}s`)
      .sign(secret);
  const jwtTokens = await Promise.all(
    Array.from({ length: 5 }, (_, i) => mint(`soak-user-${i + 1}`, jwtSecret)),
  );
  const badJwt = await mint('soak-intruder', randomBytes(32));

  return {
    apiKeys,
    midRevokeKey,
    revokedKey,
    noGrantKey,
    limitedKeys,
    hmac: { clientId: 'soak-signer', secret: hmac.secret },
    jwtTokens,
    badJwt,
  };
}

export interface OutgoingRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** `blocked`: sent from BLOCKED_SOURCE instead of 127.0.0.1. */
  from: 'main' | 'blocked';
  /** Which limited key (kind `limited`), for the per-key window check. */
  keyIndex?: number;
}

export interface Expected {
  status: number;
  code?: string;
}

export interface TrafficKind {
  name: string;
  /** Share of the request rate, in parts (all kinds' weights add up to 100). */
  weight: number;
  /** Answers every request of this kind must get; empty: judged elsewhere (mid-run revocation). */
  expected: readonly Expected[];
  next(): OutgoingRequest;
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

function cycle<T>(items: readonly T[]): () => [T, number] {
  let i = 0;
  return () => {
    const index = i++ % items.length;
    return [items[index] as T, index];
  };
}

/** A key whose checksum no longer matches: refused before any lookup. */
function malformed(key: string): string {
  const last = key.at(-1) === 'A' ? 'B' : 'A';
  return key.slice(0, -1) + last;
}

export function trafficKinds(f: SoakFixtures): TrafficKind[] {
  const ok: Expected[] = [{ status: 200 }];
  const apiKey = cycle(f.apiKeys);
  const limited = cycle(f.limitedKeys);
  const jwt = cycle(f.jwtTokens);
  let n = 0;
  const item = () => (n++ % 997).toString();
  const body = () => JSON.stringify({ item: item(), at: Date.now() });
  const signed = (
    method: 'GET' | 'POST',
    path: string,
    secret: string,
    payload?: string,
  ): OutgoingRequest => {
    const { header } = buildHmacAuthorization({
      clientId: f.hmac.clientId,
      secret,
      method,
      target: path,
      ...(payload === undefined ? {} : { body: payload }),
    });
    return {
      method,
      path,
      headers: {
        authorization: header,
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(payload === undefined ? {} : { body: payload }),
      from: 'main',
    };
  };
  let hmacTurn = 0;
  let apiTurn = 0;
  return [
    {
      name: 'api_key',
      weight: 28,
      expected: ok,
      next() {
        const [k] = apiKey();
        // One in five is a POST with a small JSON body.
        if (apiTurn++ % 5 === 4)
          return {
            method: 'POST',
            path: '/api/items',
            headers: { ...bearer(k.key), 'content-type': 'application/json' },
            body: body(),
            from: 'main',
          };
        return { method: 'GET', path: `/api/items/${item()}`, headers: bearer(k.key), from: 'main' };
      },
    },
    {
      name: 'hmac',
      weight: 15,
      expected: ok,
      next: () =>
        hmacTurn++ % 3 === 2
          ? signed('POST', '/signed/orders', f.hmac.secret, body())
          : signed('GET', `/signed/orders/${item()}?expand=lines`, f.hmac.secret),
    },
    {
      name: 'jwt',
      weight: 15,
      expected: ok,
      next: () => ({
        method: 'GET',
        path: `/jwt/profile/${item()}`,
        headers: bearer(jwt()[0]),
        from: 'main',
      }),
    },
    {
      name: 'limited',
      weight: 20,
      expected: [{ status: 200 }, { status: 429, code: 'rate_limited' }],
      next() {
        const [k, keyIndex] = limited();
        return { method: 'GET', path: '/limited/ping', headers: bearer(k.key), from: 'main', keyIndex };
      },
    },
    {
      name: 'revoked_mid_run',
      weight: 2,
      expected: [],
      next: () => ({
        method: 'GET',
        path: `/api/items/${item()}`,
        headers: bearer(f.midRevokeKey.key),
        from: 'main',
      }),
    },
    {
      name: 'missing_credentials',
      weight: 3,
      expected: [{ status: 401, code: 'missing_credentials' }],
      next: () => ({ method: 'GET', path: `/api/items/${item()}`, headers: {}, from: 'main' }),
    },
    {
      name: 'malformed_key',
      weight: 3,
      expected: [{ status: 401, code: 'invalid_credentials' }],
      next: () => ({
        method: 'GET',
        path: `/api/items/${item()}`,
        headers: bearer(malformed(apiKey()[0].key)),
        from: 'main',
      }),
    },
    {
      name: 'unknown_key',
      weight: 3,
      expected: [{ status: 401, code: 'invalid_credentials' }],
      // A fresh well-formed key every time: a database lookup, and the unknown-key cache churns.
      next: () => ({
        method: 'GET',
        path: `/api/items/${item()}`,
        headers: bearer(generateApiKey('pcl', 'live').key),
        from: 'main',
      }),
    },
    {
      name: 'revoked_key',
      weight: 3,
      expected: [{ status: 401, code: 'key_revoked' }],
      next: () => ({
        method: 'GET',
        path: `/api/items/${item()}`,
        headers: bearer(f.revokedKey.key),
        from: 'main',
      }),
    },
    {
      name: 'blocked_ip',
      weight: 3,
      expected: [{ status: 403, code: 'blocked' }],
      next: () => ({
        method: 'GET',
        path: `/api/items/${item()}`,
        headers: bearer(apiKey()[0].key),
        from: 'blocked',
      }),
    },
    {
      name: 'bad_signature',
      weight: 2,
      expected: [{ status: 401, code: 'invalid_credentials' }],
      next: () => signed('GET', `/signed/orders/${item()}`, `${f.hmac.secret}x`),
    },
    {
      name: 'bad_jwt',
      weight: 2,
      expected: [{ status: 401, code: 'invalid_credentials' }],
      next: () => ({
        method: 'GET',
        path: `/jwt/profile/${item()}`,
        headers: bearer(f.badJwt),
        from: 'main',
      }),
    },
    {
      name: 'forbidden_route',
      weight: 1,
      expected: [{ status: 403, code: 'forbidden_route' }],
      next: () => ({
        method: 'GET',
        path: `/api/items/${item()}`,
        headers: bearer(f.noGrantKey.key),
        from: 'main',
      }),
    },
  ];
}
