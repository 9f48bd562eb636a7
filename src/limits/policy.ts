/**
 * A rate-limit policy as users write it (declarative YAML, CLI, admin API) and as the store
 * keeps it: snake_case, like routing/spec.ts. One validator serves every entry point, so the
 * same mistake gets the same message wherever it is made; `compilePolicy` then reduces a
 * valid spec once per configuration change to the frozen form the request path looks up
 * (STYLE 6), with its `CompiledLimit` built by `compileLimit`.
 *
 * Validation is by hand rather than from the TypeBox schema's errors, so each message names
 * the field and says what would be accepted ("must be one of …", "does not apply to
 * token_bucket"). `PolicySpecSchema` documents the shape (admin API, docs); every spec this
 * module accepts also passes it.
 */
import { type Static, Type } from '@sinclair/typebox';
import { SpecError, type SpecIssue } from '../core/spec-error.js';
import { checkTimeZone } from './calendar.js';
import { compileLimit, type LimitSpec } from './compile.js';
import type { CompiledLimit, LimitAlgorithm, QuotaPeriod } from './types.js';

export const POLICY_ALGORITHMS = [
  'token_bucket',
  'sliding_window',
  'fixed_window',
  'quota',
  'concurrency',
] as const satisfies readonly LimitAlgorithm[];
export const QUOTA_PERIODS = ['rolling_24h', 'day', 'month'] as const satisfies readonly QuotaPeriod[];
/** What a policy counts by. `global` is one counter for everyone and cannot be combined. */
export const KEY_BY = ['key', 'client', 'user', 'ip', 'route', 'global'] as const;
export type KeyBy = (typeof KEY_BY)[number];
/** What happens while the shared limiter (Redis) is unreachable (PRODUCT.md §7). */
export const STORE_FAILURE_MODES = ['local', 'open', 'closed'] as const;
export type StoreFailureMode = (typeof STORE_FAILURE_MODES)[number];

/** Same shape as route, client and provider ids; also keeps storage keys free of braces. */
export const POLICY_ID_PATTERN = '^[a-z0-9][a-z0-9_.-]{0,63}$';
export const DEFAULT_IPV6_PREFIX = 64;
export const DEFAULT_STORE_FAILURE: StoreFailureMode = 'local';
const IPV6_PREFIX_MIN = 32;
const IPV6_PREFIX_MAX = 128;
const DESCRIPTION_MAX = 500;

const ID = new RegExp(POLICY_ID_PATTERN);
/** Route and client ids (routing/spec.ts ROUTE_ID_PATTERN, identity ID_PATTERN): the same rule. */
const ATTACH_ID = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
/** Key ids are generated ("key_" + base62, mixed case). */
const ATTACH_KEY_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const literals = <T extends string>(values: readonly T[], description: string) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { description },
  );

export const PolicySpecSchema = Type.Object(
  {
    id: Type.String({ pattern: POLICY_ID_PATTERN }),
    description: Type.Optional(Type.String({ maxLength: DESCRIPTION_MAX })),
    algorithm: literals(POLICY_ALGORITHMS, 'token_bucket is GCRA (rate + burst)'),
    rate: Type.Optional(
      Type.String({
        description: 'token_bucket: "<count>/<unit>" (100/s, 5/m) or "<count>/<duration>" (5/10s)',
      }),
    ),
    burst: Type.Optional(
      Type.Integer({ minimum: 1, description: 'token_bucket: bucket size (default: the rate count)' }),
    ),
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'sliding_window, fixed_window, quota: units per window; concurrency: requests in flight',
      }),
    ),
    window: Type.Optional(
      Type.String({
        description: 'sliding_window, fixed_window: a duration such as 500ms, 30s, 15m, 1h, 1d',
      }),
    ),
    period: Type.Optional(literals(QUOTA_PERIODS, 'quota only')),
    time_zone: Type.Optional(
      Type.String({ description: 'day and month quotas: IANA time zone of the calendar (default UTC)' }),
    ),
    key_by: Type.Array(literals(KEY_BY, 'what the policy counts by'), { minItems: 1 }),
    ipv6_prefix: Type.Optional(
      Type.Integer({
        minimum: IPV6_PREFIX_MIN,
        maximum: IPV6_PREFIX_MAX,
        description: `with key_by ip: IPv6 addresses are counted per /N (default ${DEFAULT_IPV6_PREFIX})`,
      }),
    ),
    attach: Type.Optional(
      Type.Array(Type.String({ description: 'global, route:<id>, client:<id> or key:<id>' })),
    ),
    on_store_failure: Type.Optional(
      literals(STORE_FAILURE_MODES, 'when Redis is unreachable (default local)'),
    ),
    shadow: Type.Optional(Type.Boolean({ description: 'record "would deny", deny nothing' })),
    refund_on_5xx: Type.Optional(
      Type.Boolean({ description: 'give the unit back when the upstream answers 5xx (not concurrency)' }),
    ),
  },
  { additionalProperties: false },
);

