/** Ranked counts of the window: what was refused and why, and who and what carried the traffic. */
import { BarList } from '../components/chart';
import type { Schemas } from '../lib/api';
import { consoleHref } from '../lib/links';

type Stats = Schemas['Stats'];

export function TopLists({ stats }: { stats: Stats }) {
  return (
    <div className="dash-top">
      <BarList
        title="Denials by reason"
        tone="bad"
        items={stats.deniedByReason.map((d) => ({ label: d.code, value: d.count }))}
        empty="No request was refused."
      />
      <BarList
        title="Top keys"
        items={stats.topKeys.map((k) => ({
          label: k.keyId,
          value: k.count,
          href: consoleHref(`/keys/${encodeURIComponent(k.keyId)}`),
        }))}
        empty="No request carried a key."
      />
      <BarList
        title="Top routes"
        items={stats.topRoutes.map((r) => ({ label: r.routeId, value: r.count }))}
        empty="No request matched a route."
      />
    </div>
  );
}
