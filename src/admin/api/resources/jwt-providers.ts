/**
 * JWT providers (docs/identity.md). Bodies use the spec's field names (snake_case, as in the
 * declarative file and `export`) and one validator judges them (auth/jwt/spec.ts): exactly
 * one key source, algorithms of one family fitting it ("none" never; HS* only with a shared
 * secret, public-key algorithms only with a public key or JWKS URL), public keys only public.
 *
 * A shared secret is accepted in a create or change body (`secret` as text, or
 * `secret_base64` for binary secrets), sealed at once under the secret key, and never given
 * back: the answers' schema has no field that could carry it, sealed or not.
 */
import { type Static, Type } from '@sinclair/typebox';
import {
  hsSecretFromInput,
  type JwtProviderSpec,
  openHsSecret,
  parseJwtProviderSpec,
  sealHsSecret,
  specForExport,
} from '../../../auth/jwt/spec.js';
import type { SecretKeys } from '../../../core/crypto.js';
import { SpecError, type SpecIssue } from '../../../core/spec-error.js';
import { NotFoundError } from '../../../store/errors.js';
import type { JwtProviderRecord } from '../../../store/types.js';
import type { ResourceRoutes } from '../context.js';
import { pageOf } from '../pagination.js';
import { IdParams, iso, Page, PageQuery, problems, Timestamp } from '../schemas.js';

const AT = 'jwt_provider';

const Jwk = Type.Object(
  { kty: Type.String() },
  { additionalProperties: true, description: 'a public JWK (RFC 7517)' },
);
const Audience = Type.Union([Type.String(), Type.Array(Type.String())]);
const KeySource = Type.Union([
  Type.Literal('jwks_url'),
  Type.Literal('public_key'),
  Type.Literal('shared_secret'),
]);

