/**
 * Rate-limit response headers. Pinned revision: draft-ietf-httpapi-ratelimit-headers-09
 * (structured fields): `RateLimit-Policy: "<policy>";q=<quota>;w=<window s>` for every policy
 * that applied, and `RateLimit: "<policy>";r=<remaining>;t=<seconds to reset>` for the
 * tightest one. Also the widespread `X-RateLimit-Limit`, `-Remaining` and `-Reset` (seconds
 * until reset, like `t`), and `Retry-After` (seconds) on 429.
 */

import type { CompiledPolicy } from './policy.js';
import type { LimitDecision } from './types.js';

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
  const resetS = Math.ceil(decision.resetMs / 1000);
  const headers: Array<[string, string]> = [
    ['ratelimit-policy', policies.map((p) => `"${p.id}";q=${p.quota};w=${p.windowS}`).join(', ')],
    ['ratelimit', `"${policy.id}";r=${decision.remaining};t=${resetS}`],
    ['x-ratelimit-limit', String(decision.limit)],
    ['x-ratelimit-remaining', String(decision.remaining)],
    ['x-ratelimit-reset', String(resetS)],
  ];
  // A request passes only when every limit does: retry after the longest wait among denials.
  let retryAfterMs = 0;
  for (const d of decisions)
    if (!d.allowed && d.retryAfterMs !== undefined) retryAfterMs = Math.max(retryAfterMs, d.retryAfterMs);
  if (!decision.allowed) headers.push(['retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000)))]);
  return { headers, tightest };
}