/** A policy as written by a user. */
export type PolicyInput = Static<typeof PolicySpecSchema>;

/**
 * A validated policy in canonical form: `key_by` in `KEY_BY` order, `time_zone` by its
 * canonical name, `attach` omitted when empty, and the mode fields filled in
 * (`on_store_failure`, `shadow`, and `refund_on_5xx` except for concurrency). Values whose
 * default depends on other fields (`burst`, `time_zone`, `ipv6_prefix`) stay omitted, so
 * changing the rate also changes the default burst.
 */
export interface PolicySpec {
  id: string;
  description?: string;
  algorithm: LimitAlgorithm;
  rate?: string;
  burst?: number;
  limit?: number;
  window?: string;
  period?: QuotaPeriod;
  time_zone?: string;
  key_by: KeyBy[];
  ipv6_prefix?: number;
  attach?: string[];
  on_store_failure: StoreFailureMode;
  shadow: boolean;
  refund_on_5xx?: boolean;
}

export interface PolicyAttachment {
  readonly global: boolean;
  readonly routes: ReadonlySet<string>;
  readonly clients: ReadonlySet<string>;
  readonly keys: ReadonlySet<string>;
}

export interface CompiledPolicy {
  readonly id: string;
  readonly spec: PolicySpec;
  /** Built by `compileLimit` with `policyId` = the policy id. */
  readonly limit: CompiledLimit;
  /** In `KEY_BY` order. */
  readonly keyBy: readonly KeyBy[];
  /** IPv6 addresses are counted per /ipv6Prefix (meaningful when keyBy includes 'ip'). */
  readonly ipv6Prefix: number;
  readonly attach: PolicyAttachment;
  readonly onStoreFailure: StoreFailureMode;
  readonly shadow: boolean;
  readonly refundOn5xx: boolean;
  /**
   * For the RateLimit-Policy header: quota units (`q`) and window seconds (`w`).
   * Token bucket: q = burst, w = the time to refill a whole bucket (⌈burst × interval⌉ s),
   * so `remaining` never exceeds q and q/w is the sustained rate. Windows and quotas: the
   * limit and the window (nominal period for quotas: 86 400 s, 31 days for month).
   * Concurrency: the slots, and 0 (no window).
   */
  readonly quota: number;
  readonly windowS: number;
}

/** Fields in the order they are documented, validated and reported. */
const FIELDS = [
  'id',
  'description',
  'algorithm',
  'rate',
  'burst',
  'limit',
  'window',
  'period',
  'time_zone',
  'key_by',
  'ipv6_prefix',
  'attach',
  'on_store_failure',
  'shadow',
  'refund_on_5xx',
] as const;
type Field = (typeof FIELDS)[number];

/** Which algorithms a field belongs to; fields not listed apply to every algorithm. */
const ALGORITHM_FIELDS: Partial<Record<Field, readonly LimitAlgorithm[]>> = {
  rate: ['token_bucket'],
  burst: ['token_bucket'],
  limit: ['sliding_window', 'fixed_window', 'quota', 'concurrency'],
  window: ['sliding_window', 'fixed_window'],
  period: ['quota'],
  time_zone: ['quota'],
  refund_on_5xx: ['token_bucket', 'sliding_window', 'fixed_window', 'quota'],
};
const REQUIRED_FIELDS: Record<LimitAlgorithm, readonly Field[]> = {
  token_bucket: ['rate'],
  sliding_window: ['limit', 'window'],
  fixed_window: ['limit', 'window'],
  quota: ['limit', 'period'],
  concurrency: ['limit'],
};

/**
 * Whether `field` means anything for a policy with this algorithm, quota period and key_by
 * (e.g. `window` only for windows, `time_zone` only for day and month quotas, `ipv6_prefix`
 * only when counting by IP). Exported so an editor (the CLI's `update`) can drop inherited
 * fields that a change of algorithm makes meaningless.
 */
