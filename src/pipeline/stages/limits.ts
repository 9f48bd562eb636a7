/**
 * Rate limits and quotas, the last stage: every earlier refusal happens before anything is
 * counted, and the limiter itself consumes nothing unless every limit passes (so a client
 * hammering at its limit is not locked out for longer than its window).
 *
 * With a shared (Redis) limiter, a fault or a slow Redis opens a circuit breaker and each
 * policy's `on_store_failure` decides: `local` enforces the limit divided by the live instance
 * count in this process's memory, `open` lets requests through, `closed` answers 503
 * `failsafe_closed`. The mode in force is named in `X-Portcullis-Degraded`. A store outage is
 * never reported as 401/403.
 */
import type { Logger } from 'pino';
import type { KeyUsage } from '../../identity/usage.js';
import type { CircuitBreaker } from '../../limits/breaker.js';
import { compileLimit } from '../../limits/compile.js';
import { isLimiterUnavailable } from '../../limits/errors.js';
import { rateLimitHeaders } from '../../limits/headers.js';
import type { MemoryLimiter } from '../../limits/memory.js';
import type { CompiledPolicy, KeyBy } from '../../limits/policy.js';
import type { PolicyCatalog } from '../../limits/policy-catalog.js';
import type { CheckAllResult, CompiledLimit, LimitCheck, RateLimiter } from '../../limits/types.js';
import type { CompiledRoute } from '../../routing/compile.js';
import { deny } from '../decision.js';
import type { Deny, Exchange, Stage } from '../types.js';

export type DegradedMode = 'local' | 'open' | 'closed';

export interface LimitsStageOptions {
  policies: PolicyCatalog;
  limiter: RateLimiter;
  /** In-process fallback for `local` mode; undefined when the limiter is already local. */
  local: MemoryLimiter | undefined;
  breaker: CircuitBreaker | undefined;
  liveInstances: () => number;
  logger: Logger;
  /** Key budgets, for refund_on_5xx. */
  usage?: KeyUsage;
  /** Notified of degraded decisions (readiness and metrics). */
  onDegraded?: (mode: DegradedMode) => void;
}

/** IPv6 addresses are counted per prefix (/64 by default): one host owns a whole /64. */
export function ipIdentity(ip: string, prefix: number): string {
  if (!ip.includes(':') || prefix >= 128) return ip;
  const [head = '', tail = ''] = ip.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left;
  const bits: string[] = [];
  let remaining = prefix;
  for (const group of groups) {
    if (remaining <= 0) break;
    const value = Number.parseInt(group || '0', 16);
    const keep = Math.min(16, remaining);
    bits.push(((value >> (16 - keep)) << (16 - keep)).toString(16));
    remaining -= keep;
  }
  return `${bits.join(':')}::/${prefix}`;
}

/**
 * What one `key_by` entry counts by for this request (key id, client id, user id, client IP,
 * route id), or undefined when the request has no such thing.
 */
function sourceOf(by: KeyBy, exchange: Exchange, route: CompiledRoute): string | undefined {
  switch (by) {
    case 'global':
      return '';
    case 'key':
      return exchange.principal?.keyId;
    case 'client':
      return exchange.principal?.clientId;
    case 'user':
      return exchange.principal?.userId;
    case 'ip':
      return exchange.facts.clientIp;
    case 'route':
      return route.id;
  }
}

/** One part of an identity: `global`, `key=<id>`, `ip=<address, IPv6 by prefix>`, … */
function partOf(by: KeyBy, source: string, policy: CompiledPolicy): string {
  if (by === 'global') return 'global';
  if (by === 'ip') return `ip=${ipIdentity(source, policy.ipv6Prefix)}`;
  return `${by}=${source}`;
}

/** The counter identity of a policy for this request, or undefined when a part is unknown. */
function identityOf(policy: CompiledPolicy, exchange: Exchange, route: CompiledRoute): string | undefined {
  const parts: string[] = [];
  for (const by of policy.keyBy) {
    const source = sourceOf(by, exchange, route);
    if (source === undefined) return undefined;
    parts.push(partOf(by, source, policy));
  }
  return parts.join('|');
}

/** Above this many cached checks for one policy, its cache starts over (a flood of new IPs). */
const MAX_CACHED_CHECKS = 10_000;

