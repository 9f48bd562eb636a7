/**
 * The Prometheus metrics module on synthetic outcomes: the text exposition is parsed and
 * checked for exact counter values and label sets, histogram consistency, scrape-time
 * gauges (health, degraded mode, queue depth), bounded labels, independent instances, and a
 * bounded hot-path cache under many requests.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ErrorCode, errorCatalog } from '../../src/errors/catalog.js';
import type { Outcome } from '../../src/gateway/proxy-server.js';
import { deny } from '../../src/pipeline/decision.js';
import type { Allow, Decision, Deny, RequestFacts } from '../../src/pipeline/types.js';
import {
  AUTH_CODES,
  createMetrics,
  DURATION_BUCKETS,
  IP_CODES,
  type Metrics,
  RATE_LIMIT_CODES,
  ROUTE_CACHE_LIMIT,
} from '../../src/telemetry/metrics.js';

// ---------------------------------------------------------------------------------------------
// A small parser for the Prometheus text format (0.0.4).

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  samples: Sample[];
  types: Map<string, string>;
  help: Map<string, string>;
}

function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  // prom-client writes NaN as `Nan`; Prometheus parses it case-insensitively.
  if (text.toLowerCase() === 'nan') return Number.NaN;
  const n = Number(text);
  assert.ok(!Number.isNaN(n), `bad sample value ${JSON.stringify(text)}`);
  return n;
}

/** Parses `{a="x",b="y\"z"}` starting at `line[start] === '{'`; returns labels and the index after `}`. */
function parseLabels(line: string, start: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  while (line[i] !== '}') {
    const eq = line.indexOf('=', i);
    assert.ok(eq > i, `label without '=' in ${line}`);
    const name = line.slice(i, eq);
    assert.match(name, /^[a-zA-Z_][a-zA-Z0-9_]*$/, `bad label name in ${line}`);
    assert.equal(line[eq + 1], '"', `unquoted label value in ${line}`);
    let value = '';
    let j = eq + 2;
    for (;;) {
      const c = line[j];
      assert.ok(c !== undefined, `unterminated label value in ${line}`);
      if (c === '\\') {
        const next = line[j + 1];
        value += next === 'n' ? '\n' : next;
        j += 2;
      } else if (c === '"') {
        j++;
        break;
      } else {
        value += c;
        j++;
      }
    }
    assert.ok(!(name in labels), `duplicate label ${name} in ${line}`);
    labels[name] = value;
    if (line[j] === ',') j++;
    i = j;
  }
  return { labels, end: i + 1 };
}

function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) {
      const rest = line.slice(7);
      const space = rest.indexOf(' ');
      help.set(rest.slice(0, space), rest.slice(space + 1));
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      assert.ok(name && type, `bad TYPE line ${line}`);
      assert.ok(!types.has(name), `TYPE twice for ${name}`);
      types.set(name, type);
      continue;
    }
    if (line.startsWith('#')) continue;
    const nameEnd = line.search(/[{ ]/);
    assert.ok(nameEnd > 0, `bad sample line ${line}`);
    const name = line.slice(0, nameEnd);
    assert.match(name, /^[a-zA-Z_:][a-zA-Z0-9_:]*$/, `bad metric name in ${line}`);
    let labels: Record<string, string> = {};
    let rest = nameEnd;
    if (line[nameEnd] === '{') {
      const parsed = parseLabels(line, nameEnd);
      labels = parsed.labels;
      rest = parsed.end;
    }
    assert.equal(line[rest], ' ', `no space before the value in ${line}`);
    const fields = line
      .slice(rest + 1)
      .trim()
      .split(/\s+/);
    samples.push({ name, labels, value: parseValue(fields[0]!) });
  }
  return { samples, types, help };
}

async function scrape(metrics: Metrics): Promise<Exposition> {
  const { contentType, body } = await metrics.scrape();
  assert.equal(contentType, 'text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(body);
}

function samplesOf(exposition: Exposition, name: string): Sample[] {
  return exposition.samples.filter((s) => s.name === name);
}

function labelKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** `name` samples as a map from their sorted label set to value. */
function series(exposition: Exposition, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samplesOf(exposition, name)) {
    const key = labelKey(s.labels);
    assert.ok(!out.has(key), `duplicate series ${name}${key}`);
    out.set(key, s.value);
  }
  return out;
}

