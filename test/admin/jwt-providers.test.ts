import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { openHsSecret } from '../../src/auth/jwt/spec.js';
import { type AdminHarness, forEachDialect } from '../helpers/admin-api.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const RSA_PEM = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const RSA_PRIVATE_PEM = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const EC_JWK = ec.publicKey.export({ format: 'jwk' });
/** A canary: searched for in every answer and in the audit log. */
const SECRET = `canary-hs-secret-${randomBytes(16).toString('hex')}`;

const rsProvider = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  algorithms: ['RS256'],
  public_key: RSA_PEM,
  issuer: `https://${id}.test`,
  ...extra,
});

forEachDialect('admin API /jwt-providers', (open) => {
  let h: AdminHarness;
  before(async () => {
    h = await open();
  });
  after(() => h.close());

  describe('200/201', () => {
    it('adds, lists, shows, changes and removes a public-key provider', async () => {
      const created = await h.call('POST', '/jwt-providers', {
        body: rsProvider('idp', { audience: ['api-a', 'api-b'], claims: { client: 'azp' } }),
      });
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(created.body, {
        id: 'idp',
        key_source: 'public_key',
        public_key: RSA_PEM.trim().concat('\n'),
        algorithms: ['RS256'],
        issuer: 'https://idp.test',
        audience: ['api-a', 'api-b'],
        clock_tolerance_s: 30,
        require_exp: true,
        claims: { user: 'sub', client: 'azp' },
        created_at: '2026-01-01T00:00:00.000Z',
        updated_at: '2026-01-01T00:00:00.000Z',
      });
      assert.equal(created.headers['cache-control'], 'no-store');

      const listed = await h.call('GET', '/jwt-providers');
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body, { items: [created.body], nextCursor: null });
      assert.deepEqual((await h.call('GET', '/jwt-providers/idp')).body, created.body);

      h.clock.advance(1000);
      const patched = await h.call('PATCH', '/jwt-providers/idp', {
        body: { audience: null, typ: 'at+jwt', max_age_s: 3600, claims: { client: null, scopes: 'scp' } },
      });
      assert.equal(patched.status, 200, patched.text);
      assert.equal(patched.body.audience, undefined);
      assert.equal(patched.body.typ, 'at+jwt');
      assert.equal(patched.body.max_age_s, 3600);
      assert.deepEqual(patched.body.claims, { user: 'sub', scopes: 'scp' });
      assert.equal(patched.body.public_key, created.body.public_key, 'the key is kept');
      assert.equal(patched.body.updated_at, '2026-01-01T00:00:01.000Z');

      // A new key source replaces the old one.
      const moved = await h.call('PATCH', '/jwt-providers/idp', {
        body: { jwks_url: 'https://idp.test/.well-known/jwks.json', jwks: { cooldown_s: 60 } },
      });
      assert.equal(moved.status, 200, moved.text);
      assert.equal(moved.body.key_source, 'jwks_url');
      assert.equal(moved.body.public_key, undefined);
      assert.deepEqual(moved.body.jwks, { cache_ttl_s: 600, cooldown_s: 60, timeout_ms: 2000 });
      const back = await h.call('PATCH', '/jwt-providers/idp', { body: { public_key: RSA_PEM } });
      assert.equal(back.status, 200, back.text);
      assert.equal(back.body.jwks, undefined, 'JWKS settings go with the URL');

      const removed = await h.call('DELETE', '/jwt-providers/idp');
      assert.deepEqual(removed.body, { id: 'idp', removed: true });
      assert.equal((await h.call('GET', '/jwt-providers/idp')).status, 404);
    });

    it('takes a JWK as an object or as JSON text, and a JWKS URL', async () => {
      const object = await h.call('POST', '/jwt-providers', {
        body: { id: 'jwk-object', algorithms: ['ES256'], public_key: EC_JWK },
      });
      assert.equal(object.status, 201, object.text);
      assert.deepEqual(object.body.public_key, EC_JWK);
      const text = await h.call('POST', '/jwt-providers', {
        body: { id: 'jwk-text', algorithms: ['ES256'], public_key: JSON.stringify(EC_JWK) },
      });
      assert.equal(text.status, 201, text.text);
      assert.deepEqual(text.body.public_key, EC_JWK);
      const jwks = await h.call('POST', '/jwt-providers', {
        body: { id: 'jwks', algorithms: ['RS256', 'ES256'], jwks_url: 'https://idp.example/jwks.json' },
      });
      assert.equal(jwks.status, 201, jwks.text);
      assert.equal(jwks.body.key_source, 'jwks_url');
      assert.deepEqual(jwks.body.jwks, { cache_ttl_s: 600, cooldown_s: 30, timeout_ms: 2000 });
      for (const id of ['jwk-object', 'jwk-text', 'jwks']) await h.call('DELETE', `/jwt-providers/${id}`);
    });

    it('seals an HS secret and never gives it back: not in the answer, list, get or audit log', async () => {
      const created = await h.call('POST', '/jwt-providers', {
        body: { id: 'hs', algorithms: ['HS256'], secret: `${SECRET}\n`, issuer: 'https://hs.test' },
      });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.key_source, 'shared_secret');
      const stored = await h.store.jwtProviders.get('hs');
      const sealed = stored?.spec['secret_encrypted'] as string;
      assert.equal(openHsSecret(h.deps.keys, sealed).toString(), SECRET, 'stored sealed, newline dropped');

      const binary = randomBytes(64);
      const fromBase64 = await h.call('POST', '/jwt-providers', {
        body: { id: 'hs-binary', algorithms: ['HS512'], secret_base64: binary.toString('base64') },
      });
      assert.equal(fromBase64.status, 201, fromBase64.text);
      const sealedBinary = (await h.store.jwtProviders.get('hs-binary'))?.spec['secret_encrypted'] as string;
      assert.ok(openHsSecret(h.deps.keys, sealedBinary).equals(binary), 'byte for byte');

      // A change that keeps the secret keeps it sealed as it was.
      const patched = await h.call('PATCH', '/jwt-providers/hs', { body: { issuer: 'https://hs2.test' } });
      assert.equal(patched.status, 200, patched.text);
      assert.equal((await h.store.jwtProviders.get('hs'))?.spec['secret_encrypted'], sealed);

      const answers = [
        created,
        fromBase64,
        patched,
        await h.call('GET', '/jwt-providers'),
        await h.call('GET', '/jwt-providers/hs'),
        await h.call('GET', '/jwt-providers/hs', { token: h.tokens.viewer }),
      ];
      const audit = JSON.stringify(await h.store.auditLog.list({}));
      for (const text of [...answers.map((a) => a.text), audit]) {
        assert.ok(!text.includes(SECRET), 'plaintext secret');
        assert.ok(!text.includes(binary.toString('base64')), 'binary secret');
        assert.ok(!text.includes(sealed), 'sealed secret');
        assert.ok(!text.includes(sealedBinary), 'sealed binary secret');
      }
      for (const answer of answers) assert.ok(!answer.text.includes('secret_encrypted'), answer.text);
      assert.ok(audit.includes('jwtProviders.insert'), 'the changes are audited');
      // The schema of the answers has no field that could carry a secret.
      const document = await h.call('GET', '/openapi.json', { token: null });
      const schema = JSON.stringify(document.body.components.schemas.JwtProvider);
      assert.ok(!/secret/.test(schema.replace(/shared_secret|secret is never shown/g, '')), schema);
      assert.ok(document.body.paths['/admin/api/jwt-providers/{id}'].patch);
      await h.call('DELETE', '/jwt-providers/hs');
      await h.call('DELETE', '/jwt-providers/hs-binary');
    });

    it('viewers may read', async () => {
      await h.call('POST', '/jwt-providers', { body: rsProvider('readable') });
      assert.equal((await h.call('GET', '/jwt-providers', { token: h.tokens.viewer })).status, 200);
      assert.equal((await h.call('GET', '/jwt-providers/readable', { token: h.tokens.viewer })).status, 200);
      await h.call('DELETE', '/jwt-providers/readable');
    });
  });

  describe('400', () => {
    it('refuses a body of the wrong shape and unknown fields (a sealed secret among them)', async () => {
      for (const body of [
        {},
        { id: 'x', public_key: RSA_PEM },
        { ...rsProvider('x'), algorithms: 'RS256' },
        { ...rsProvider('x'), clock_tolerance_s: '30' },
        { ...rsProvider('x'), claims: { roles: 'r' } },
        { ...rsProvider('x'), secret_encrypted: 'c2VhbGVk' },
        { ...rsProvider('x'), colour: 'red' },
        '{"id":',
      ]) {
        const answer = await h.call('POST', '/jwt-providers', { body });
        assert.equal(answer.status, 400, `${JSON.stringify(body)}: ${answer.text}`);
        assert.equal(answer.body.code, 'bad_request');
      }
      await h.call('POST', '/jwt-providers', { body: rsProvider('shape') });
      for (const body of [{ id: 'other' }, { require_exp: null }, { algorithms: [1] }]) {
        const answer = await h.call('PATCH', '/jwt-providers/shape', { body });
        assert.equal(answer.status, 400, JSON.stringify(body));
      }
      await h.call('DELETE', '/jwt-providers/shape');
    });
  });

  describe('401/403', () => {
    it('needs a credential, and the admin role to write', async () => {
      assert.equal((await h.call('GET', '/jwt-providers', { token: null })).status, 401);
      await h.call('POST', '/jwt-providers', { body: rsProvider('guarded') });
      for (const [method, path, body] of [
        ['POST', '/jwt-providers', rsProvider('by-viewer')],
        ['POST', '/jwt-providers', { id: 'hs-viewer', algorithms: ['HS256'], secret: SECRET }],
        ['PATCH', '/jwt-providers/guarded', { issuer: 'https://evil.test' }],
        ['DELETE', '/jwt-providers/guarded', undefined],
      ] as const) {
        const answer = await h.call(method, path, { body, token: h.tokens.viewer });
        assert.equal(answer.status, 403, `${method} ${path}: ${answer.text}`);
        assert.equal(answer.body.code, 'forbidden');
      }
      assert.equal((await h.call('GET', '/jwt-providers/guarded')).body.issuer, 'https://guarded.test');
      assert.equal((await h.call('GET', '/jwt-providers/hs-viewer')).status, 404);
      await h.call('DELETE', '/jwt-providers/guarded');
    });
  });

  describe('404', () => {
    it('answers not_found for a missing provider on every verb', async () => {
      for (const [method, body] of [
        ['GET', undefined],
        ['PATCH', { issuer: 'https://x.test' }],
        ['DELETE', undefined],
      ] as const) {
        const answer = await h.call(method, '/jwt-providers/ghost', { body });
        assert.equal(answer.status, 404, `${method}: ${answer.text}`);
        assert.equal(answer.body.code, 'not_found');
        assert.equal(answer.body.detail, 'jwt provider "ghost" not found');
      }
    });
  });

  describe('409', () => {
    it('refuses a second provider with the same id', async () => {
      await h.call('POST', '/jwt-providers', { body: rsProvider('twice') });
      const again = await h.call('POST', '/jwt-providers', { body: rsProvider('twice') });
      assert.equal(again.status, 409);
      assert.equal(again.body.code, 'conflict');
      await h.call('DELETE', '/jwt-providers/twice');
    });
  });

  describe('422', () => {
    it('refuses "none" and mixed or mismatched algorithm families (alg confusion guard)', async () => {
      for (const [body, message] of [
        [rsProvider('x', { algorithms: ['none'] }), /jwt_provider\.algorithms\.0: "none" is never accepted/],
        [rsProvider('x', { algorithms: ['RS256', 'NONE'] }), /"none" is never accepted/],
        [
          rsProvider('x', { algorithms: ['RS256', 'HS256'] }),
          /jwt_provider\.algorithms: mixes HMAC \(HS\*\)/,
        ],
        [rsProvider('x', { algorithms: ['HS256'] }), /HS\* algorithms need a shared secret/],
        [
          { id: 'x', algorithms: ['RS256'], secret: SECRET },
          /a shared secret \(secret_encrypted\) can only be used with HS256/,
        ],
        [
          { id: 'x', algorithms: ['HS256', 'RS256'], secret: SECRET },
          /mixes HMAC \(HS\*\) and public-key algorithms/,
        ],
        [rsProvider('x', { algorithms: ['RS1'] }), /jwt_provider\.algorithms\.0: unknown algorithm/],
        [rsProvider('x', { algorithms: ['ES256'] }), /jwt_provider\.public_key: ES256 needs an EC key/],
      ] as const) {
        const answer = await h.call('POST', '/jwt-providers', { body });
        assert.equal(answer.status, 422, `${JSON.stringify(body.algorithms)}: ${answer.text}`);
        assert.equal(answer.body.code, 'invalid_input');
        assert.match(answer.body.detail, message);
        assert.ok(!answer.text.includes(SECRET));
      }
      await h.call('POST', '/jwt-providers', { body: rsProvider('family') });
      const mixed = await h.call('PATCH', '/jwt-providers/family', {
        body: { algorithms: ['RS256', 'HS256'] },
      });
      assert.equal(mixed.status, 422);
      assert.match(mixed.body.detail, /mixes HMAC/);
      await h.call('DELETE', '/jwt-providers/family');
    });

    it('refuses bad key sources and weak secrets, naming the field', async () => {
      for (const [body, message] of [
        [{ id: 'x', algorithms: ['RS256'] }, /jwt_provider: needs exactly one key source/],
        [
          rsProvider('x', { jwks_url: 'https://idp.example/jwks.json' }),
          /jwt_provider: has jwks_url and public_key; exactly one key source/,
        ],
        [rsProvider('x', { public_key: RSA_PRIVATE_PEM }), /jwt_provider\.public_key: contains private key/],
        [rsProvider('x', { public_key: '{"kty":' }), /jwt_provider\.public_key: starts like a JWK/],
        [
          rsProvider('x', { public_key: { kty: 'oct', k: 'c2VjcmV0' } }),
          /jwt_provider\.public_key: symmetric "oct" JWKs are refused/,
        ],
        [
          { id: 'x', algorithms: ['RS256'], jwks_url: 'http://idp.example/jwks.json' },
          /jwt_provider\.jwks_url: must use https/,
        ],
        [
          { id: 'x', algorithms: ['HS256'], secret: 'too-short' },
          /jwt_provider\.secret: the secret is 9 bytes/,
        ],
        [
          { id: 'x', algorithms: ['HS512'], secret: 'x'.repeat(40) },
          /jwt_provider\.secret: the secret is 40 bytes; at least 64/,
        ],
        [
          { id: 'x', algorithms: ['HS256'], secret_base64: '!!!' },
          /jwt_provider\.secret_base64: is not base64/,
        ],
        [rsProvider('x', { clock_tolerance_s: 3000 }), /jwt_provider\.clock_tolerance_s/],
        [rsProvider('Bad Id'), /jwt_provider\.id/],
      ] as const) {
        const answer = await h.call('POST', '/jwt-providers', { body });
        assert.equal(answer.status, 422, `${JSON.stringify(body)}: ${answer.text}`);
        assert.match(answer.body.detail, message);
      }
      // A short secret does not hide a bad algorithm list: both are reported.
      const both = await h.call('POST', '/jwt-providers', {
        body: { id: 'x', algorithms: ['none', 'HS256'], secret: 'short' },
      });
      assert.equal(both.status, 422);
      assert.match(both.body.detail, /is never accepted/);
      assert.match(both.body.detail, /the secret is 5 bytes/);
      const badJson = await h.call('POST', '/jwt-providers', {
        body: rsProvider('x', { public_key: '{"kty":' }),
      });
      assert.equal(badJson.body.detail, 'jwt_provider.public_key: starts like a JWK but is not valid JSON');
      assert.deepEqual((await h.call('GET', '/jwt-providers')).body.items, []);
    });

    it('refuses a change that leaves a kept secret too short for the new algorithms', async () => {
      await h.call('POST', '/jwt-providers', {
        body: { id: 'hs-keep', algorithms: ['HS256'], secret: SECRET },
      });
      const answer = await h.call('PATCH', '/jwt-providers/hs-keep', { body: { algorithms: ['HS512'] } });
      assert.equal(answer.status, 422, answer.text);
      assert.match(answer.body.detail, /at least 64 are required/);
      assert.ok(!answer.text.includes(SECRET));
      const switched = await h.call('PATCH', '/jwt-providers/hs-keep', {
        body: { algorithms: ['HS512'], secret: SECRET.repeat(2) },
      });
      assert.equal(switched.status, 200, switched.text);
      await h.call('DELETE', '/jwt-providers/hs-keep');
    });
  });
});