export function policyFieldApplies(
  field: string,
  context: {
    algorithm: LimitAlgorithm;
    period?: QuotaPeriod | undefined;
    key_by?: readonly string[] | undefined;
  },
): boolean {
  const algorithms = ALGORITHM_FIELDS[field as Field];
  if (algorithms !== undefined && !algorithms.includes(context.algorithm)) return false;
  if (field === 'time_zone') return context.period === 'day' || context.period === 'month';
  if (field === 'ipv6_prefix') return context.key_by?.includes('ip') ?? false;
  return true;
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d{1,15})(ms|s|m|h|d)$/;
const RATE = /^(\d{1,15})\s*\/\s*(\S+)$/;
const DURATION_HINT = 'a duration like 500ms, 30s, 15m, 1h or 1d';
const RATE_HINT = '"<count>/<unit>" like 100/s, 5/m, 1000/h, 10000/d, or "<count>/<duration>" like 5/10s';

/** "500ms", "30s", "15m", "1h", "1d" → milliseconds, or the problem. */
function durationMs(value: unknown): number | string {
  if (typeof value !== 'string') return `must be ${DURATION_HINT} (got ${describe(value)})`;
  const match = DURATION.exec(value.trim());
  if (!match) return `must be ${DURATION_HINT} (got ${describe(value)})`;
  const ms = Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  if (ms <= 0) return `must be longer than 0 (got ${describe(value)})`;
  if (!Number.isSafeInteger(ms)) return `is too long (got ${describe(value)})`;
  return ms;
}

/** "100/s", "5/10s" → { count, perMs }, or the problem. */
function rateOf(value: unknown): { count: number; perMs: number } | string {
  if (typeof value !== 'string') return `must be ${RATE_HINT} (got ${describe(value)})`;
  const match = RATE.exec(value.trim());
  if (!match) return `must be ${RATE_HINT} (got ${describe(value)})`;
  const count = Number(match[1]);
  const per = match[2] as string;
  const perMs = UNIT_MS[per] !== undefined && per !== 'ms' ? UNIT_MS[per] : durationMs(per);
  if (typeof perMs !== 'number') return `must be ${RATE_HINT} (got ${describe(value)})`;
  if (count <= 0) return `count must be a positive integer (got ${describe(value)})`;
  if (!Number.isSafeInteger(count)) return `count is too large (got ${describe(value)})`;
  return { count, perMs };
}

/** Parse a rate such as "100/s" or "5/10s". Throws SpecError naming `field`. */
export function parseRate(value: string, field = 'rate'): { count: number; perMs: number } {
  const rate = rateOf(value);
  if (typeof rate === 'string') throw new SpecError([{ path: field, message: rate }]);
  return rate;
}

/** Parse a duration such as "500ms", "30s", "15m", "1h" or "1d" to ms. Throws SpecError naming `field`. */
export function parseDurationMs(value: string, field = 'window'): number {
  const ms = durationMs(value);
  if (typeof ms === 'string') throw new SpecError([{ path: field, message: ms }]);
  return ms;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  return typeof value === 'string' ? `"${value}"` : JSON.stringify(value);
}