function sampleValue(
  exposition: Exposition,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return series(exposition, name).get(labelKey(labels));
}

// ---------------------------------------------------------------------------------------------
// Synthetic outcomes.

function facts(extra: Partial<RequestFacts> = {}): RequestFacts {
  return {
    requestId: 'req-1',
    door: 'gateway',
    method: 'GET',
    hostname: 'api.example.com',
    port: undefined,
    host: 'api.example.com',
    path: '/v1/users/42/secret',
    query: '?api_key=pcl_live_secret',
    rawHeaders: ['Host', 'api.example.com'],
    rawTarget: '/v1/users/42/secret?api_key=pcl_live_secret',
    hasBody: false,
    connection: undefined,
    clientIp: '192.0.2.7',
    peerIp: '192.0.2.7',
    protocol: 'http',
    startedAt: 0,
    ...extra,
  } as RequestFacts;
}

function allow(routeId: string): Allow {
  return {
    kind: 'allow',
    match: { route: { id: routeId }, params: undefined },
    principal: { kind: 'anonymous', scopes: [] },
    credential: undefined,
    remaining: null,
    body: undefined,
    responseHeaders: undefined,
    onFinish: undefined,
    rateLimit: undefined,
  } as unknown as Allow;
}

function denied(code: Deny['code'], routeId?: string): Deny {
  const d = deny(code);
  if (routeId !== undefined) d.routeId = routeId;
  return d;
}

interface OutcomeExtra {
  upstreamMs?: number;
  totalMs?: number;
  upstreamError?: ErrorCode;
  factsExtra?: Partial<RequestFacts>;
}

function outcome(decision: Decision | undefined, status: number, extra: OutcomeExtra = {}): Outcome {
  return {
    facts: facts(extra.factsExtra),
    decision,
    status,
    upstreamMs: extra.upstreamMs,
    totalMs: extra.totalMs ?? 1,
    bytesOut: 0,
    upstreamError: extra.upstreamError,
  };
}

const quiet = { version: '1.2.3', defaultMetrics: false } as const;

function requestLabels(
  route: string,
  method: string,
  statusClass: string,
  decision: string,
  door = 'gateway',
): Record<string, string> {
  return { route, method, status_class: statusClass, decision, door };
}

// ---------------------------------------------------------------------------------------------

