/**
 * Live gateway instances, from their heartbeats in the shared state (core/instances.ts): what
 * `portcullis instances` shows. With state in memory an instance sees only itself.
 */
import { Type } from '@sinclair/typebox';
import type { InstanceView } from '../../../core/instances.js';
import { isStateError } from '../../../state/errors.js';
import type { ResourceRoutes } from '../context.js';
import { AdminProblem } from '../errors.js';
import { iso, NullableTimestamp, problems, Timestamp } from '../schemas.js';

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);

export const Instance = Type.Object(
  {
    id: Type.String({ description: 'random per process start' }),
    self: Type.Boolean({ description: 'the instance that answered this request' }),
    version: Nullable(Type.String()),
    host: Nullable(Type.String({ description: 'host name of its machine' })),
    pid: Type.Union([Type.Integer(), Type.Null()]),
    worker: Type.Union([Type.Integer(), Type.Null()], {
      description: 'its slot under `portcullis start --workers N`, null for a single process',
    }),
    proxy: Nullable(Type.String({ description: 'proxy listener, host:port' })),
    admin: Nullable(Type.String({ description: 'admin listener, host:port' })),
    startedAt: NullableTimestamp,
    state: Nullable(Type.String({ description: 'hot state backend: memory or redis' })),
    degraded: Nullable(
      Type.String({
        description: 'degraded rate-limit mode in force (local, open, closed); null when limits are healthy',
      }),
    ),
    lastBeatAt: Timestamp,
  },
  { $id: 'Instance' },
);

const InstanceList = Type.Object(
  {
    items: Type.Array(Type.Ref('Instance')),
    state: Type.String({
      description: 'the answering instance’s state backend; with memory it sees only itself',
    }),
  },
  { $id: 'InstanceList' },
);

/** The answer for one instance; `selfId` marks the one answering ("" when none is: the CLI). */
export function instanceView(instance: InstanceView, selfId: string) {
  return {
    id: instance.id,
    self: instance.id === selfId,
    version: instance.version,
    host: instance.host,
    pid: instance.pid,
    worker: instance.worker,
    proxy: instance.proxy,
    admin: instance.admin,
    startedAt: instance.startedAt === null ? null : iso(instance.startedAt),
    state: instance.state,
    degraded: instance.degraded,
    lastBeatAt: iso(instance.lastBeatAt),
  };
}

export const instanceRoutes: ResourceRoutes = (app, deps) => {
  app.addSchema(Instance);
  app.addSchema(InstanceList);

  app.get(
    '/instances',
    {
      schema: {
        tags: ['instances'],
        summary: 'Live gateway instances sharing this state, with their version, addresses and degraded mode',
        description:
          'Each instance beats every 2 s; one that stops cleanly leaves at once, one that dies is dropped ' +
          'after three missed beats. With state in memory the list holds only the answering instance. ' +
          '409 in the CLI’s local mode (no running instance), 503 when the shared state does not answer.',
        response: { 200: Type.Ref('InstanceList'), ...problems(401, 403, 409, 503) },
      },
    },
    async () => {
      const registry = deps.instances;
      if (!registry)
        throw new AdminProblem(
          'conflict',
          'the instance list lives in the shared state of running gateways: call one with --url',
        );
      let instances: InstanceView[];
      try {
        instances = await registry.list();
      } catch (error) {
        // A state fault is an outage of the shared state, not a wrong request.
        if (isStateError(error))
          throw new AdminProblem('store_unavailable', 'the shared state did not answer; try again');
        throw error;
      }
      return {
        items: instances.map((instance) => instanceView(instance, registry.id)),
        state: deps.state?.kind ?? 'memory',
      };
    },
  );
};
