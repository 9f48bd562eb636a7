/**
 * The declarative document (routes and policies; docs/routing.md, docs/limits.md):
 * POST /declarative/apply plans the difference between a document and the store and applies it
 * in one transaction (or only plans it, with `dryRun`); GET /declarative/export writes the
 * current configuration as a document. A document never holds a secret: keys, HMAC secrets
 * and tokens are issued by their own endpoints, and upstream URLs cannot carry credentials.
 */
import { Type } from '@sinclair/typebox';
import {
  applyPlan,
  describePlan,
  documentToYaml,
  exportDocument,
  type Plan,
  parseDocumentText,
  planChanges,
  planIsEmpty,
  readCurrentState,
  type SectionPlan,
} from '../../../declarative/document.js';
import { PolicySpecSchema } from '../../../limits/policy.js';
import type { ResourceRoutes } from '../context.js';
import { problems } from '../schemas.js';
import { RouteSpecOut } from './routes.js';

const Ids = (description: string) => Type.Array(Type.String(), { description });
const Section = Type.Object(
  {
    create: Ids('ids added'),
    update: Ids('ids changed'),
    remove: Ids('ids removed (prune)'),
    kept: Ids('ids in the store but not in the document, kept (no prune, or no such section)'),
    unchanged: Ids('ids the document names as they already are'),
  },
  { $id: 'DeclarativeSection' },
);

const ApplyResult = Type.Object(
  {
    dryRun: Type.Boolean(),
    changed: Type.Boolean({ description: 'false when the store already matches the document' }),
    routes: Type.Ref('DeclarativeSection'),
    policies: Type.Ref('DeclarativeSection'),
    counts: Type.Object({ create: Type.Integer(), update: Type.Integer(), remove: Type.Integer() }),
    changes: Type.Array(Type.String(), {
      description:
        'the plan for people, one line per change as `portcullis apply` prints it: "+ route orders (* /v1/orders/*)", ' +
        '"~ route orders: upstream … → …" (changed fields, before → after), "- policy ten", and notes on what is kept',
    }),
  },
  { $id: 'DeclarativeApplyResult' },
);

const DeclarativeDocument = Type.Object(
  { routes: Type.Array(RouteSpecOut), policies: Type.Array(PolicySpecSchema) },
  { $id: 'DeclarativeDocument', description: 'The configuration as a declarative document (no secrets)' },
);

function sectionView(section: SectionPlan<unknown>) {
  return {
    create: section.create.map((c) => c.id),
    update: section.update.map((c) => c.id),
    remove: section.remove.map((c) => c.id),
    kept: section.kept,
    unchanged: section.unchanged,
  };
}

function counts(plan: Plan): { create: number; update: number; remove: number } {
  const { routes: r, policies: p } = plan;
  return {
    create: r.create.length + p.create.length,
    update: r.update.length + p.update.length,
    remove: r.remove.length + p.remove.length,
  };
}

export const declarativeRoutes: ResourceRoutes = (app, deps) => {
  const tags = ['declarative'];
  app.addSchema(Section);
  app.addSchema(ApplyResult);
  app.addSchema(DeclarativeDocument);

  app.post(
    '/declarative/apply',
    {
      // A whole configuration file: larger than any other admin body may be.
      bodyLimit: 16 * 1024 * 1024,
      schema: {
        tags,
        summary: 'Apply a declarative document (routes, policies) in one transaction, or plan it (dryRun)',
        description:
          'Idempotent: applying the same document twice changes nothing the second time. A document with ' +
          'any problem is refused whole (422, each problem named by its path in the document, e.g. ' +
          '`routes[1].path`), as is one whose result would be inconsistent (an ambiguous route table, a ' +
          'policy attached to a route that would not exist). Without `prune`, what the document does not ' +
          'name is kept; a document without a `policies` section never changes policies.',
        body: Type.Object(
          {
            document: Type.String({
              description:
                'the document as YAML or JSON text (as `portcullis apply -f` reads it); the body limit ' +
                '(16 MiB) bounds its size',
            }),
            dryRun: Type.Optional(Type.Boolean({ description: 'plan only: nothing is written' })),
            prune: Type.Optional(
              Type.Boolean({
                description:
                  'remove routes (and, when the document has a policies section, policies) it does not name',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref('DeclarativeApplyResult'), ...problems(400, 401, 403, 409, 413, 422) },
      },
    },
    async (request) => {
      const { store } = request.scope;
      const dryRun = request.body.dryRun === true;
      const document = parseDocumentText(request.body.document, 'document');
      const current = await readCurrentState(store);
      const plan = planChanges(current, document, request.body.prune === true, {
        upstreamTimeoutMs: deps.settings.upstreamTimeoutMs,
      });
      // One transaction (store.write): the document is applied whole or not at all.
      if (!dryRun) await applyPlan(store, plan);
      return {
        dryRun,
        changed: !planIsEmpty(plan),
        routes: sectionView(plan.routes),
        policies: sectionView(plan.policies),
        counts: counts(plan),
        changes: describePlan(plan),
      };
    },
  );

  app.get(
    '/declarative/export',
    {
      schema: {
        tags,
        summary: 'Export the configuration (routes, policies) as a declarative document; never a secret',
        description:
          'YAML text (application/yaml) by default, the same document as JSON with `format=json`. ' +
          'Applying it with prune is a no-op.',
        querystring: Type.Object({
          format: Type.Optional(
            Type.Union([Type.Literal('yaml'), Type.Literal('json')], { default: 'yaml' }),
          ),
        }),
        response: {
          200: {
            description: 'the document',
            content: {
              'application/yaml': { schema: Type.String({ description: 'the document as YAML' }) },
              'application/json': { schema: Type.Ref('DeclarativeDocument') },
            },
          },
          ...problems(400, 401, 403),
        },
      },
    },
    async (request, reply) => {
      const document = await exportDocument(request.scope.store);
      if (request.query.format === 'json') {
        reply.type('application/json; charset=utf-8');
        return document;
      }
      reply.type('application/yaml; charset=utf-8');
      return documentToYaml(document);
    },
  );
};