export const JwtProvider = Type.Object(
  {
    id: Type.String(),
    key_source: KeySource,
    jwks_url: Type.Optional(Type.String()),
    public_key: Type.Optional(Type.Union([Type.String({ description: 'PEM "PUBLIC KEY" block' }), Jwk])),
    algorithms: Type.Array(Type.String()),
    issuer: Type.Optional(Type.String()),
    audience: Type.Optional(Audience),
    clock_tolerance_s: Type.Integer(),
    typ: Type.Optional(Type.String()),
    max_age_s: Type.Optional(Type.Integer()),
    require_exp: Type.Boolean(),
    claims: Type.Object({
      user: Type.String(),
      scopes: Type.Optional(Type.String()),
      client: Type.Optional(Type.String()),
    }),
    jwks: Type.Optional(
      Type.Object({ cache_ttl_s: Type.Integer(), cooldown_s: Type.Integer(), timeout_ms: Type.Integer() }),
    ),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  {
    $id: 'JwtProvider',
    description: 'A JWT provider. A shared secret is never shown (key_source says one is set).',
  },
);

function keySource(spec: JwtProviderSpec): Static<typeof KeySource> {
  return spec.jwks_url !== undefined
    ? 'jwks_url'
    : spec.public_key !== undefined
      ? 'public_key'
      : 'shared_secret';
}

export function jwtProviderView(record: JwtProviderRecord) {
  const spec = parseJwtProviderSpec(record.spec, `jwt_providers.${record.id}`);
  // Serialized in the schema's order: id first.
  return {
    key_source: keySource(spec),
    ...specForExport(spec),
    created_at: iso(record.createdAt),
    updated_at: iso(record.updatedAt),
  };
}

const Claims = {
  user: Type.String({ description: 'claim holding the user id (default sub)' }),
  scopes: Type.String({ description: 'claim holding the scopes (default scope, then scp)' }),
  client: Type.String({ description: 'claim naming the client (e.g. azp or client_id)' }),
};
const Jwks = Type.Object(
  {
    cache_ttl_s: Type.Optional(Type.Integer({ description: 'default 600' })),
    cooldown_s: Type.Optional(Type.Integer({ description: 'default 30' })),
    timeout_ms: Type.Optional(Type.Integer({ description: 'default 2000' })),
  },
  { additionalProperties: false, description: 'JWKS fetching (jwks_url only)' },
);
const sources = {
  jwks_url: Type.String({ description: 'JWKS endpoint (https; http only for loopback)' }),
  public_key: Type.Union([Type.String({ description: 'PEM public key, or a JWK as JSON text' }), Jwk]),
  secret: Type.String({
    description:
      'HS* shared secret as text (≥ 32 bytes; one trailing newline is dropped); stored sealed, never shown',
  }),
  secret_base64: Type.String({ description: 'HS* shared secret as base64 bytes, for binary secrets' }),
};
const settings = {
  issuer: Type.String({ description: 'required iss' }),
  audience: Type.Union([Type.String(), Type.Array(Type.String())], { description: 'accepted aud values' }),
  clock_tolerance_s: Type.Integer({ description: 'tolerance for exp/nbf/iat, 0-300 (default 30)' }),
  typ: Type.String({ description: 'required typ header (e.g. at+jwt)' }),
  max_age_s: Type.Integer({ description: 'refuse tokens issued longer ago (iat)' }),
  require_exp: Type.Boolean({ description: 'default true' }),
};

const CreateBody = Type.Object(
  {
    id: Type.String({ description: 'provider id: a-z, 0-9, "_", "." or "-"' }),
    algorithms: Type.Array(Type.String(), {
      description:
        'allowed algorithms, one family: RS*, PS*, ES*, EdDSA with a public key or JWKS; HS* with a secret',
    }),
    ...Object.fromEntries(Object.entries(sources).map(([k, v]) => [k, Type.Optional(v)])),
    ...Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, Type.Optional(v)])),
    claims: Type.Optional(
      Type.Object(Object.fromEntries(Object.entries(Claims).map(([k, v]) => [k, Type.Optional(v)])), {
        additionalProperties: false,
      }),
    ),
    jwks: Type.Optional(Jwks),
  },
  { additionalProperties: false, description: 'Exactly one of jwks_url, public_key, secret, secret_base64.' },
);

/** Optional settings a change may clear with null. */
const CLEARABLE = ['issuer', 'audience', 'typ', 'max_age_s'] as const;
const PatchBody = Type.Object(
  {
    algorithms: Type.Optional(CreateBody.properties.algorithms),
    ...Object.fromEntries(Object.entries(sources).map(([k, v]) => [k, Type.Optional(v)])),
    ...Object.fromEntries(
      Object.entries(settings).map(([k, v]) => [
        k,
        Type.Optional((CLEARABLE as readonly string[]).includes(k) ? Type.Union([v, Type.Null()]) : v),
      ]),
    ),
    claims: Type.Optional(
      Type.Object(
        {
          user: Type.Optional(Claims.user),
          scopes: Type.Optional(Type.Union([Claims.scopes, Type.Null()])),
          client: Type.Optional(Type.Union([Claims.client, Type.Null()])),
        },
        { additionalProperties: false },
      ),
    ),
    jwks: Type.Optional(Jwks),
  },
  {
    additionalProperties: false,
    description:
      'Fields to change; the others are kept. A new key source (one of jwks_url, public_key, secret, ' +
      'secret_base64) replaces the old one. null clears an optional setting.',
  },
);

type Body = Record<string, unknown>;
const SOURCE_FIELDS = ['jwks_url', 'public_key', 'secret', 'secret_base64'] as const;

/** A JWK may come as JSON text (the content of a .jwk file); PEM stays text. */
function publicKeyOf(value: unknown): unknown {
  if (typeof value !== 'string' || !value.trim().startsWith('{')) return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw new SpecError([{ path: `${AT}.public_key`, message: 'starts like a JWK but is not valid JSON' }]);
  }
}

