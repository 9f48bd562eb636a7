import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import Fastify from 'fastify';
import { openApiDocument } from '../../src/admin/api/openapi.js';
import { API_PREFIX } from '../../src/admin/api/plugin.js';
import { adminHarness } from '../helpers/admin-api.js';

type Operations = Record<string, Record<string, { responses?: Record<string, unknown> }>>;

describe('admin API OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document (checked by a real validator)', async () => {
    const document = await openApiDocument();
    const validator = new Validator();
    const result = await validator.validate(document as Parameters<Validator['validate']>[0]);
    assert.ok(result.valid, JSON.stringify(result.errors, null, 2)?.slice(0, 4000));
    assert.equal(validator.version, '3.1');
  });

  it('lists every route the API serves, with its error responses', async () => {
    const document = (await openApiDocument()) as { paths: Operations };
    const h = await adminHarness('sqlite');
    try {
      const served: string[] = [];
      const probe = Fastify({ logger: false });
      probe.addHook('onRoute', (route) => {
        const methods = Array.isArray(route.method) ? route.method : [route.method];
        for (const method of methods)
          if (
            method !== 'HEAD' &&
            route.url.startsWith(API_PREFIX) &&
            !route.url.startsWith(`${API_PREFIX}/docs`)
          )
            served.push(`${method} ${route.url}`);
      });
      const { registerAdminApi } = await import('../../src/admin/api/plugin.js');
      await registerAdminApi(probe, h.deps);
      await probe.ready();
      await probe.close();
      const documented = new Set<string>();
      for (const [path, operations] of Object.entries(document.paths))
        for (const method of Object.keys(operations)) documented.add(`${method.toUpperCase()} ${path}`);
      const missing = served
        .filter((r) => r !== `GET ${API_PREFIX}/openapi.json`)
        .map((r) => r.replace(/:([A-Za-z]+)/g, '{$1}'))
        .filter((r) => !documented.has(r));
      assert.deepEqual(missing, []);
      assert.ok(served.length >= 10, `only ${served.length} routes`);
      for (const [path, operations] of Object.entries(document.paths))
        for (const [method, operation] of Object.entries(operations)) {
          const statuses = Object.keys(operation.responses ?? {});
          assert.ok(
            statuses.some((s) => s.startsWith('2')),
            `${method} ${path} has no success response`,
          );
          if (!path.endsWith('/auth/login'))
            assert.ok(statuses.includes('401'), `${method} ${path} does not document 401`);
        }
    } finally {
      await h.close();
    }
  });

  it('is served at /admin/api/openapi.json without a credential', async () => {
    const h = await adminHarness('sqlite');
    try {
      const answer = await h.call('GET', '/openapi.json', { token: null });
      assert.equal(answer.status, 200);
      assert.equal(answer.body.openapi, '3.1.0');
      assert.ok(Object.keys(answer.body.paths).some((p) => p.endsWith('/clients')));
    } finally {
      await h.close();
    }
  });
});
