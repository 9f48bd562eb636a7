/** The dashboard's time series: requests per minute by decision, and latency percentiles. */
import { useMemo } from 'react';
import { type Series, TimeChart } from '../components/chart';
import type { Schemas } from '../lib/api';
import { formatMs } from '../lib/format';
import type { Period } from './dashboard-period';

type Stats = Schemas['Stats'];

/**
 * The requests chart's text summary. The end-to-end test reads it (the figure's aria-label)
 * to see a request arrive, so it keeps this exact shape, with plain digits.
 */
export function requestsSummary(totals: Stats['totals'], period: Period): string {
  return `${totals.requests} requests in the last ${period}: ${totals.allowed} allowed, ${totals.denied} denied, ${totals.errored} errored`;
}

export function RequestsChart({ stats, period }: { stats: Stats; period: Period }) {
  const { times, series } = useMemo(() => {
    const buckets = stats.buckets;
    return {
      times: buckets.map((b) => Date.parse(b.at)),
      series: [
        {
          label: 'Allowed',
          values: buckets.map((b) => b.allowed),
          color: 'var(--chart-allowed)',
          fill: true,
        },
        { label: 'Denied', values: buckets.map((b) => b.denied), color: 'var(--chart-denied)' },
        { label: 'Errored', values: buckets.map((b) => b.errored), color: 'var(--chart-error)' },
      ] satisfies Series[],
    };
  }, [stats.buckets]);
  return (
    <TimeChart
      title="Requests per minute"
      times={times}
      series={series}
      summary={requestsSummary(stats.totals, period)}
    />
  );
}

export function LatencyChart({ stats, period }: { stats: Stats; period: Period }) {
  // The minutes with requests, between the window's first and last minute (kept, empty, so the
  // time axis spans the window like the requests chart): a quiet minute has no latency, and
  // busy minutes between quiet ones would otherwise draw no line at all.
  const { times, series } = useMemo(() => {
    const all = stats.buckets;
    const shown = all.filter((b, i) => b.p50Ms !== null || i === 0 || i === all.length - 1);
    return {
      times: shown.map((b) => Date.parse(b.at)),
      series: [
        { label: 'p50', values: shown.map((b) => b.p50Ms), color: 'var(--chart-p50)' },
        { label: 'p99', values: shown.map((b) => b.p99Ms), color: 'var(--chart-p99)' },
      ] satisfies Series[],
    };
  }, [stats.buckets]);
  const { totals } = stats;
  const summary =
    totals.requests === 0
      ? `no requests in the last ${period}`
      : `p50 ${formatMs(totals.p50Ms)}, p99 ${formatMs(totals.p99Ms)} over the last ${period} (histogram estimates, by minute with requests)`;
  return <TimeChart title="Latency" times={times} series={series} summary={summary} unit=" ms" />;
}
