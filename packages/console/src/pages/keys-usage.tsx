/**
 * One key's traffic over time (GET /keys/{id}/usage): requests and refusals per minute, hour
 * or day. Buckets come back only where there was traffic, so the quiet ones are filled with
 * zeros: a flat line reads as "nothing happened", a gap would read as "no data".
 */
import { useMemo, useState } from 'react';
import { type Series, TimeChart } from '../components/chart';
import { Select } from '../components/field';
import { EmptyState, Loaded } from '../components/states';
import { api, type Schemas } from '../lib/api';
import { formatNumber } from '../lib/format';
import { useApi } from '../lib/use-api';

type Grain = 'minute' | 'hour' | 'day';

const GRAINS: Record<Grain, { since: string; step: number; label: string; span: string }> = {
  minute: { since: '2h', step: 60_000, label: 'Per minute, last 2 hours', span: 'the last 2 hours' },
  hour: { since: '24h', step: 3_600_000, label: 'Per hour, last 24 hours', span: 'the last 24 hours' },
  day: { since: '30d', step: 86_400_000, label: 'Per day, last 30 days', span: 'the last 30 days' },
};

export function KeyUsage({ id }: { id: string }) {
  const [grain, setGrain] = useState<Grain>('hour');
  const usage = useApi(
    (signal) =>
      api.get('/admin/api/keys/{id}/usage', {
        params: { id },
        query: { since: GRAINS[grain].since, by: grain },
        signal,
      }),
    [id, grain],
    { refreshMs: 60_000 },
  );
  return (
    <section aria-labelledby="key-usage-heading">
      <div className="kv-section-head">
        <h2 id="key-usage-heading">Usage</h2>
        <Select
          label="Resolution"
          value={grain}
          onChange={(event) => setGrain(event.target.value as Grain)}
          options={(Object.keys(GRAINS) as Grain[]).map((value) => ({ value, label: GRAINS[value].label }))}
        />
      </div>
      <Loaded state={usage}>{(data) => <UsageChart usage={data} grain={grain} />}</Loaded>
    </section>
  );
}

function UsageChart({ usage, grain }: { usage: Schemas['Usage']; grain: Grain }) {
  const { times, series, total, refused } = useMemo(() => {
    const { step } = GRAINS[grain];
    const byTime = new Map(usage.buckets.map((b) => [new Date(b.bucket).getTime(), b]));
    const end = Math.floor(new Date(usage.until ?? Date.now()).getTime() / step) * step;
    const start = Math.floor(new Date(usage.since).getTime() / step) * step;
    const times: number[] = [];
    const requests: number[] = [];
    const denied: number[] = [];
    for (let t = start; t <= end; t += step) {
      const bucket = byTime.get(t);
      times.push(t);
      requests.push(bucket?.requests ?? 0);
      denied.push(bucket ? Object.values(bucket.denied).reduce((sum, n) => sum + n, 0) : 0);
    }
    const series: Series[] = [
      { label: 'Requests', values: requests, color: 'var(--chart-allowed)', fill: true },
      { label: 'Refused', values: denied, color: 'var(--chart-denied)' },
    ];
    const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
    return { times, series, total: sum(requests), refused: sum(denied) };
  }, [usage, grain]);

  if (total === 0) {
    return (
      <EmptyState title="No usage yet">
        No request used this key in {GRAINS[grain].span}. Requests show up here within a minute.
      </EmptyState>
    );
  }
  return (
    <TimeChart
      title={`Requests with this key, ${GRAINS[grain].label.toLowerCase()}`}
      times={times}
      series={series}
      summary={`${formatNumber(total)} requests, ${formatNumber(refused)} refused, in ${GRAINS[grain].span}.`}
    />
  );
}