/** The shared secret's bytes from `secret` (text) or `secret_base64`. */
function secretBytes(body: Body): { raw: Buffer; field: string } {
  if (body['secret'] !== undefined)
    return { raw: Buffer.from(body['secret'] as string, 'utf8'), field: 'secret' };
  const encoded = (body['secret_base64'] as string).trim();
  const raw = Buffer.from(encoded, 'base64');
  if (encoded === '' || raw.toString('base64').replace(/=+$/, '') !== encoded.replace(/=+$/, ''))
    throw new SpecError([{ path: `${AT}.secret_base64`, message: 'is not base64' }]);
  return { raw, field: 'secret_base64' };
}

/**
 * Validate and canonicalize a provider from `rest` (everything but the key source) and the
 * key source given in `body`: the shared secret sealed, a JWK given as text parsed. Every
 * problem is reported at once: a secret that is too short does not hide a bad algorithm list.
 */
function buildSpec(rest: Body, body: Body, keys: SecretKeys): JwtProviderSpec {
  const issues: SpecIssue[] = [];
  const given = SOURCE_FIELDS.filter((k) => body[k] !== undefined);
  let source: Body = {};
  if (given.length !== 1) {
    issues.push({
      path: AT,
      message:
        given.length === 0
          ? 'needs exactly one key source: jwks_url, public_key, secret or secret_base64'
          : `has ${given.join(' and ')}; exactly one key source is allowed (one provider, one kind of key)`,
    });
  } else if (body['jwks_url'] !== undefined) {
    source = { jwks_url: body['jwks_url'] };
  } else if (body['public_key'] !== undefined) {
    try {
      source = { public_key: publicKeyOf(body['public_key']) };
    } catch (error) {
      if (!(error instanceof SpecError)) throw error;
      issues.push(...error.issues);
    }
  } else {
    try {
      const { raw, field } = secretBytes(body);
      const algorithms = Array.isArray(rest['algorithms']) ? (rest['algorithms'] as string[]) : [];
      source = {
        secret_encrypted: sealHsSecret(keys, hsSecretFromInput(raw, { algorithms, at: `${AT}.${field}` })),
      };
    } catch (error) {
      if (!(error instanceof SpecError)) throw error;
      issues.push(...error.issues);
      // Stand-in, so the rest (the algorithms' family above all) is still checked.
      source = { secret_encrypted: sealHsSecret(keys, Buffer.alloc(64, 1)) };
    }
  }
  try {
    const spec = parseJwtProviderSpec({ ...rest, ...source }, AT);
    if (issues.length === 0) return spec;
  } catch (error) {
    if (!(error instanceof SpecError)) throw error;
    // A missing or unusable key source was reported above, in the API's own terms.
    const sourceReported = Object.keys(source).length === 0;
    issues.push(...error.issues.filter((i) => !(sourceReported && i.path === AT)));
  }
  throw new SpecError(issues);
}

const withoutSources = (body: Body): Body =>
  Object.fromEntries(Object.entries(body).filter(([k]) => !(SOURCE_FIELDS as readonly string[]).includes(k)));

/** A kept secret must still be long enough for the algorithms a change lists (RFC 7518 §3.2). */
function checkKeptSecret(keys: SecretKeys, sealed: string, algorithms: readonly string[]): void {
  let secret: Buffer;
  try {
    secret = openHsSecret(keys, sealed);
  } catch {
    return; // Not openable here: the verifier reports it when it loads the provider.
  }
  hsSecretFromInput(secret, { algorithms, at: `${AT}.algorithms` });
}

