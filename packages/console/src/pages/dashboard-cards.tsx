/** The dashboard's headline figures; the ones that need attention link to where it is given. */
import type { ReactNode } from 'react';
import { Link } from 'wouter';
import type { Schemas } from '../lib/api';
import { formatMs, formatNumber } from '../lib/format';
import type { Period } from './dashboard-period';

type Stats = Schemas['Stats'];

function Card({
  title,
  value,
  detail,
  href,
  linkText,
  tone,
}: {
  title: string;
  value: string;
  detail?: ReactNode;
  href?: string;
  linkText?: string;
  tone?: 'warn' | 'bad';
}) {
  return (
    <article className={tone ? `dash-card ${tone}` : 'dash-card'}>
      <h2>{title}</h2>
      <p className="stat">{value}</p>
      {detail ? <p className="muted">{detail}</p> : null}
      {href ? <Link href={href}>{linkText}</Link> : null}
    </article>
  );
}

export function deniedPercent(totals: Stats['totals']): string {
  if (totals.requests === 0) return '—';
  const percent = (totals.denied / totals.requests) * 100;
  return `${percent < 10 && percent > 0 ? percent.toFixed(1) : Math.round(percent)} %`;
}

export function StatCards({ stats, period }: { stats: Stats; period: Period }) {
  const { totals } = stats;
  return (
    <section className="dash-cards" aria-label="Summary">
      <Card
        title="Requests"
        value={formatNumber(totals.requests)}
        detail={`in the last ${period}: ${formatNumber(totals.allowed)} allowed, ${formatNumber(totals.errored)} errored`}
      />
      <Card
        title="Denied"
        value={deniedPercent(totals)}
        detail={`${formatNumber(totals.denied)} refused by a check`}
        tone={totals.denied > 0 ? 'warn' : undefined}
      />
      <Card title="Latency p99" value={formatMs(totals.p99Ms)} detail={`p50 ${formatMs(totals.p50Ms)}`} />
      <Card
        title="Active blocks"
        value={formatNumber(stats.activeBlocks)}
        href="/blocks"
        linkText="Open the blocklist"
      />
      <Card
        title="Open anomalies"
        value={formatNumber(stats.openAnomalies)}
        href="/anomalies"
        linkText="Review anomalies"
        tone={stats.openAnomalies > 0 ? 'bad' : undefined}
      />
      <Card
        title="Intercepts"
        value={formatNumber(stats.intercepts)}
        detail={`bound keys used elsewhere, last ${period}`}
        href="/bindings"
        linkText="See bindings"
        tone={stats.intercepts > 0 ? 'warn' : undefined}
      />
    </section>
  );
}
