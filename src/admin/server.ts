/**
 * The admin listener (loopback by default): health, readiness, /metrics and the admin REST
 * API (/admin/api, src/admin/api) and the web console (/admin/ui, packages/console). Fastify is used here (not on the proxy
 * hot path) for its schema validation, OpenAPI generation and plugin model.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { PROBLEM_CONTENT_TYPE, problemFor } from '../errors/catalog.js';
import { compileCidrSet } from '../net/cidr.js';
import { normalizeIp } from '../net/ip.js';
import type { AdminApiDeps } from './api/context.js';
import { registerAdminApi } from './api/plugin.js';
import { registerConsole } from './console.js';

export interface ReadinessCheck {
  name: string;
  ok: boolean;
  latencyMs?: number;
  detail?: string;
  /**
   * A dependency every instance shares (PostgreSQL, Redis): its failure makes this instance
   * `degraded`, not unready, unless `?strict` is asked (see /readyz).
   */
  shared?: boolean;
}

export interface AdminServerOptions {
  logger: Logger;
  /** Each dependency's health; readiness fails if any check fails or the gateway drains. */
  readiness: () => Promise<ReadinessCheck[]>;
  isDraining: () => boolean;
  version: string;
  /**
   * The configuration version this instance serves and the latest in the store (null when the
   * store does not answer), shown by /readyz: equal once a change has reached this instance.
   */
  configVersions?: () => Promise<{ serving: number; latest: number | null }>;
  /** Prometheus text exposition for GET /metrics. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** The admin REST API (/admin/api) and its docs page. */
  api?: AdminApiDeps;
  /**
   * Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (the `trusted_proxies`
   * setting): the login throttle then sees the caller's address, not the proxy's, and the
   * session cookie is marked Secure when the proxy says the request came over TLS.
   */
  trustedProxies?: readonly string[];
  /** The web console: `false` to leave it out; `dir` overrides where its built files are. */
  console?: { dir?: string | undefined } | false;
}

export function createAdminServer(options: AdminServerOptions): FastifyInstance {
  const trusted = compileCidrSet(options.trustedProxies ?? []);
  const app = Fastify({
    ...(trusted ? { trustProxy: (address: string) => trusted.has(normalizeIp(address) ?? address) } : {}),
    loggerInstance: options.logger.child({ listener: 'admin' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // Admin requests are small; a large body here is an error or an attack.
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
  });

  // Liveness: the process is up and its event loop answers. Deliberately checks nothing
  // else, so an orchestrator does not restart a gateway because Redis blinked.
  app.get('/healthz', async () => ({ status: 'ok', version: options.version }));

  // Readiness: can this instance serve? A shared dependency that does not answer (Redis,
  // PostgreSQL) fails every instance at once, and the gateway keeps serving through it
  // (degraded limits, cached configuration, the failsafe), so taking all instances out of a
  // load balancer would turn a degraded service into none: such a failure answers 200 with
  // status `degraded` and the failing checks named. A failure of this instance's own (its
  // SQLite file, rate limiting in `closed` mode) answers 503, as does draining. `?strict`
  // answers 503 whenever any check fails, for monitors and start-up gates.
  app.get('/readyz', async (request, reply) => {
    const [checks, config] = await Promise.all([options.readiness(), options.configVersions?.()]);
    const draining = options.isDraining();
    const healthy = checks.every((c) => c.ok);
    const strict = (request.query as Record<string, unknown> | undefined)?.['strict'] !== undefined;
    const serving = checks.every((c) => c.ok || (c.shared === true && !strict));
    const ready = !draining && serving;
    reply.code(ready ? 200 : 503).header('cache-control', 'no-store');
    return {
      status: draining ? 'draining' : healthy ? 'ready' : serving ? 'degraded' : 'not_ready',
      checks,
      ...(config ? { config } : {}),
    };
  });

  const metrics = options.metrics;
  if (metrics) {
    app.get('/metrics', async (_request, reply) => {
      const { contentType, body } = await metrics();
      reply.header('content-type', contentType).header('cache-control', 'no-store');
      return body;
    });
  }

  const api = options.api;
  if (api) {
    app.register(async (instance) => registerAdminApi(instance, api, { docs: true }));
    // The console is a client of the API: served only where the API is.
    if (options.console !== false) registerConsole(app, options.console?.dir);
  }

  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .type(PROBLEM_CONTENT_TYPE)
      .send(
        problemFor(
          'no_route',
          `no admin endpoint ${request.method} ${request.url.split('?')[0]}`,
          request.id,
        ),
      );
  });

  app.setErrorHandler((error: { statusCode?: number; message: string }, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 500) request.log.error({ err: error }, 'admin error');
    const code = status === 413 ? 'payload_too_large' : status >= 500 ? 'internal_error' : 'bad_request';
    reply
      .code(Math.min(status, 500))
      .type(PROBLEM_CONTENT_TYPE)
      .send(problemFor(code, status >= 500 ? undefined : error.message, request.id));
  });

  return app;
}
