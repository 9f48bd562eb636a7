/**
 * The evidence of an anomaly: the figures (observed, expected ± σ, threshold, whose baseline)
 * and a chart of the recent intervals against the baseline and the threshold.
 *
 * The detector's `series` always counts requests, while observed/expected/threshold are in the
 * signal's own metric (addresses, failures, an error ratio…). Only for `requests` do they share
 * an axis; for the others the comparison is drawn as bars and the series shown as context.
 */
import { useMemo } from 'react';
import { BarList, type Series, TimeChart } from '../components/chart';
import type { Schemas } from '../lib/api';

type Anomaly = Schemas['Anomaly'];

const METRICS: Record<string, string> = {
  requests: 'requests',
  auth_failures: 'failed authentications',
  rate_limited: 'rate-limit refusals',
  distinct_ips: 'distinct addresses',
  error_ratio: 'error ratio',
};

const number = (value: number | undefined) =>
  value === undefined ? '—' : new Intl.NumberFormat(undefined, { maximumFractionDigits: 4 }).format(value);

/** Start times of the series' intervals: the last one is the anomaly's own interval. */
function intervalTimes(a: Anomaly, length: number): number[] {
  const last = Date.parse(a.bucketStart);
  return Array.from({ length }, (_, i) => last - (length - 1 - i) * a.intervalMs);
}

export function Evidence({ anomaly }: { anomaly: Anomaly }) {
  const ev = anomaly.evidence;
  const metric = ev.metric ?? 'requests';
  const metricLabel = METRICS[metric] ?? metric;
  const observed = ev.observed ?? anomaly.observed;
  const expected = ev.expected ?? anomaly.expected;
  const threshold = ev.threshold;
  const series = ev.series ?? [];
  const sameAxis = metric === 'requests' && series.length >= 2;
  const seconds = Math.round(anomaly.intervalMs / 1000);

  const chart = useMemo(() => {
    const times = intervalTimes(anomaly, series.length);
    const lines: Series[] = [{ label: 'Requests', values: series, color: 'var(--chart-p50)', fill: true }];
    if (sameAxis) {
      lines.push({
        label: 'Expected',
        values: series.map(() => expected),
        color: 'var(--chart-baseline)',
        dashed: true,
      });
      if (threshold !== undefined)
        lines.push({
          label: 'Threshold',
          values: series.map(() => threshold),
          color: 'var(--chart-error)',
          dashed: true,
        });
    }
    return { times, lines };
  }, [anomaly, series, sameAxis, expected, threshold]);

  const previous = series.slice(0, -1);
  const seriesText = `${series.length} intervals of ${seconds} s, oldest first: ${series.join(', ')}`;

  return (
    <section className="anomaly-section" aria-labelledby="evidence-title">
      <h2 id="evidence-title">Evidence</h2>
      <dl className="anomaly-figures">
        <div>
          <dt>Observed</dt>
          <dd>
            {number(observed)} <small className="muted">{metricLabel}</small>
          </dd>
        </div>
        <div>
          <dt>Expected</dt>
          <dd>
            {number(expected)}
            {ev.stddev !== undefined ? <small className="muted"> ± {number(ev.stddev)}</small> : null}
          </dd>
        </div>
        <div>
          <dt>Threshold</dt>
          <dd>{number(threshold)}</dd>
        </div>
        <div>
          <dt>Baseline</dt>
          <dd className="anomaly-text">
            {ev.history === 'floor'
              ? 'global floor (too new for its own)'
              : ev.history === 'own'
                ? 'its own history'
                : (ev.history ?? '—')}
          </dd>
        </div>
      </dl>
      {sameAxis ? (
        <TimeChart
          title="Observed vs baseline"
          times={chart.times}
          series={chart.lines}
          summary={`${number(observed)} requests in the anomaly's interval against an expected ${number(expected)}${threshold !== undefined ? ` (threshold ${number(threshold)})` : ''}; the ${previous.length} intervals before: ${previous.join(', ') || 'none'}`}
        />
      ) : (
        <>
          <BarList
            title="Observed vs baseline"
            items={[
              { label: 'Observed', value: observed },
              { label: 'Expected', value: expected },
              ...(threshold !== undefined ? [{ label: 'Threshold', value: threshold }] : []),
            ]}
          />
          {series.length >= 2 ? (
            <TimeChart
              title={`Requests per ${seconds} s interval`}
              times={chart.times}
              series={chart.lines}
              summary={seriesText}
            />
          ) : null}
        </>
      )}
    </section>
  );
}
