/**
 * The OpenAPI document without a running gateway: the API is registered over a store that
 * is never opened, and its routes' schemas are read. Used by the SDK type generator and the
 * OpenAPI validity test; the listener serves the same document at /admin/api/openapi.json.
 */
import Fastify from 'fastify';
import pino from 'pino';
import { loadConfig } from '../../config/load.js';
import { systemClock } from '../../core/clock.js';
import { deriveSecretKeys } from '../../core/crypto.js';
import type { Store } from '../../store/types.js';
import { registerAdminApi } from './plugin.js';

export async function openApiDocument(): Promise<Record<string, unknown>> {
  const app = Fastify({ logger: false });
  const unopened = new Proxy({} as Store, {
    get() {
      throw new Error('the OpenAPI document is built without a store');
    },
  });
  await registerAdminApi(app, {
    store: unopened,
    keys: deriveSecretKeys(Buffer.alloc(32)),
    clock: systemClock,
    settings: loadConfig({ env: {}, cwd: '/' }).settings,
    logger: pino({ level: 'silent' }),
  });
  await app.ready();
  const document = app.swagger() as unknown as Record<string, unknown>;
  await app.close();
  return document;
}