describe('metrics: request counters from outcomes', () => {
  it('counts each outcome under exact label sets, parsed from the text exposition', async () => {
    const metrics = createMetrics(quiet);
    metrics.observe(outcome(allow('users'), 200, { upstreamMs: 12, totalMs: 15 }));
    metrics.observe(outcome(allow('users'), 200, { upstreamMs: 3, totalMs: 4 }));
    metrics.observe(outcome(denied('invalid_credentials', 'users'), 401, { totalMs: 0.4 }));
    metrics.observe(outcome(denied('ip_binding_violation', 'users'), 403, { totalMs: 0.3 }));
    metrics.observe(
      outcome(denied('rate_limited', 'orders'), 429, { totalMs: 0.2, factsExtra: { method: 'POST' } }),
    );
    metrics.observe(outcome(allow('orders'), 502, { totalMs: 30 }));
    metrics.observe(outcome(denied('no_route'), 404, { totalMs: 0.1 }));
    metrics.observe(
      outcome(allow('users'), 200, { upstreamMs: 1, totalMs: 2, factsExtra: { method: 'BREW' } }),
    );
    const exp = await scrape(metrics);

    assert.equal(exp.types.get('portcullis_requests_total'), 'counter');
    const expected = new Map<string, number>([
      [labelKey(requestLabels('users', 'GET', '2xx', 'allowed')), 2],
      [labelKey(requestLabels('users', 'GET', '4xx', 'denied')), 2],
      [labelKey(requestLabels('orders', 'POST', '4xx', 'denied')), 1],
      [labelKey(requestLabels('orders', 'GET', '5xx', 'error')), 1],
      [labelKey(requestLabels('none', 'GET', '4xx', 'denied')), 1],
      [labelKey(requestLabels('users', 'OTHER', '2xx', 'allowed')), 1],
    ]);
    assert.deepEqual(series(exp, 'portcullis_requests_total'), expected);

    // Refusal counters by catalog code: every known code exists, only the observed ones move.
    const auth = series(exp, 'portcullis_auth_failures_total');
    assert.equal(auth.size, AUTH_CODES.length);
    for (const code of AUTH_CODES) {
      assert.equal(auth.get(labelKey({ reason: code })), code === 'invalid_credentials' ? 1 : 0, code);
    }
    const ip = series(exp, 'portcullis_ip_denials_total');
    assert.equal(ip.size, IP_CODES.length);
    for (const code of IP_CODES) {
      assert.equal(ip.get(labelKey({ code })), code === 'ip_binding_violation' ? 1 : 0, code);
    }
    const limits = series(exp, 'portcullis_rate_limit_denials_total');
    assert.deepEqual(
      limits,
      new Map(RATE_LIMIT_CODES.map((code) => [labelKey({ code }), code === 'rate_limited' ? 1 : 0])),
    );

    // The 502 without an upstream answer is an upstream failure.
    assert.deepEqual(
      series(exp, 'portcullis_upstream_errors_total'),
      new Map([[labelKey({ route: 'orders', code: 'upstream_unavailable' }), 1]]),
    );
  });

  it('derives upstream timeouts, keeps upstream-sent 5xx as allowed, and takes an explicit upstreamError', async () => {
    const metrics = createMetrics(quiet);
    metrics.observe(outcome(allow('a'), 504, { totalMs: 5000 }));
    // The upstream itself answered 502: its answer, not a gateway failure.
    metrics.observe(outcome(allow('a'), 502, { upstreamMs: 4, totalMs: 5 }));
    // Failure after the upstream's headers: only the explicit field can tell.
    metrics.observe(
      outcome(allow('a'), 499, { upstreamMs: 4, totalMs: 9, upstreamError: 'upstream_unavailable' }),
    );
    const exp = await scrape(metrics);
    assert.deepEqual(
      series(exp, 'portcullis_requests_total'),
      new Map([
        [labelKey(requestLabels('a', 'GET', '5xx', 'error')), 1],
        [labelKey(requestLabels('a', 'GET', '5xx', 'allowed')), 1],
        [labelKey(requestLabels('a', 'GET', '4xx', 'error')), 1],
      ]),
    );
    assert.deepEqual(
      series(exp, 'portcullis_upstream_errors_total'),
      new Map([
        [labelKey({ route: 'a', code: 'upstream_timeout' }), 1],
        [labelKey({ route: 'a', code: 'upstream_unavailable' }), 1],
      ]),
    );
  });

  it('labels gateway 5xx refusals and faults as errors, and doors as given', async () => {
    const metrics = createMetrics(quiet);
    metrics.observe(outcome(denied('failsafe_closed', 'r'), 503));
    metrics.observe(outcome(denied('store_unavailable', 'r'), 503, { factsExtra: { door: 'verify' } }));
    metrics.observe(outcome(undefined, 500, { factsExtra: { door: 'forward_auth', method: 'HEAD' } }));
    // A malformed request: no facts, so no method or door.
    metrics.observe({
      facts: undefined,
      decision: deny('bad_request_path'),
      status: 400,
      upstreamMs: undefined,
      totalMs: 0,
      bytesOut: 0,
      upstreamError: undefined,
    });
    const exp = await scrape(metrics);
    assert.deepEqual(
      series(exp, 'portcullis_requests_total'),
      new Map([
        [labelKey(requestLabels('r', 'GET', '5xx', 'error', 'gateway')), 1],
        [labelKey(requestLabels('r', 'GET', '5xx', 'error', 'verify')), 1],
        [labelKey(requestLabels('none', 'HEAD', '5xx', 'error', 'forward_auth')), 1],
        [labelKey(requestLabels('none', 'OTHER', '4xx', 'denied', 'unknown')), 1],
      ]),
    );
    assert.equal(sampleValue(exp, 'portcullis_rate_limit_denials_total', { code: 'failsafe_closed' }), 1);
  });

  it('accumulates across scrapes (what was counted since the last scrape is added once)', async () => {
    const metrics = createMetrics(quiet);
    const labels = requestLabels('users', 'GET', '2xx', 'allowed');
    metrics.observe(outcome(allow('users'), 200, { upstreamMs: 1 }));
    assert.equal(sampleValue(await scrape(metrics), 'portcullis_requests_total', labels), 1);
    assert.equal(sampleValue(await scrape(metrics), 'portcullis_requests_total', labels), 1);
    metrics.observe(outcome(allow('users'), 200, { upstreamMs: 1 }));
    metrics.observe(outcome(allow('users'), 200, { upstreamMs: 1 }));
    const exp = await scrape(metrics);
    assert.equal(sampleValue(exp, 'portcullis_requests_total', labels), 3);
    assert.equal(
      sampleValue(exp, 'portcullis_request_duration_seconds_count', { route: 'users', door: 'gateway' }),
      3,
    );
  });
});

