/** The latest anomalies and binding intercepts, each linking to where it is dealt with. */
import { Link } from 'wouter';
import { Badge, Loaded } from '../components/states';
import { api } from '../lib/api';
import { formatRelative, formatTime } from '../lib/format';
import { useApi } from '../lib/use-api';
import { formatScore, identityLabel, SIGNALS } from './anomalies-format';

const RECENT = 5;

export function RecentAnomalies({ refreshMs }: { refreshMs: number }) {
  const anomalies = useApi(
    (signal) => api.get('/admin/api/anomalies', { query: { limit: RECENT }, signal }),
    [],
    { refreshMs },
  );
  return (
    <section className="dash-list" aria-labelledby="dash-anomalies">
      <h2 id="dash-anomalies">Recent anomalies</h2>
      <Loaded state={anomalies}>
        {({ items }) =>
          items.length === 0 ? (
            <p className="muted">
              Nothing unusual found. Anomaly detection reports bursts, credential stuffing, error spikes and
              shared keys here.
            </p>
          ) : (
            <ul>
              {items.map((a) => (
                <li key={a.id}>
                  <Link href={`/anomalies/${encodeURIComponent(a.id)}`}>
                    {SIGNALS[a.signal]}: {identityLabel(a)}
                  </Link>{' '}
                  <Badge tone={a.status === 'open' ? 'bad' : 'ok'}>{a.status}</Badge>
                  <br />
                  <small className="muted">
                    <time dateTime={a.detectedAt} title={formatTime(a.detectedAt)}>
                      {formatRelative(a.detectedAt)}
                    </time>{' '}
                    · score {formatScore(a.score)} · {a.action}
                  </small>
                </li>
              ))}
            </ul>
          )
        }
      </Loaded>
      <Link href="/anomalies">All anomalies</Link>
    </section>
  );
}

export function RecentIntercepts({ refreshMs }: { refreshMs: number }) {
  const intercepts = useApi(
    (signal) => api.get('/admin/api/intercepts', { query: { limit: RECENT }, signal }),
    [],
    { refreshMs },
  );
  return (
    <section className="dash-list" aria-labelledby="dash-intercepts">
      <h2 id="dash-intercepts">Recent intercepts</h2>
      <Loaded state={intercepts}>
        {({ items }) =>
          items.length === 0 ? (
            <p className="muted">No bound key was used from another address.</p>
          ) : (
            <ul>
              {items.map((i) => (
                <li key={`${i.at} ${i.requestId}`}>
                  <Link href={`/keys/${encodeURIComponent(i.key)}`}>{i.key}</Link> used from{' '}
                  <code>{i.ip}</code>
                  <br />
                  <small className="muted">
                    <time dateTime={i.at} title={formatTime(i.at)}>
                      {formatRelative(i.at)}
                    </time>{' '}
                    · bound to {i.bound.join(', ') || 'nothing'} · {i.method} {i.path}
                  </small>
                </li>
              ))}
            </ul>
          )
        }
      </Loaded>
      <Link href="/bindings">All bindings and intercepts</Link>
    </section>
  );
}
