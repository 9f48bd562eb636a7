/**
 * Dashboard: the traffic of a recent window (requests by decision, latency, denials, top keys
 * and routes) and what needs attention (blocks, open anomalies, intercepts). Refreshes every
 * 10 s while the tab is visible; the window is kept in the address (`?window=6h`) so a
 * reload or a shared link shows the same view.
 */
import { useSearchParams } from 'wouter';
import { Select } from '../components/field';
import { Loaded, PageHeader } from '../components/states';
import { api } from '../lib/api';
import { useApi } from '../lib/use-api';
import { StatCards } from './dashboard-cards';
import { LatencyChart, RequestsChart } from './dashboard-charts';
import { FirstRequestHint } from './dashboard-empty';
import { DEFAULT_PERIOD, PERIODS, periodOf } from './dashboard-period';
import { RecentAnomalies, RecentIntercepts } from './dashboard-recent';
import { TopLists } from './dashboard-top';
import './dashboard.css';

const REFRESH_MS = 10_000;

export function DashboardPage() {
  const [params, setParams] = useSearchParams();
  const period = periodOf(params.get('window'));
  const stats = useApi(
    (signal) => api.get('/admin/api/stats', { query: { since: period }, signal }),
    [period],
    {
      refreshMs: REFRESH_MS,
    },
  );

  return (
    <>
      <PageHeader
        title="Dashboard"
        subtitle="Traffic through the gateway, refreshed every 10 seconds."
        actions={
          <div className="dash-window">
            <Select
              label="Window"
              value={period}
              options={PERIODS}
              onChange={(event) =>
                setParams(event.target.value === DEFAULT_PERIOD ? {} : { window: event.target.value }, {
                  replace: true,
                })
              }
            />
          </div>
        }
      />
      <Loaded state={stats}>
        {(data) => (
          <>
            <StatCards stats={data} period={period} />
            {data.totals.requests === 0 ? <FirstRequestHint period={period} /> : null}
            <div className="dash-charts">
              <RequestsChart stats={data} period={period} />
              <LatencyChart stats={data} period={period} />
            </div>
            <TopLists stats={data} />
          </>
        )}
      </Loaded>
      <div className="dash-recent">
        <RecentAnomalies refreshMs={REFRESH_MS} />
        <RecentIntercepts refreshMs={REFRESH_MS} />
      </div>
    </>
  );
}