describe('metrics: histograms', () => {
  it('keeps buckets cumulative, +Inf equal to _count, and _sum equal to the observed seconds', async () => {
    const metrics = createMetrics(quiet);
    const totals = [0.2, 0.5, 0.7, 3, 40, 900, 20_000]; // ms; the last is above every bucket
    const upstreams = [0.1, 2, 35, 800];
    for (const ms of totals) metrics.observe(outcome(allow('users'), 200, { totalMs: ms }));
    for (const ms of upstreams)
      metrics.observe(outcome(allow('users'), 200, { upstreamMs: ms, totalMs: ms + 1 }));
    const exp = await scrape(metrics);
    assert.equal(exp.types.get('portcullis_request_duration_seconds'), 'histogram');
    assert.equal(exp.types.get('portcullis_upstream_duration_seconds'), 'histogram');

    const check = (name: string, labels: Record<string, string>, observedMs: number[]) => {
      const buckets = samplesOf(exp, `${name}_bucket`).filter(
        (s) => labelKey({ ...s.labels, le: '' }) === labelKey({ ...labels, le: '' }),
      );
      assert.deepEqual(
        buckets.map((b) => b.labels.le),
        [...DURATION_BUCKETS.map(String), '+Inf'],
      );
      let previous = 0;
      for (const [i, b] of buckets.entries()) {
        assert.ok(b.value >= previous, `${name} buckets must not decrease`);
        previous = b.value;
        const bound = i < DURATION_BUCKETS.length ? DURATION_BUCKETS[i]! : Number.POSITIVE_INFINITY;
        assert.equal(
          b.value,
          observedMs.filter((ms) => ms / 1000 <= bound).length,
          `${name} le=${b.labels.le}`,
        );
      }
      const count = sampleValue(exp, `${name}_count`, labels);
      const sum = sampleValue(exp, `${name}_sum`, labels);
      assert.equal(count, observedMs.length);
      assert.equal(buckets.at(-1)!.value, count);
      const expectedSum = observedMs.reduce((a, ms) => a + ms / 1000, 0);
      assert.ok(Math.abs(sum! - expectedSum) < 1e-9, `${name} sum ${sum} vs ${expectedSum}`);
    };
    check('portcullis_request_duration_seconds', { route: 'users', door: 'gateway' }, [
      ...totals,
      ...upstreams.map((ms) => ms + 1),
    ]);
    check('portcullis_upstream_duration_seconds', { route: 'users' }, upstreams);

    // prom-client's JSON view of the same registry agrees with the text.
    const json = await metrics.registry.getMetricsAsJSON();
    const upstream = json.find((m) => m.name === 'portcullis_upstream_duration_seconds');
    assert.ok(upstream);
    const jsonCount = upstream.values.find(
      (v) => (v as { metricName?: string }).metricName === 'portcullis_upstream_duration_seconds_count',
    );
    assert.equal(jsonCount?.value, upstreams.length);
    const requests = json.find((m) => m.name === 'portcullis_requests_total');
    assert.equal(
      requests?.values.reduce((a, v) => a + v.value, 0),
      totals.length + upstreams.length,
    );
  });

  it('ignores durations that are not finite and non-negative, and never throws on odd input', async () => {
    const metrics = createMetrics(quiet);
    metrics.observe(outcome(allow('x'), 200, { totalMs: Number.NaN, upstreamMs: Number.POSITIVE_INFINITY }));
    metrics.observe(outcome(allow('x'), 200, { totalMs: -1, upstreamMs: -5 }));
    metrics.observe(outcome(allow('x'), 0, { factsExtra: { door: 'nonsense' as RequestFacts['door'] } }));
    metrics.observe(outcome(allow('x'), 999));
    const exp = await scrape(metrics);
    assert.equal(
      sampleValue(exp, 'portcullis_request_duration_seconds_count', { route: 'x', door: 'gateway' }),
      1,
    );
    assert.equal(
      sampleValue(exp, 'portcullis_request_duration_seconds_count', { route: 'x', door: 'unknown' }),
      1,
    );
    assert.equal(samplesOf(exp, 'portcullis_upstream_duration_seconds_count').length, 0);
    // Status 0 and 999 are no status class; the unknown door is `unknown`.
    assert.equal(
      sampleValue(exp, 'portcullis_requests_total', requestLabels('x', 'GET', 'other', 'allowed', 'unknown')),
      1,
    );
    assert.equal(
      sampleValue(exp, 'portcullis_requests_total', requestLabels('x', 'GET', 'other', 'allowed')),
      1,
    );
  });
});