function oneOf<T extends string>(allowed: readonly T[], value: unknown): string {
  return `must be one of ${allowed.join(', ')} (got ${describe(value)})`;
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/**
 * Validate and canonicalize one policy. Throws SpecError listing every problem found, each
 * at its path (`policy.rate`, `policies[2].key_by[1]`). A spec this accepts always compiles.
 */
export function parsePolicySpec(input: unknown, at = 'policy'): PolicySpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new SpecError([{ path: at, message: 'must be a mapping of policy fields' }]);
  }
  const raw = input as Record<string, unknown>;
  const issues: SpecIssue[] = [];
  const issue = (field: string, message: string) => issues.push({ path: `${at}.${field}`, message });
  const given = (field: Field) => raw[field] !== undefined;

  for (const key of Object.keys(raw)) {
    if (!(FIELDS as readonly string[]).includes(key))
      issue(key, `unknown field; a policy has ${FIELDS.join(', ')}`);
  }

  const id = raw['id'];
  if (id === undefined) issue('id', 'is required');
  else if (typeof id !== 'string' || !ID.test(id))
    issue(
      'id',
      `must be 1-64 characters: a-z, 0-9, "_", "." or "-", starting with a letter or digit (got ${describe(id)})`,
    );

  const description = raw['description'];
  if (description !== undefined && (typeof description !== 'string' || description.length > DESCRIPTION_MAX))
    issue('description', `must be text of at most ${DESCRIPTION_MAX} characters`);

  const algorithmRaw = raw['algorithm'];
  let algorithm: LimitAlgorithm | undefined;
  if (algorithmRaw === undefined) issue('algorithm', `is required: one of ${POLICY_ALGORITHMS.join(', ')}`);
  else if (!(POLICY_ALGORITHMS as readonly unknown[]).includes(algorithmRaw))
    issue('algorithm', oneOf(POLICY_ALGORITHMS, algorithmRaw));
  else algorithm = algorithmRaw as LimitAlgorithm;

  let rate: { count: number; perMs: number } | undefined;
  if (given('rate')) {
    const parsed = rateOf(raw['rate']);
    if (typeof parsed === 'string') issue('rate', parsed);
    else rate = parsed;
  }
  for (const field of ['burst', 'limit'] as const) {
    if (given(field) && !isPositiveInteger(raw[field]))
      issue(field, `must be a positive integer (got ${describe(raw[field])})`);
  }
  let windowMs: number | undefined;
  if (given('window')) {
    const parsed = durationMs(raw['window']);
    if (typeof parsed === 'string') issue('window', parsed);
    else windowMs = parsed;
  }
  const periodRaw = raw['period'];
  let period: QuotaPeriod | undefined;
  if (periodRaw !== undefined) {
    if ((QUOTA_PERIODS as readonly unknown[]).includes(periodRaw)) period = periodRaw as QuotaPeriod;
    else issue('period', oneOf(QUOTA_PERIODS, periodRaw));
  }
  let timeZone: string | undefined;
  if (given('time_zone')) {
    const zone = raw['time_zone'];
    try {
      timeZone = checkTimeZone(zone, 'time_zone');
    } catch {
      issue(
        'time_zone',
        typeof zone === 'string' && zone !== ''
          ? `is not a known IANA time zone (got "${zone}")`
          : `must be an IANA time zone name such as "Europe/Berlin" (got ${describe(zone)})`,
      );
    }
  }

  const keyBy = parseKeyBy(raw['key_by'], issue);

  const prefix = raw['ipv6_prefix'];
  if (
    prefix !== undefined &&
    !(
      Number.isInteger(prefix) &&
      (prefix as number) >= IPV6_PREFIX_MIN &&
      (prefix as number) <= IPV6_PREFIX_MAX
    )
  ) {
    issue(
      'ipv6_prefix',
      `must be a whole number from ${IPV6_PREFIX_MIN} to ${IPV6_PREFIX_MAX} (got ${describe(prefix)})`,
    );
  }

  const attach = parseAttach(raw['attach'], issue);

  const onStoreFailure = raw['on_store_failure'];
  if (onStoreFailure !== undefined && !(STORE_FAILURE_MODES as readonly unknown[]).includes(onStoreFailure))
    issue('on_store_failure', oneOf(STORE_FAILURE_MODES, onStoreFailure));
  for (const field of ['shadow', 'refund_on_5xx'] as const) {
    if (given(field) && typeof raw[field] !== 'boolean')
      issue(field, `must be true or false (got ${describe(raw[field])})`);
  }

  if (algorithm !== undefined) {
    for (const field of REQUIRED_FIELDS[algorithm]) {
      if (!given(field)) issue(field, `is required for ${algorithm}`);
    }
    const context = { algorithm, period, key_by: keyBy ?? [] };
    for (const field of FIELDS) {
      if (!given(field) || policyFieldApplies(field, context)) continue;
      // Harmless either way: an explicit "no refund" on a policy that has nothing to refund.
      if (field === 'refund_on_5xx' && raw[field] === false) continue;
      issue(field, notApplicable(field, algorithm));
    }
  }

  if (issues.length > 0) throw new SpecError(issues);

  const a = algorithm as LimitAlgorithm;
  // Built in FIELDS order, so stored JSON and exported YAML read like the documentation.
  const spec: PolicySpec = {
    id: id as string,
    ...(typeof description === 'string' && description !== '' ? { description } : {}),
    algorithm: a,
    ...(rate !== undefined ? { rate: (raw['rate'] as string).trim() } : {}),
    ...(given('burst') ? { burst: raw['burst'] as number } : {}),
    ...(given('limit') ? { limit: raw['limit'] as number } : {}),
    ...(windowMs !== undefined ? { window: (raw['window'] as string).trim() } : {}),
    ...(period !== undefined ? { period } : {}),
    ...(timeZone !== undefined ? { time_zone: timeZone } : {}),
    key_by: keyBy as KeyBy[],
    ...(prefix !== undefined ? { ipv6_prefix: prefix as number } : {}),
    ...(attach !== undefined && attach.length > 0 ? { attach } : {}),
    on_store_failure: (onStoreFailure as StoreFailureMode | undefined) ?? DEFAULT_STORE_FAILURE,
    shadow: (raw['shadow'] as boolean | undefined) ?? false,
    ...(a !== 'concurrency' ? { refund_on_5xx: (raw['refund_on_5xx'] as boolean | undefined) ?? false } : {}),
  };

  // The limiter's own bounds (rate ≤ 1 000 000/s, limit × window ≤ 2^51): reported here, at
  // configuration time, rather than on the first request.
  try {
    compilePolicy(spec);
  } catch (error) {
    if (!(error instanceof RangeError || error instanceof TypeError)) throw error;
    const rateBound = /per second/.test(error.message);
    const field = rateBound ? 'rate' : a === 'token_bucket' ? 'burst' : 'limit';
    throw new SpecError([{ path: `${at}.${field}`, message: limiterMessage(error.message, a) }]);
  }
  return spec;
}

