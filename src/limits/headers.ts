/**
 * Rate-limit response headers. Pinned revision: draft-ietf-httpapi-ratelimit-headers-09
 * (structured fields): `RateLimit-Policy: "<policy>";q=<quota>;w=<window s>` for every policy
 * that applied, and `RateLimit: "<policy>";r=<remaining>;t=<seconds to reset>` for the
 * tightest one. Also the widespread `X-RateLimit-Limit`, `-Remaining` and `-Reset` (seconds
 * until reset, like `t`), and `Retry-After` (seconds) on 429.
 */

import type { CompiledPolicy } from './policy.js';
import type { LimitDecision } from './types.js';

/**
 * The parts of a policy's header values that only depend on the policy, built on first use
 * rather than formatted again for every request (policies are compiled once per configuration
 * change; a replaced policy object drops its entry with it).
 */
interface PolicyText {
  /** Its `RateLimit-Policy` item: `"<id>";q=<quota>;w=<window s>`. */
  readonly item: string;
  /** The start of its `RateLimit` value: `"<id>";r=`. */
  readonly rateLimitPrefix: string;
}
const texts = new WeakMap<CompiledPolicy, PolicyText>();

function textOf(policy: CompiledPolicy): PolicyText {
  let text = texts.get(policy);
  if (text === undefined) {
    text = {
      item: `"${policy.id}";q=${policy.quota};w=${policy.windowS}`,
      rateLimitPrefix: `"${policy.id}";r=`,
    };
    texts.set(policy, text);
  }
  return text;
}

function policyHeader(policies: readonly CompiledPolicy[]): string {
  if (policies.length === 1) return textOf(policies[0] as CompiledPolicy).item;
  return policies.map((p) => textOf(p).item).join(', ');
}

export function rateLimitHeaders(
  policies: readonly CompiledPolicy[],
  decisions: readonly LimitDecision[],
): { headers: Array<[string, string]>; tightest: number } {
  if (policies.length === 0) return { headers: [], tightest: 0 };
  let tightest = 0;
  for (let i = 1; i < decisions.length; i++) {
    const d = decisions[i] as LimitDecision;
    const t = decisions[tightest] as LimitDecision;
    if (!d.allowed && t.allowed) tightest = i;
    else if (d.allowed === t.allowed && d.remaining / d.limit < t.remaining / t.limit) tightest = i;
  }
  const policy = policies[tightest] as CompiledPolicy;
  const decision = decisions[tightest] as LimitDecision;
  const resetS = String(Math.ceil(decision.resetMs / 1000));
  const remaining = String(decision.remaining);
  const headers: Array<[string, string]> = [
    ['ratelimit-policy', policyHeader(policies)],
    ['ratelimit', `${textOf(policy).rateLimitPrefix}${remaining};t=${resetS}`],
    ['x-ratelimit-limit', String(decision.limit)],
    ['x-ratelimit-remaining', remaining],
    ['x-ratelimit-reset', resetS],
  ];
  // A request passes only when every limit does: retry after the longest wait among denials.
  let retryAfterMs = 0;
  for (const d of decisions)
    if (!d.allowed && d.retryAfterMs !== undefined) retryAfterMs = Math.max(retryAfterMs, d.retryAfterMs);
  if (!decision.allowed) headers.push(['retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000)))]);
  return { headers, tightest };
}
