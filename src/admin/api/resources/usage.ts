/** Usage roll-ups of a key or a client by minute, hour or day (what `portcullis usage` shows). */
import { type Static, Type } from '@sinclair/typebox';
import { SpecError } from '../../../core/spec-error.js';
import type { UsageGranularity, UsageIncrement } from '../../../store/types.js';
import type { ResourceRoutes } from '../context.js';
import { since as pastTime } from '../input.js';
import { iso, problems, Timestamp } from '../schemas.js';

const GRANULARITIES = ['minute', 'hour', 'day'] as const;

export const UsageBucket = Type.Object(
  {
    bucket: Timestamp,
    requests: Type.Integer(),
    status: Type.Record(Type.String(), Type.Integer(), { description: 'requests by status class (2xx…)' }),
    denied: Type.Record(Type.String(), Type.Integer(), {
      description: 'refusals and errors by catalog code',
    }),
    routes: Type.Record(Type.String(), Type.Integer(), {
      description: 'requests by route id ("(none)" when no route matched)',
    }),
    bytesIn: Type.Integer(),
    bytesOut: Type.Integer(),
  },
  { $id: 'UsageBucket' },
);
type Bucket = Static<typeof UsageBucket>;

const Usage = Type.Object(
  {
    keyId: Type.Union([Type.String(), Type.Null()]),
    clientId: Type.Union([Type.String(), Type.Null()]),
    by: Type.String(),
    since: Timestamp,
    until: Type.Union([Timestamp, Type.Null()]),
    buckets: Type.Array(Type.Ref('UsageBucket')),
  },
  { $id: 'Usage' },
);

/** Roll-up rows (one per bucket and combination of dimensions) → one entry per bucket, oldest first. */
export function bucketsOf(rows: readonly UsageIncrement[]): Bucket[] {
  const buckets = new Map<number, Bucket>();
  for (const row of rows) {
    let b = buckets.get(row.bucket);
    if (!b) {
      b = {
        bucket: iso(row.bucket),
        requests: 0,
        status: {},
        denied: {},
        routes: {},
        bytesIn: 0,
        bytesOut: 0,
      };
      buckets.set(row.bucket, b);
    }
    b.requests += row.requests;
    b.status[row.statusClass] = (b.status[row.statusClass] ?? 0) + row.requests;
    if (row.code) b.denied[row.code] = (b.denied[row.code] ?? 0) + row.requests;
    const route = row.routeId || '(none)';
    b.routes[route] = (b.routes[route] ?? 0) + row.requests;
    b.bytesIn += row.bytesIn;
    b.bytesOut += row.bytesOut;
  }
  return [...buckets.entries()].sort(([a], [b]) => a - b).map(([, bucket]) => bucket);
}

export const usageRoutes: ResourceRoutes = (app, deps) => {
  app.addSchema(UsageBucket);
  app.addSchema(Usage);

  app.get(
    '/usage',
    {
      schema: {
        tags: ['usage'],
        summary: 'Request counts of a key or a client by minute, hour or day',
        description: 'Name exactly one of `key` or `client`. Buckets are UTC, oldest first.',
        querystring: Type.Object(
          {
            key: Type.Optional(Type.String({ maxLength: 200, description: 'key id' })),
            client: Type.Optional(Type.String({ maxLength: 200, description: 'client id' })),
            since: Type.Optional(
              Type.String({
                maxLength: 100,
                description: 'a duration ago (24h, the default) or an ISO date',
              }),
            ),
            until: Type.Optional(
              Type.String({ maxLength: 100, description: 'a duration ago or an ISO date' }),
            ),
            by: Type.Optional(Type.String({ description: 'minute, hour (the default) or day' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref('Usage'), ...problems(400, 401, 403, 422) },
      },
    },
    async (request) => {
      const query = request.query;
      const now = deps.clock.now();
      const issues: { path: string; message: string }[] = [];
      const attempt = <T>(fn: () => T): T | undefined => {
        try {
          return fn();
        } catch (error) {
          if (!(error instanceof SpecError)) throw error;
          issues.push(...error.issues);
          return undefined;
        }
      };
      if ((query.key === undefined) === (query.client === undefined))
        issues.push({ path: 'key', message: 'name exactly one of key or client' });
      const by = query.by ?? 'hour';
      if (!(GRANULARITIES as readonly string[]).includes(by))
        issues.push({ path: 'by', message: `must be one of ${GRANULARITIES.join(', ')} (got "${by}")` });
      const since = attempt(() => pastTime('since', query.since ?? '24h', now));
      const until =
        query.until === undefined ? undefined : attempt(() => pastTime('until', query.until as string, now));
      if (issues.length > 0 || since === undefined) throw new SpecError(issues);

      const rows = await request.scope.store.usage.rows({
        granularity: by as UsageGranularity,
        since,
        ...(until !== undefined ? { until } : {}),
        ...(query.key !== undefined ? { keyId: query.key } : { clientId: query.client as string }),
      });
      return {
        keyId: query.key ?? null,
        clientId: query.client ?? null,
        by,
        since: iso(since),
        until: until === undefined ? null : iso(until),
        buckets: bucketsOf(rows),
      };
    },
  );
};