function addResponseHeaders(exchange: Exchange, headers: Array<[string, string]>): void {
  if (exchange.responseHeaders) for (const header of headers) exchange.responseHeaders.push(header);
  else exchange.responseHeaders = headers;
}

/** The checks of the policies that refund on 5xx; undefined (no array) when there are none. */
function refundableChecks(
  applied: readonly CompiledPolicy[],
  checks: readonly LimitCheck[],
): LimitCheck[] | undefined {
  let refundable: LimitCheck[] | undefined;
  for (let i = 0; i < checks.length; i++) {
    if (!applied[i]?.refundOn5xx) continue;
    refundable ??= [];
    refundable.push(checks[i] as LimitCheck);
  }
  return refundable;
}

function addFinish(exchange: Exchange, fn: (status: number) => void): void {
  if (exchange.onFinish) exchange.onFinish.push(fn);
  else exchange.onFinish = [fn];
}

export function limitsStage(options: LimitsStageOptions): Stage {
  const { policies, limiter, local, breaker, logger } = options;
  // Local-mode limits: each policy's limit divided by the live instance count, compiled once per count.
  const scaled = new Map<string, CompiledLimit>();
  const localLimit = (limit: CompiledLimit, instances: number): CompiledLimit => {
    const key = `${limit.policyId}/${instances}`;
    let compiled = scaled.get(key);
    if (!compiled) {
      const divide = (n: number) => Math.max(1, Math.floor(n / instances));
      compiled = compileLimit({
        ...limit,
        limit: divide(limit.limit),
        ...(limit.rate ? { rate: { count: divide(limit.rate.count), perMs: limit.rate.perMs } } : {}),
      });
      if (scaled.size > 10_000) scaled.clear();
      scaled.set(key, compiled);
    }
    return compiled;
  };

  /**
   * The check of a policy for this request. For a policy that counts by one thing (the usual
   * `key_by: [key]`, `[ip]`, …) the check is built once per policy and source value and reused,
   * frozen: a returning caller then costs no identity string, and the limiter plans a frozen
   * check only once (no storage-key string either). Policies counting by several things build
   * their identity per request. The cache hangs off the compiled policy, so a configuration
   * change starts it afresh.
   */
  const checkCache = new WeakMap<CompiledPolicy, Map<string, LimitCheck>>();
  const checkOf = (
    policy: CompiledPolicy,
    exchange: Exchange,
    route: CompiledRoute,
  ): LimitCheck | undefined => {
    if (policy.keyBy.length !== 1) {
      const identity = identityOf(policy, exchange, route);
      return identity === undefined ? undefined : { limit: policy.limit, identity };
    }
    const by = policy.keyBy[0] as KeyBy;
    const source = sourceOf(by, exchange, route);
    if (source === undefined) return undefined;
    let checks = checkCache.get(policy);
    if (checks === undefined) {
      checks = new Map();
      checkCache.set(policy, checks);
    }
    let check = checks.get(source);
    if (check === undefined) {
      check = Object.freeze({ limit: policy.limit, identity: partOf(by, source, policy) });
      if (checks.size >= MAX_CACHED_CHECKS) checks.clear();
      checks.set(source, check);
    }
    return check;
  };

  const conclude = (
    exchange: Exchange,
    applied: readonly CompiledPolicy[],
    checks: readonly LimitCheck[],
    result: CheckAllResult,
    source: RateLimiter,
  ): Deny | undefined => {
    const { headers, tightest } = rateLimitHeaders(applied, result.decisions);
    addResponseHeaders(exchange, headers);
    const t = result.decisions[tightest];
    if (t) {
      exchange.rateLimit = {
        policy: (applied[tightest] as CompiledPolicy).id,
        limit: t.limit,
        remaining: t.remaining,
        resetS: Math.ceil(t.resetMs / 1000),
      };
    }
    if (result.allowed) {
      if (result.leases.length > 0) {
        // Concurrency slots are held until the answer is complete (or the client aborts).
        const leases = result.leases;
        addFinish(exchange, () => void source.release(leases).catch(() => undefined));
      }
      // refund_on_5xx also gives back the key's remaining-uses credit (PRODUCT.md §7).
      const keyRecord = exchange.key?.key;
      if (options.usage && keyRecord && keyRecord.usesBudget !== null && applied.some((p) => p.refundOn5xx)) {
        const usage = options.usage;
        addFinish(exchange, (status) => {
          if (status >= 500 && status !== 503) void usage.refund(keyRecord).catch(() => undefined);
        });
      }
      const refundable = refundableChecks(applied, checks);
      if (refundable !== undefined) {
        addFinish(exchange, (status) => {
          // An upstream failure should not cost the caller (503 from ourselves excluded).
          if (status >= 500 && status !== 503) void source.refund(refundable).catch(() => undefined);
        });
      }
      return undefined;
    }
    const denying = applied.find((_, i) => !result.decisions[i]?.allowed);
    const code = denying?.limit.algorithm === 'quota' ? 'quota_exceeded' : 'rate_limited';
    // A denial answers with every header gathered so far (rate-limit state, degraded mode).
    return deny(
      code,
      code === 'quota_exceeded' ? 'the quota for this period is used up' : 'too many requests',
      exchange.responseHeaders,
    );
  };

  const degraded = (
    exchange: Exchange,
    applied: readonly CompiledPolicy[],
    checks: LimitCheck[],
    reason: unknown,
  ): Deny | undefined => {
    if (applied.some((p) => p.onStoreFailure === 'closed')) {
      options.onDegraded?.('closed');
      return deny('failsafe_closed', 'rate limits cannot be checked right now', [
        ['x-portcullis-degraded', 'closed'],
        ['retry-after', '1'],
      ]);
    }
    const localPolicies: CompiledPolicy[] = [];
    const localChecks: LimitCheck[] = [];
    const instances = options.liveInstances();
    applied.forEach((policy, i) => {
      if (policy.onStoreFailure === 'local' && local) {
        localPolicies.push(policy);
        localChecks.push({
          limit: localLimit(policy.limit, instances),
          identity: (checks[i] as LimitCheck).identity,
        });
      }
    });
    const mode: DegradedMode = localChecks.length > 0 ? 'local' : 'open';
    options.onDegraded?.(mode);
    addResponseHeaders(exchange, [['x-portcullis-degraded', mode]]);
    logger.debug({ err: reason, mode }, 'rate limiting degraded');
    if (localChecks.length === 0 || !local) return undefined;
    return conclude(exchange, localPolicies, localChecks, local.checkAllSync(localChecks), local);
  };

  return (exchange) => {
    const route = exchange.match?.route;
    if (!route) return undefined;
    const principal = exchange.principal;
    const applicable = policies.applicable(
      route,
      principal?.clientId,
      principal?.keyId,
      exchange.key?.key.policy,
    );
    if (applicable.length === 0) return undefined;

    const enforced: CompiledPolicy[] = [];
    const checks: LimitCheck[] = [];
    // Allocated only when a shadow policy applies (rare).
    let shadow: { policies: CompiledPolicy[]; checks: LimitCheck[] } | undefined;
    for (const policy of applicable) {
      const check = checkOf(policy, exchange, route);
      if (check === undefined) continue;
      if (policy.shadow) {
        shadow ??= { policies: [], checks: [] };
        shadow.policies.push(policy);
        shadow.checks.push(check);
      } else {
        enforced.push(policy);
        checks.push(check);
      }
    }
    if (shadow !== undefined) {
      const shadowPolicies = shadow.policies;
      // Shadow limits count on their own (a separate call: a shadow denial must not stop the
      // real limits from consuming) and never deny; what they would have done is recorded.
      limiter.checkAll(shadow.checks).then(
        (result) => {
          if (!result.allowed) {
            const ids = shadowPolicies.filter((_, i) => !result.decisions[i]?.allowed).map((p) => p.id);
            exchange.shadowDenied = ids;
            logger.info(
              { requestId: exchange.facts.requestId, policies: ids },
              'shadow rate limit would have denied',
            );
          }
        },
        () => undefined,
      );
    }
    if (checks.length === 0) return undefined;
    if (breaker && !breaker.allow()) return degraded(exchange, enforced, checks, 'circuit open');
    if (local === undefined && 'checkAllSync' in limiter) {
      return conclude(exchange, enforced, checks, (limiter as MemoryLimiter).checkAllSync(checks), limiter);
    }
    return limiter.checkAll(checks).then(
      (result) => {
        breaker?.success();
        return conclude(exchange, enforced, checks, result, limiter);
      },
      (error: unknown) => {
        if (!isLimiterUnavailable(error)) throw error;
        breaker?.failure();
        return degraded(exchange, enforced, checks, error);
      },
    );
  };
}
