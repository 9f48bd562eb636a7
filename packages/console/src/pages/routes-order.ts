/**
 * The order in which the gateway considers routes (docs/routing.md, "Matching and priority"),
 * recomputed here for display: the API stores no priority, the matcher derives it from the
 * host and the path shape. Host tier first (exact > wildcard, longer suffix first > any),
 * then the path (exact > parameter, static segments before parameters > longer prefix).
 */
import type { Schemas } from '../lib/api';

type Route = Schemas['Route'];

export interface Priority {
  /** 1 = considered first. */
  rank: number;
  /** "exact host · exact path" */
  label: string;
}

function hostTier(host: string): { tier: number; label: string; weight: number } {
  if (host === '*' || host === '') return { tier: 2, label: 'any host', weight: 0 };
  if (host.startsWith('*.')) return { tier: 1, label: 'wildcard host', weight: host.length };
  return { tier: 0, label: 'exact host', weight: 0 };
}

function pathShape(path: string): { tier: number; label: string; segments: string[] } {
  if (path.endsWith('/*')) {
    return { tier: 2, label: 'prefix path', segments: path.slice(0, -2).split('/').filter(Boolean) };
  }
  const segments = path.split('/').filter(Boolean);
  if (segments.some((segment) => segment.startsWith(':')))
    return { tier: 1, label: 'parameter path', segments };
  return { tier: 0, label: 'exact path', segments };
}

/** Negative when `a` is considered before `b`. */
function compare(a: Route, b: Route): number {
  const ha = hostTier(a.host);
  const hb = hostTier(b.host);
  if (ha.tier !== hb.tier) return ha.tier - hb.tier;
  if (ha.weight !== hb.weight) return hb.weight - ha.weight;
  const pa = pathShape(a.path);
  const pb = pathShape(b.path);
  if (pa.tier !== pb.tier) return pa.tier - pb.tier;
  if (pa.tier === 1) {
    // At each segment a static segment is preferred over a parameter.
    const n = Math.min(pa.segments.length, pb.segments.length);
    for (let i = 0; i < n; i++) {
      const sa = pa.segments[i]?.startsWith(':') ? 1 : 0;
      const sb = pb.segments[i]?.startsWith(':') ? 1 : 0;
      if (sa !== sb) return sa - sb;
    }
  }
  if (pa.tier === 2 && pa.segments.length !== pb.segments.length)
    return pb.segments.length - pa.segments.length;
  return a.id.localeCompare(b.id);
}

/** Each route's place in the matching order, by route id. */
export function priorities(routes: readonly Route[]): Map<string, Priority> {
  const sorted = [...routes].sort(compare);
  return new Map(
    sorted.map((route, index) => [
      route.id,
      { rank: index + 1, label: `${hostTier(route.host).label} · ${pathShape(route.path).label}` },
    ]),
  );
}
