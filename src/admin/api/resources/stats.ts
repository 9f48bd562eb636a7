/**
 * Dashboard figures (issue #9 console): requests per minute by decision, latency percentiles,
 * denials by reason, top keys and routes, and the counts of active blocks, open anomalies and
 * binding intercepts.
 *
 * The request figures come from the per-minute usage roll-ups (`usage.stats`), never from a scan
 * of the request records: at gateway volumes a day of records is billions of rows, while its
 * minute roll-ups are one row per minute and combination of key, client, route, status class
 * and code. Consequences: the window is whole minutes (the first minute counts whole, not from
 * `since`); the figures follow the roll-ups' retention (minute rows are pruned with the
 * records); and minutes rolled up before migration 0009 have counts but no latency histogram,
 * so their percentiles are null (and the window's come from the minutes that have one).
 * Percentiles come from a latency histogram, because no percentile function is portable between
 * SQLite and PostgreSQL.
 */
import { type Static, Type } from '@sinclair/typebox';
import { SpecError } from '../../../core/spec-error.js';
import type { RequestStatsBucket, Store } from '../../../store/types.js';
import { DURATION_BUCKETS_MS } from '../../../telemetry/latency-buckets.js';
import type { ResourceRoutes } from '../context.js';
import { duration } from '../input.js';
import { iso, problems, Timestamp } from '../schemas.js';

const MINUTE_MS = 60_000;
/** One day of minutes (1440 buckets) is as much as a chart shows and a query should group. */
const MAX_WINDOW_MS = 24 * 3_600_000;
const TOP = 10;

const PERCENTILE_NOTE =
  'estimated from a latency histogram with the bounds of the Prometheus metrics (0.5 ms … 10 s), ' +
  'interpolated linearly inside the bucket like PromQL histogram_quantile: never above the ' +
  'bucket’s upper bound, 10000 when beyond the last bound, null without requests (or when they were ' +
  'recorded before the latency roll-ups existed)';

const Percentile = (what: string) =>
  Type.Union([Type.Number(), Type.Null()], { description: `${what} of total_ms: ${PERCENTILE_NOTE}` });

export const StatsBucket = Type.Object(
  {
    at: Timestamp,
    allowed: Type.Integer(),
    denied: Type.Integer({ description: 'refused by a check (4xx)' }),
    errored: Type.Integer({ description: 'failed (5xx: upstream errors, failsafe, internal)' }),
    p50Ms: Percentile('median'),
    p99Ms: Percentile('99th percentile'),
  },
  { $id: 'StatsBucket' },
);

const ranked = (description: string) => ({
  description: `${description}, most first (at most ${TOP})`,
});

export const Stats = Type.Object(
  {
    since: Timestamp,
    until: Timestamp,
    bucketMs: Type.Integer({ description: 'width of a bucket: one minute' }),
    buckets: Type.Array(Type.Ref('StatsBucket'), {
      description: 'every minute of the window, oldest first; minutes without requests are zeros',
    }),
    totals: Type.Object({
      requests: Type.Integer(),
      allowed: Type.Integer(),
      denied: Type.Integer(),
      errored: Type.Integer(),
      p50Ms: Percentile('median'),
      p99Ms: Percentile('99th percentile'),
    }),
    deniedByReason: Type.Array(
      Type.Object({ code: Type.String(), count: Type.Integer() }),
      ranked('refusals (decision denied) by catalog code'),
    ),
    topKeys: Type.Array(
      Type.Object({ keyId: Type.String(), count: Type.Integer() }),
      ranked('requests by key'),
    ),
    topRoutes: Type.Array(
      Type.Object({ routeId: Type.String(), count: Type.Integer() }),
      ranked('requests by route'),
    ),
    activeBlocks: Type.Integer({ description: 'blocklist entries in force now (whatever the filters)' }),
    openAnomalies: Type.Integer({ description: 'anomalies not resolved yet (whatever the filters)' }),
    intercepts: Type.Integer({
      description: 'binding intercepts in the window (of the key or route filtered on)',
    }),
  },
  { $id: 'Stats' },
);
type Bucket = Static<typeof StatsBucket>;

/**
 * The `q` quantile of a histogram given as counts per bucket (`counts[i]` in
 * (bounds[i−1], bounds[i]], from 0 for the first; the last entry above the last bound), as
 * PromQL's histogram_quantile estimates it: linear inside the bucket the rank falls in; the
 * last finite bound when it falls above it; null for an empty histogram.
 */
export function histogramQuantile(
  q: number,
  bounds: readonly number[],
  counts: readonly number[],
): number | null {
  const total = counts.reduce((sum, c) => sum + c, 0);
  if (total <= 0) return null;
  // Rounded: floating-point noise in q × total must never carry the rank past a count it equals.
  const rank = Math.round(q * total * 1e9) / 1e9;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    const inside = counts[i] ?? 0;
    if (inside > 0 && below + inside >= rank) {
      const lower = i === 0 ? 0 : (bounds[i - 1] as number);
      const upper = bounds[i] as number;
      return Math.round((lower + ((upper - lower) * (rank - below)) / inside) * 1000) / 1000;
    }
    below += inside;
  }
  return bounds.at(-1) ?? null;
}