function notApplicable(field: Field, algorithm: LimitAlgorithm): string {
  switch (field) {
    case 'time_zone':
      return algorithm === 'quota'
        ? 'applies to day and month quotas only (rolling_24h has no calendar)'
        : 'applies to day and month quotas only';
    case 'ipv6_prefix':
      return 'applies only when key_by includes ip';
    case 'refund_on_5xx':
      return 'does not apply to concurrency (the slot is freed when the response ends)';
    default: {
      const owners = ALGORITHM_FIELDS[field] ?? [];
      return `does not apply to ${algorithm} (only to ${owners.join(', ')})`;
    }
  }
}

/** compileLimit's messages name its own fields ("limit.limit × …"); say it in policy terms. */
function limiterMessage(message: string, algorithm: LimitAlgorithm): string {
  if (/per second/.test(message)) return 'must be at most 1 000 000 per second';
  if (/2\^51/.test(message)) {
    return algorithm === 'token_bucket'
      ? 'is too large for the rate (burst × the interval between tokens must be at most 2^51 µs, about 71 years)'
      : 'is too large for the window (limit × window in ms must be at most 2^51)';
  }
  return message;
}

function parseKeyBy(value: unknown, issue: (field: string, message: string) => void): KeyBy[] | undefined {
  if (value === undefined) {
    issue('key_by', `is required: a list of ${KEY_BY.join(', ')}`);
    return undefined;
  }
  if (!Array.isArray(value) || value.length === 0) {
    issue('key_by', `must be a non-empty list of ${KEY_BY.join(', ')} (got ${describe(value)})`);
    return undefined;
  }
  const seen = new Set<KeyBy>();
  let ok = true;
  value.forEach((item, i) => {
    if (!(KEY_BY as readonly unknown[]).includes(item)) {
      issue(`key_by[${i}]`, oneOf(KEY_BY, item));
      ok = false;
    } else if (seen.has(item as KeyBy)) {
      issue(`key_by[${i}]`, `"${item}" is listed twice`);
      ok = false;
    } else seen.add(item as KeyBy);
  });
  if (seen.has('global') && seen.size > 1) {
    issue('key_by', 'global cannot be combined with other keys (it is one counter shared by everyone)');
    ok = false;
  }
  // Canonical order: [user, key] and [key, user] are the same policy and must share counters.
  return ok ? KEY_BY.filter((k) => seen.has(k)) : undefined;
}

function parseAttach(value: unknown, issue: (field: string, message: string) => void): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) {
    issue('attach', `must be a list of global, route:<id>, client:<id> or key:<id> (got ${describe(value)})`);
    return undefined;
  }
  const seen = new Set<string>();
  value.forEach((item, i) => {
    const problem = attachProblem(item);
    if (problem !== undefined) issue(`attach[${i}]`, problem);
    else if (seen.has(item as string)) issue(`attach[${i}]`, `"${item}" is listed twice`);
    else seen.add(item as string);
  });
  return [...seen];
}