export const jwtProviderRoutes: ResourceRoutes = (app, deps) => {
  const tags = ['jwt-providers'];
  app.addSchema(JwtProvider);
  const path = '/jwt-providers/:id';

  app.get(
    '/jwt-providers',
    {
      schema: {
        tags,
        summary: 'List JWT providers (a shared secret is never shown)',
        querystring: Type.Object(PageQuery),
        response: { 200: Page(Type.Ref('JwtProvider')), ...problems(400, 401, 403, 422) },
      },
    },
    async (request) => {
      const page = pageOf(await request.scope.store.jwtProviders.list(), (p) => p.id, request.query);
      return { items: page.items.map(jwtProviderView), nextCursor: page.nextCursor };
    },
  );

  app.post(
    '/jwt-providers',
    {
      schema: {
        tags,
        summary: 'Add a JWT provider (a shared secret is sealed and never shown again)',
        body: CreateBody,
        response: { 201: Type.Ref('JwtProvider'), ...problems(400, 401, 403, 409, 422) },
      },
    },
    async (request, reply) => {
      const body = request.body as Body;
      const spec = buildSpec(withoutSources(body), body, deps.keys);
      const record = await request.scope.store.jwtProviders.insert(
        spec.id,
        spec as unknown as Record<string, unknown>,
      );
      reply.code(201);
      return jwtProviderView(record);
    },
  );

  app.get(
    path,
    {
      schema: {
        tags,
        summary: 'Show one JWT provider (a shared secret is never shown)',
        params: IdParams,
        response: { 200: Type.Ref('JwtProvider'), ...problems(401, 403, 404) },
      },
    },
    async (request) => {
      const record = await request.scope.store.jwtProviders.get(request.params.id);
      if (!record) throw new NotFoundError('jwt provider', request.params.id);
      return jwtProviderView(record);
    },
  );

  app.patch(
    path,
    {
      schema: {
        tags,
        summary: 'Change a JWT provider: algorithms, key source (replaces the old one), checks, claims',
        params: IdParams,
        body: PatchBody,
        response: { 200: Type.Ref('JwtProvider'), ...problems(400, 401, 403, 404, 422) },
      },
    },
    async (request) => {
      const { store } = request.scope;
      const id = request.params.id;
      const existing = await store.jwtProviders.get(id);
      if (!existing) throw new NotFoundError('jwt provider', id);
      const base = existing.spec as unknown as JwtProviderSpec;
      const body = request.body as Body;
      const rest: Body = { ...base, ...withoutSources(body) };
      for (const field of CLEARABLE) if (body[field] === null) delete rest[field];
      if (body['claims'] !== undefined) {
        const claims: Body = { ...base.claims, ...(body['claims'] as Body) };
        for (const [name, value] of Object.entries(claims)) if (value === null) delete claims[name];
        rest['claims'] = claims;
      }
      if (body['jwks'] !== undefined) rest['jwks'] = { ...(base.jwks ?? {}), ...(body['jwks'] as Body) };
      let parsed: JwtProviderSpec;
      if (SOURCE_FIELDS.some((k) => body[k] !== undefined)) {
        // A new key source replaces the old one; JWKS fetch settings go with a JWKS URL.
        for (const k of ['jwks_url', 'public_key', 'secret_encrypted']) delete rest[k];
        if (body['jwks_url'] === undefined && body['jwks'] === undefined) delete rest['jwks'];
        parsed = buildSpec(rest, body, deps.keys);
      } else {
        parsed = parseJwtProviderSpec(rest, AT);
        if (parsed.secret_encrypted !== undefined && body['algorithms'] !== undefined)
          checkKeptSecret(deps.keys, parsed.secret_encrypted, parsed.algorithms);
      }
      return jwtProviderView(
        await store.jwtProviders.replace(id, parsed as unknown as Record<string, unknown>),
      );
    },
  );

  app.delete(
    path,
    {
      schema: {
        tags,
        summary: 'Remove a JWT provider',
        params: IdParams,
        response: {
          200: Type.Object({ id: Type.String(), removed: Type.Boolean() }),
          ...problems(401, 403, 404),
        },
      },
    },
    async (request) => {
      const id = request.params.id;
      if (!(await request.scope.store.jwtProviders.remove(id))) throw new NotFoundError('jwt provider', id);
      return { id, removed: true };
    },
  );
};