function bucketView(at: number, b: RequestStatsBucket | undefined): Bucket {
  return {
    at: iso(at),
    allowed: b?.allowed ?? 0,
    denied: b?.denied ?? 0,
    errored: b?.errored ?? 0,
    p50Ms: b ? histogramQuantile(0.5, DURATION_BUCKETS_MS, b.latency) : null,
    p99Ms: b ? histogramQuantile(0.99, DURATION_BUCKETS_MS, b.latency) : null,
  };
}

function windowOf(value: string | undefined): number {
  const ms = duration('since', value ?? '1h');
  if (ms < MINUTE_MS || ms > MAX_WINDOW_MS)
    throw new SpecError([{ path: 'since', message: `must be from 1m to 24h (got "${value}")` }]);
  return ms;
}

/**
 * Answers are shared for a few seconds per (window, route, key): the aggregation reads every
 * minute roll-up of the window, and on the embedded SQLite it runs on the gateway's own thread,
 * so several open dashboards refreshing must not each pay for it. Concurrent calls share one
 * query.
 */
const CACHE_MS = 5_000;
const CACHE_ENTRIES = 32;

type LogStats = Awaited<ReturnType<Store['usage']['stats']>>;

export const statsRoutes: ResourceRoutes = (app, deps) => {
  app.addSchema(StatsBucket);
  app.addSchema(Stats);
  const cache = new Map<string, { at: number; result: Promise<LogStats> }>();
  const cachedStats = (cacheKey: string, now: number, run: () => Promise<LogStats>): Promise<LogStats> => {
    const hit = cache.get(cacheKey);
    if (hit && now - hit.at < CACHE_MS && now >= hit.at) return hit.result;
    const entry = { at: now, result: run() };
    cache.delete(cacheKey);
    if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
    cache.set(cacheKey, entry);
    // A failed query is not remembered.
    entry.result.catch(() => {
      if (cache.get(cacheKey) === entry) cache.delete(cacheKey);
    });
    return entry.result;
  };

  app.get(
    '/stats',
    {
      schema: {
        tags: ['stats'],
        summary: 'Dashboard figures: requests per minute by decision, latency, top lists, open problems',
        description:
          'Computed from the per-minute usage roll-ups the recorder writes with each batch of request records ' +
          '(so within their retention, and only what `request_log` records). ' +
          'Percentiles are histogram estimates (see `StatsBucket`); minutes recorded before the latency ' +
          'roll-ups existed (database migration 0009) have counts but null percentiles.',
        querystring: Type.Object(
          {
            since: Type.Optional(
              Type.String({
                maxLength: 20,
                description: 'the window: a duration ago, from 1m to 24h (default 1h)',
              }),
            ),
            route: Type.Optional(Type.String({ maxLength: 200, description: 'only this route id' })),
            key: Type.Optional(Type.String({ maxLength: 200, description: 'only this key id' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref('Stats'), ...problems(400, 401, 403, 422) },
      },
    },
    async (request) => {
      const { route, key } = request.query;
      const now = deps.clock.now();
      const since = now - windowOf(request.query.since);
      const first = since - (since % MINUTE_MS);
      const last = now - (now % MINUTE_MS);
      // To the end of the current minute: a record from an instance whose clock runs a little
      // ahead still lands in the last bucket instead of being lost.
      const until = last + MINUTE_MS;
      const scope = {
        ...(key !== undefined ? { keyId: key } : {}),
        ...(route !== undefined ? { routeId: route } : {}),
      };
      const { store } = request.scope;
      const [stats, activeBlocks, openAnomalies, intercepts] = await Promise.all([
        cachedStats(JSON.stringify([request.query.since ?? '1h', route ?? null, key ?? null]), now, () =>
          store.usage.stats({ since: first, until, ...scope }, { top: TOP }),
        ),
        store.blocks.countActive(now),
        store.anomalies.count({ status: 'open' }),
        store.intercepts.count({ since, until, ...scope }),
      ]);

      const byMinute = new Map(stats.buckets.map((b) => [b.at, b]));
      const buckets: Bucket[] = [];
      for (let at = first; at <= last; at += MINUTE_MS) buckets.push(bucketView(at, byMinute.get(at)));

      // Histograms add up, so the window's percentiles come from the sum of the minutes'.
      const latency = Array.from({ length: DURATION_BUCKETS_MS.length + 1 }, () => 0);
      let allowed = 0;
      let denied = 0;
      let errored = 0;
      for (const b of stats.buckets) {
        allowed += b.allowed;
        denied += b.denied;
        errored += b.errored;
        b.latency.forEach((count, i) => {
          latency[i] = (latency[i] ?? 0) + count;
        });
      }
      const requests = allowed + denied + errored;
      return {
        since: iso(since),
        until: iso(now),
        bucketMs: MINUTE_MS,
        buckets,
        totals: {
          requests,
          allowed,
          denied,
          errored,
          p50Ms: histogramQuantile(0.5, DURATION_BUCKETS_MS, latency),
          p99Ms: histogramQuantile(0.99, DURATION_BUCKETS_MS, latency),
        },
        deniedByReason: stats.deniedByCode,
        topKeys: stats.topKeys,
        topRoutes: stats.topRoutes,
        activeBlocks,
        openAnomalies,
        intercepts,
      };
    },
  );
};