function attachProblem(item: unknown): string | undefined {
  if (item === 'global') return undefined;
  const usage = `must be global, route:<id>, client:<id> or key:<id> (got ${describe(item)})`;
  if (typeof item !== 'string') return usage;
  const colon = item.indexOf(':');
  if (colon < 0) return usage;
  const kind = item.slice(0, colon);
  const target = item.slice(colon + 1);
  if (kind !== 'route' && kind !== 'client' && kind !== 'key') return usage;
  if (target === '') return `"${item}" names no ${kind}; write ${kind}:<id>`;
  const pattern = kind === 'key' ? ATTACH_KEY_ID : ATTACH_ID;
  if (!pattern.test(target)) return `"${target}" is not a valid ${kind} id`;
  return undefined;
}

/** Reduce a valid spec (from `parsePolicySpec` or the store) to its frozen runtime form. */
export function compilePolicy(spec: PolicySpec): CompiledPolicy {
  const limitSpec: LimitSpec = { policyId: spec.id, algorithm: spec.algorithm, limit: 0 };
  let quota: number;
  let windowS: number;
  switch (spec.algorithm) {
    case 'token_bucket': {
      const rate = parseRate(spec.rate as string, 'rate');
      const burst = spec.burst ?? rate.count;
      limitSpec.limit = burst;
      limitSpec.rate = rate;
      quota = burst;
      windowS = Math.max(1, Math.ceil((burst * rate.perMs) / rate.count / 1000));
      break;
    }
    case 'sliding_window':
    case 'fixed_window': {
      const windowMs = parseDurationMs(spec.window as string, 'window');
      limitSpec.limit = spec.limit as number;
      limitSpec.windowMs = windowMs;
      quota = limitSpec.limit;
      windowS = Math.max(1, Math.ceil(windowMs / 1000));
      break;
    }
    case 'quota':
      limitSpec.limit = spec.limit as number;
      limitSpec.period = spec.period as QuotaPeriod;
      if (spec.time_zone !== undefined) limitSpec.timeZone = spec.time_zone;
      quota = limitSpec.limit;
      windowS = 0; // set from the compiled limit's nominal period below
      break;
    case 'concurrency':
      limitSpec.limit = spec.limit as number;
      quota = limitSpec.limit;
      windowS = 0;
      break;
  }
  const limit = compileLimit(limitSpec);
  if (spec.algorithm === 'quota') windowS = limit.windowMs / 1000;

  const routes = new Set<string>();
  const clients = new Set<string>();
  const keys = new Set<string>();
  let global = false;
  for (const target of spec.attach ?? []) {
    if (target === 'global') global = true;
    else if (target.startsWith('route:')) routes.add(target.slice(6));
    else if (target.startsWith('client:')) clients.add(target.slice(7));
    else if (target.startsWith('key:')) keys.add(target.slice(4));
  }
  return Object.freeze({
    id: spec.id,
    spec,
    limit,
    keyBy: Object.freeze([...spec.key_by]),
    ipv6Prefix: spec.ipv6_prefix ?? DEFAULT_IPV6_PREFIX,
    attach: Object.freeze({ global, routes, clients, keys }),
    onStoreFailure: spec.on_store_failure ?? DEFAULT_STORE_FAILURE,
    shadow: spec.shadow ?? false,
    refundOn5xx: spec.refund_on_5xx ?? false,
    quota,
    windowS,
  });
}

/** "fixed_window 10 per 60s by key", "token_bucket 100/s burst 200 by key,ip". */
export function policySummary(spec: PolicySpec): string {
  let amount: string;
  switch (spec.algorithm) {
    case 'token_bucket':
      amount = `${spec.rate}${spec.burst !== undefined ? ` burst ${spec.burst}` : ''}`;
      break;
    case 'sliding_window':
    case 'fixed_window':
      amount = `${spec.limit} per ${spec.window}`;
      break;
    case 'quota':
      amount = `${spec.limit} per ${spec.period}${spec.time_zone !== undefined ? ` (${spec.time_zone})` : ''}`;
      break;
    case 'concurrency':
      amount = `${spec.limit} in flight`;
      break;
  }
  return `${spec.algorithm} ${amount} by ${spec.key_by.join(',')}`;
}

/** The route ids a policy is attached to by its own `attach` list. */
export function attachedRoutes(spec: PolicySpec): string[] {
  return (spec.attach ?? []).filter((t) => t.startsWith('route:')).map((t) => t.slice(6));
}
