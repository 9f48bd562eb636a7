/**
 * The admin REST API under /admin/api (PRODUCT.md §11): one fastify plugin, mounted on the
 * admin listener and, in-process, by the CLI. Route schemas (TypeBox) drive validation,
 * serialization and the OpenAPI 3.1 document at /admin/api/openapi.json (docs page at
 * /admin/api/docs).
 */
import fastifyCookie from '@fastify/cookie';
import fastifySwagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import ajvFormats from 'ajv-formats';
import fastJson from 'fast-json-stringify';
import type { FastifyInstance } from 'fastify';
import { VERSION } from '../../core/version.js';
import { authenticate } from './auth.js';
import type { AdminApiDeps } from './context.js';
import { adminErrorHandler, sendProblem } from './errors.js';
import { resources } from './resources/index.js';
import { Problem } from './schemas.js';

export const API_PREFIX = '/admin/api';
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE']);

/**
 * Bodies are validated strictly: a wrong type or an unknown field is a 400, never coerced or
 * silently dropped (fastify's defaults would turn `{"limit": "5"}` into 5 and remove a
 * misspelt field, so a typo would change nothing and report success). Query strings and
 * path parameters are text by nature and are coerced to the declared types.
 */
const strictAjv = ajvFormats.default(
  new Ajv({
    allErrors: false,
    coerceTypes: false,
    removeAdditional: false,
    useDefaults: true,
    strict: false,
  }),
);
const queryAjv = ajvFormats.default(
  new Ajv({ coerceTypes: 'array', removeAdditional: false, useDefaults: true, strict: false }),
);

/**
 * Validators and serializers are compiled on first use, not when the API is built: the CLI
 * builds the whole API for each command and calls one or two routes, and compiling ~70 routes'
 * schemas up front cost it more than a second.
 */
function lazyValidator(ajv: Ajv, schema: object) {
  let compiled: ValidateFunction | undefined;
  const validate = (data: unknown): boolean => {
    compiled ??= ajv.compile(schema);
    const ok = compiled(data) as boolean;
    // fastify reads the errors off the function it was given.
    validate.errors = compiled.errors;
    return ok;
  };
  validate.errors = undefined as ValidateFunction['errors'];
  return validate;
}

/** Register the admin API on `app` (routes under /admin/api). */
export async function registerAdminApi(
  app: FastifyInstance,
  deps: AdminApiDeps,
  options: { docs?: boolean; openapi?: boolean } = {},
): Promise<void> {
  const openapi = options.openapi ?? true;
  await app.register(fastifyCookie);
  app.addSchema(Problem);
  if (openapi)
    await app.register(fastifySwagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Portcullis admin API',
          version: VERSION,
          description:
            'Administer Portcullis: clients, keys, routes, grants, policies, JWT providers, IP controls, ' +
            'telemetry and settings. Errors are RFC 9457 problem+json with a stable `code`. Lists page ' +
            'by cursor: pass `nextCursor` back as `cursor` until it is null.',
        },
        components: {
          securitySchemes: {
            bearer: {
              type: 'http',
              scheme: 'bearer',
              description: 'API token (pclsvc_…) or session token (pclses_…)',
            },
            cookie: { type: 'apiKey', in: 'cookie', name: 'portcullis_session' },
          },
        },
        security: [{ bearer: [] }, { cookie: [] }],
      },
      refResolver: {
        buildLocalReference: (json, _baseUri, _fragment, i) => String(json['$id'] ?? `def-${i}`),
      },
    });

  if (openapi && options.docs) {
    // The docs page's assets are served from the package, so it works without the internet.
    const { default: swaggerUi } = await import('@fastify/swagger-ui');
    await app.register(swaggerUi, { routePrefix: `${API_PREFIX}/docs` });
  }

  await app.register(
    async (api) => {
      api.setErrorHandler(adminErrorHandler);
      api.setValidatorCompiler(({ schema, httpPart }) =>
        lazyValidator(httpPart === 'body' ? strictAjv : queryAjv, schema),
      );
      api.setSerializerCompiler(({ schema }) => {
        let serialize: ((data: unknown) => string) | undefined;
        // Shared schemas ($ref 'Client', 'Problem', …) are read when the route is first answered.
        return (data) => {
          serialize ??= fastJson(schema as object, { schema: api.getSchemas() as never });
          return serialize(data);
        };
      });
      // A write without a body is validated as an empty object, so "required" names what is missing.
      api.addHook('preValidation', async (request) => {
        if (request.body === undefined && !SAFE.has(request.method)) request.body = {};
      });
      api.setNotFoundHandler((request, reply) =>
        sendProblem(
          reply,
          request,
          'no_route',
          `no admin endpoint ${request.method} ${request.url.split('?')[0]}`,
        ),
      );
      api.addHook('onRequest', authenticate(deps));
      api.addHook('onSend', async (_request, reply, payload) => {
        // Admin answers carry configuration and sometimes a one-time secret: never cached.
        if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
        return payload;
      });
      if (openapi)
        api.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () =>
          app.swagger(),
        );
      const typed = api.withTypeProvider<TypeBoxTypeProvider>();
      for (const register of resources) register(typed, deps);
    },
    { prefix: API_PREFIX },
  );
}