describe('metrics: scrape-time gauges and the rest', () => {
  it('reflects health samples in dependency_up, and reads 0 when health fails', async () => {
    let healthy = true;
    let fail = false;
    const metrics = createMetrics({
      ...quiet,
      health: async () => {
        if (fail) throw new Error('boom');
        return [
          { name: 'store:sqlite', ok: true },
          { name: 'state:redis', ok: healthy },
          { name: 'rate-limits', ok: true },
        ];
      },
    });
    let exp = await scrape(metrics);
    assert.equal(exp.types.get('portcullis_dependency_up'), 'gauge');
    assert.deepEqual(
      series(exp, 'portcullis_dependency_up'),
      new Map([
        [labelKey({ name: 'store:sqlite' }), 1],
        [labelKey({ name: 'state:redis' }), 1],
        [labelKey({ name: 'rate-limits' }), 1],
      ]),
    );
    healthy = false;
    exp = await scrape(metrics);
    assert.equal(sampleValue(exp, 'portcullis_dependency_up', { name: 'state:redis' }), 0);
    assert.equal(sampleValue(exp, 'portcullis_dependency_up', { name: 'store:sqlite' }), 1);
    fail = true;
    exp = await scrape(metrics);
    assert.deepEqual(
      [...series(exp, 'portcullis_dependency_up').values()],
      [0, 0, 0],
      'a failed health check reads as down',
    );
  });

  it('bounds a hanging health check by its timeout', async () => {
    const metrics = createMetrics({
      ...quiet,
      healthTimeoutMs: 50,
      health: () => new Promise(() => {}),
    });
    const started = performance.now();
    const exp = await scrape(metrics);
    assert.ok(performance.now() - started < 2000);
    assert.equal(samplesOf(exp, 'portcullis_dependency_up').length, 0);
  });

  it('shows the degraded rate-limit mode in force', async () => {
    let mode: string | undefined;
    const metrics = createMetrics({ ...quiet, degradedMode: () => mode });
    const modes = (exp: Exposition) =>
      Object.fromEntries(
        samplesOf(exp, 'portcullis_ratelimit_degraded').map((s) => [s.labels.mode, s.value]),
      );
    assert.deepEqual(modes(await scrape(metrics)), { local: 0, open: 0, closed: 0 });
    mode = 'local';
    assert.deepEqual(modes(await scrape(metrics)), { local: 1, open: 0, closed: 0 });
    mode = 'closed';
    assert.deepEqual(modes(await scrape(metrics)), { local: 0, open: 0, closed: 1 });
    mode = undefined;
    assert.deepEqual(modes(await scrape(metrics)), { local: 0, open: 0, closed: 0 });
  });

  it('counts anomaly incidents and says which instance leads the detector', async () => {
    let leads = true;
    const metrics = createMetrics({ ...quiet, anomalyLeader: () => leads });
    metrics.anomalyRecorded('burst', 'alerted');
    metrics.anomalyRecorded('burst', 'alerted');
    metrics.anomalyRecorded('auth_failures', 'blocked');
    let exp = await scrape(metrics);
    assert.equal(sampleValue(exp, 'portcullis_anomalies_total', { signal: 'burst', action: 'alerted' }), 2);
    assert.equal(
      sampleValue(exp, 'portcullis_anomalies_total', { signal: 'auth_failures', action: 'blocked' }),
      1,
    );
    assert.equal(sampleValue(exp, 'portcullis_anomaly_leader'), 1);
    leads = false;
    exp = await scrape(metrics);
    assert.equal(sampleValue(exp, 'portcullis_anomaly_leader'), 0);
    // Detection off: no gauge at all.
    exp = await scrape(createMetrics(quiet));
    assert.equal(sampleValue(exp, 'portcullis_anomaly_leader'), undefined);
  });

  it('counts recorder records, samples the queue depth, and publishes build info', async () => {
    const metrics = createMetrics({ ...quiet, queueDepth: () => 7 });
    metrics.recordsWritten(100);
    metrics.recordsWritten();
    metrics.recordsDropped(3);
    metrics.recordsDropped(-1); // ignored
    let exp = await scrape(metrics);
    assert.equal(sampleValue(exp, 'portcullis_records_written_total'), 101);
    assert.equal(sampleValue(exp, 'portcullis_records_dropped_total'), 3);
    assert.equal(sampleValue(exp, 'portcullis_recorder_queue_depth'), 7);
    assert.equal(sampleValue(exp, 'portcullis_build_info', { version: '1.2.3', node: process.version }), 1);
    let depth = 42;
    metrics.setQueueDepthSource(() => depth);
    exp = await scrape(metrics);
    assert.equal(sampleValue(exp, 'portcullis_recorder_queue_depth'), 42);
    depth = 0;
    metrics.setQueueDepthSource(undefined);
    exp = await scrape(metrics);
    assert.equal(sampleValue(exp, 'portcullis_recorder_queue_depth'), 0);
  });

  it("includes prom-client's default process metrics under the prefix", async () => {
    const metrics = createMetrics({ version: '1.2.3' });
    const exp = await scrape(metrics);
    for (const name of [
      'portcullis_process_cpu_user_seconds_total',
      'portcullis_process_resident_memory_bytes',
      'portcullis_nodejs_eventloop_lag_seconds',
      'portcullis_nodejs_heap_size_used_bytes',
    ]) {
      assert.ok(exp.types.has(name), `${name} is exposed`);
    }
    for (const name of exp.types.keys()) assert.ok(name.startsWith('portcullis_'), name);
  });
});

