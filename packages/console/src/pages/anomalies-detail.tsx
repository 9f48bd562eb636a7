/** One anomaly: what was seen and why it stands out, what was done about it, and resolving it. */
import { useState } from 'react';
import { Link } from 'wouter';
import { DataTable } from '../components/data-table';
import { IfCanWrite } from '../components/layout';
import { Badge, Loaded, PageHeader } from '../components/states';
import { api } from '../lib/api';
import { formatRelative, formatTime } from '../lib/format';
import { consoleHref } from '../lib/links';
import { useApi } from '../lib/use-api';
import { Evidence } from './anomalies-evidence';
import { ACTIONS, formatScore, identityLabel, SIGNALS } from './anomalies-format';
import { ResolveDialog } from './anomalies-resolve';

type Detail = Awaited<ReturnType<typeof api.get<'/admin/api/anomalies/{id}'>>>;

/** Pages of the console outside this nested route (wouter's "~" leaves the console's base too). */

const IDENTITY_KINDS: Record<Detail['identityKind'], string> = {
  key: 'Key',
  client: 'Client',
  user: 'User',
  ip: 'Address',
};

function IdentityLink({ anomaly }: { anomaly: Detail }) {
  const id = encodeURIComponent(anomaly.identity);
  if (anomaly.identityKind === 'key')
    return <Link href={consoleHref(`/keys/${id}`)}>{anomaly.identity}</Link>;
  if (anomaly.identityKind === 'client')
    return <Link href={consoleHref(`/clients/${id}`)}>{anomaly.identity}</Link>;
  return <code>{anomaly.identity}</code>;
}

function Facts({ anomaly }: { anomaly: Detail }) {
  const action = ACTIONS[anomaly.action];
  return (
    <dl className="anomaly-facts">
      <div>
        <dt>Status</dt>
        <dd>
          <Badge tone={anomaly.status === 'open' ? 'bad' : 'ok'}>{anomaly.status}</Badge>
        </dd>
      </div>
      <div>
        <dt>Signal</dt>
        <dd>{SIGNALS[anomaly.signal]}</dd>
      </div>
      <div>
        <dt>{IDENTITY_KINDS[anomaly.identityKind]}</dt>
        <dd>
          <IdentityLink anomaly={anomaly} />
        </dd>
      </div>
      <div>
        <dt>Score</dt>
        <dd>{formatScore(anomaly.score)}</dd>
      </div>
      <div>
        <dt>Action taken</dt>
        <dd>
          <Badge tone={action.tone}>{action.label}</Badge>
        </dd>
      </div>
      <div>
        <dt>Detected</dt>
        <dd>
          <time dateTime={anomaly.detectedAt}>{formatTime(anomaly.detectedAt)}</time>
        </dd>
      </div>
      <div>
        <dt>Last seen</dt>
        <dd>
          <time dateTime={anomaly.lastSeenAt}>{formatRelative(anomaly.lastSeenAt)}</time>
          {anomaly.occurrences > 1 ? ` (${anomaly.occurrences} intervals)` : null}
        </dd>
      </div>
      <div>
        <dt>Interval</dt>
        <dd>{Math.round(anomaly.intervalMs / 1000)} s</dd>
      </div>
    </dl>
  );
}

function BlockMade({ anomaly }: { anomaly: Detail }) {
  const { block } = anomaly;
  return (
    <section className="anomaly-section" aria-labelledby="block-title">
      <h2 id="block-title">Block</h2>
      {block ? (
        <p>
          <Badge tone="bad">in force</Badge> {block.kind} <code>{block.value}</code> is refused:{' '}
          {block.reason}. {block.expiresAt ? `Lifts ${formatRelative(block.expiresAt)}.` : 'Until lifted.'}{' '}
          <Link href={consoleHref(`/blocks`)}>Open the blocklist</Link>
        </p>
      ) : anomaly.blockId ? (
        <p className="muted">
          The block it made (<code>{anomaly.blockId}</code>) is no longer in force: lifted or expired.
        </p>
      ) : (
        <p className="muted">No block was made for it (action: {ACTIONS[anomaly.action].label}).</p>
      )}
    </section>
  );
}

function Deliveries({ anomaly }: { anomaly: Detail }) {
  return (
    <section className="anomaly-section" aria-labelledby="deliveries-title">
      <h2 id="deliveries-title">Alert deliveries</h2>
      {anomaly.deliveries.length === 0 ? (
        <p className="muted">
          {anomaly.alertId
            ? 'No delivery recorded yet for its alert.'
            : 'No alert was sent (no alert destination configured, or the rule only records).'}
        </p>
      ) : (
        <DataTable
          caption="Alert deliveries"
          rows={anomaly.deliveries}
          rowKey={(d) => d.id}
          columns={[
            { header: 'Kind', cell: (d) => d.kind },
            { header: 'Destination', cell: (d) => <code>{d.url}</code> },
            {
              header: 'Result',
              cell: (d) => <Badge tone={d.status === 'delivered' ? 'ok' : 'bad'}>{d.status}</Badge>,
            },
            { header: 'Attempts', numeric: true, cell: (d) => d.attempts },
            {
              header: 'Last answer',
              cell: (d) => d.lastError ?? (d.lastStatus ? `HTTP ${d.lastStatus}` : '—'),
            },
            { header: 'Finished', cell: (d) => formatTime(d.finishedAt) },
          ]}
        />
      )}
    </section>
  );
}

function Resolution({ anomaly }: { anomaly: Detail }) {
  if (anomaly.status !== 'resolved') return null;
  return (
    <p className="notice-inline">
      Resolved {formatTime(anomaly.resolvedAt)}
      {anomaly.resolvedBy ? ` by ${anomaly.resolvedBy}` : ''}
      {anomaly.resolutionNote ? `: ${anomaly.resolutionNote}` : '.'}
    </p>
  );
}

export function AnomalyDetail({ id }: { id: string }) {
  const detail = useApi((signal) => api.get('/admin/api/anomalies/{id}', { params: { id }, signal }), [id]);
  const [resolving, setResolving] = useState(false);
  const [outcome, setOutcome] = useState<string | null>(null);

  return (
    <>
      <p className="anomaly-back">
        <Link href="/">← All anomalies</Link>
      </p>
      <Loaded state={detail}>
        {(anomaly) => (
          <>
            <PageHeader
              title={`${SIGNALS[anomaly.signal]}: ${identityLabel(anomaly)}`}
              subtitle={`Detected ${formatRelative(anomaly.detectedAt)}, score ${formatScore(anomaly.score)}`}
              actions={
                anomaly.status === 'open' ? (
                  <IfCanWrite>
                    <button type="button" onClick={() => setResolving(true)}>
                      Resolve
                    </button>
                  </IfCanWrite>
                ) : null
              }
            />
            {outcome ? (
              <p className="notice-inline" role="status">
                {outcome}
              </p>
            ) : null}
            <p className="anomaly-explanation">{anomaly.explanation}</p>
            <Resolution anomaly={anomaly} />
            <Facts anomaly={anomaly} />
            <Evidence anomaly={anomaly} />
            <BlockMade anomaly={anomaly} />
            <Deliveries anomaly={anomaly} />
            <ResolveDialog
              open={resolving}
              anomaly={anomaly}
              onClose={() => setResolving(false)}
              onResolved={(text) => {
                setOutcome(text);
                detail.reload();
              }}
            />
          </>
        )}
      </Loaded>
    </>
  );
}