describe('metrics: bounded labels', () => {
  it('never puts a path, key, IP or unknown code in a label value', async () => {
    const metrics = createMetrics({
      ...quiet,
      health: async () => [{ name: 'store:/var/lib/db?password=x', ok: true }],
      degradedMode: () => '/weird',
    });
    const secretFacts = { path: '/v1/users/42/secret', method: 'get' };
    metrics.observe(outcome(allow('users'), 200, { upstreamMs: 1, factsExtra: secretFacts }));
    // A route id that does not look like one (never from configuration) collapses to `other`.
    metrics.observe(outcome(allow('/v1/users/42'), 200, { upstreamMs: 1 }));
    metrics.observe(outcome(denied('invalid_credentials', '/v1/users/42'), 401));
    // A code the catalog does not list.
    const made_up = { ...deny('forbidden'), code: 'made_up_code' } as unknown as Deny;
    metrics.observe(outcome(made_up, 403));
    const throttled = { ...deny('rate_limited'), code: '/v1/throttle' } as unknown as Deny;
    metrics.observe(outcome(throttled, 429));
    const exp = await scrape(metrics);

    const allowedCodes = new Set([...Object.keys(errorCatalog), 'other']);
    for (const s of exp.samples) {
      for (const [name, value] of Object.entries(s.labels)) {
        assert.ok(!value.includes('/'), `${s.name}{${name}="${value}"} carries a path`);
        assert.ok(!value.includes('pcl_'), `${s.name}{${name}="${value}"} carries a key`);
        assert.ok(!value.includes('192.0.2.'), `${s.name}{${name}="${value}"} carries an IP`);
        if (name === 'reason' || (name === 'code' && s.name !== 'portcullis_build_info')) {
          assert.ok(allowedCodes.has(value), `${s.name}{${name}="${value}"} is not a catalog code`);
        }
      }
    }
    assert.equal(sampleValue(exp, 'portcullis_auth_failures_total', { reason: 'other' }), 1);
    assert.equal(sampleValue(exp, 'portcullis_auth_failures_total', { reason: 'invalid_credentials' }), 1);
    assert.equal(sampleValue(exp, 'portcullis_rate_limit_denials_total', { code: 'other' }), 1);
    assert.equal(
      sampleValue(exp, 'portcullis_requests_total', requestLabels('other', 'GET', '2xx', 'allowed')),
      1,
    );
    assert.equal(
      sampleValue(exp, 'portcullis_requests_total', requestLabels('other', 'GET', '4xx', 'denied')),
      1,
    );
    // Methods are case-sensitive: `get` is not GET.
    assert.equal(
      sampleValue(exp, 'portcullis_requests_total', requestLabels('users', 'OTHER', '2xx', 'allowed')),
      1,
    );
    assert.equal(sampleValue(exp, 'portcullis_dependency_up', { name: 'other' }), 1);
    assert.equal(sampleValue(exp, 'portcullis_ratelimit_degraded', { mode: 'other' }), 1);

    const methods = new Set(samplesOf(exp, 'portcullis_requests_total').map((s) => s.labels.method));
    for (const m of methods) {
      assert.ok(
        ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'OTHER'].includes(
          m!,
        ),
      );
    }
  });

  it('keeps two instances independent', async () => {
    const one = createMetrics(quiet);
    const two = createMetrics({ ...quiet, version: '9.9.9' });
    one.observe(outcome(allow('users'), 200, { upstreamMs: 1 }));
    one.observe(outcome(denied('invalid_credentials'), 401));
    one.recordsWritten(5);
    const expOne = await scrape(one);
    const expTwo = await scrape(two);
    assert.notEqual(one.registry, two.registry);
    assert.equal(
      sampleValue(expOne, 'portcullis_requests_total', requestLabels('users', 'GET', '2xx', 'allowed')),
      1,
    );
    assert.equal(samplesOf(expTwo, 'portcullis_requests_total').length, 0);
    assert.equal(samplesOf(expTwo, 'portcullis_request_duration_seconds_count').length, 0);
    assert.equal(sampleValue(expTwo, 'portcullis_auth_failures_total', { reason: 'invalid_credentials' }), 0);
    assert.equal(sampleValue(expTwo, 'portcullis_records_written_total'), 0);
    assert.equal(
      sampleValue(expTwo, 'portcullis_build_info', { version: '9.9.9', node: process.version }),
      1,
    );
    assert.equal(
      sampleValue(expOne, 'portcullis_build_info', { version: '9.9.9', node: process.version }),
      undefined,
    );
  });

  it('stays bounded and exact over 100k outcomes on 50 routes', async () => {
    const metrics = createMetrics(quiet);
    const routes = Array.from({ length: 50 }, (_, i) => allow(`route-${i}`));
    const methods = ['GET', 'POST', 'BREW'];
    const prebuilt = routes.flatMap((decision, i) =>
      methods.map((method) =>
        outcome(decision, i % 7 === 0 ? 503 : 200, { upstreamMs: i % 5, totalMs: i, factsExtra: { method } }),
      ),
    );
    const total = 100_000;
    for (let i = 0; i < total; i++) metrics.observe(prebuilt[i % prebuilt.length]!);
    assert.equal(metrics.cachedRoutes, 50);
    const exp = await scrape(metrics);
    const requests = samplesOf(exp, 'portcullis_requests_total');
    assert.equal(requests.length, 50 * methods.length);
    assert.equal(
      requests.reduce((a, s) => a + s.value, 0),
      total,
    );
    const counts = samplesOf(exp, 'portcullis_request_duration_seconds_count');
    assert.equal(counts.length, 50);
    assert.equal(
      counts.reduce((a, s) => a + s.value, 0),
      total,
    );
  });

  it('bounds the route cache when ids keep changing, without losing counts', async () => {
    const metrics = createMetrics(quiet);
    const distinct = ROUTE_CACHE_LIMIT + 1000;
    for (let i = 0; i < distinct; i++) {
      metrics.observe(outcome(allow(`r${i}`), 200));
      assert.ok(metrics.cachedRoutes <= ROUTE_CACHE_LIMIT);
    }
    // Ids seen again after the cache started over still add to their series.
    for (let i = 0; i < 10; i++) metrics.observe(outcome(allow(`r${i}`), 200));
    const exp = await scrape(metrics);
    const requests = samplesOf(exp, 'portcullis_requests_total');
    assert.equal(requests.length, distinct);
    assert.equal(
      requests.reduce((a, s) => a + s.value, 0),
      distinct + 10,
    );
    assert.equal(
      sampleValue(exp, 'portcullis_requests_total', requestLabels('r3', 'GET', '2xx', 'allowed')),
      2,
    );
  });
});
