/** The list of anomalies, newest first, filtered by status and signal (kept in the address). */
import { useState } from 'react';
import { Link, useSearchParams } from 'wouter';
import { PagedTable } from '../components/data-table';
import { Select } from '../components/field';
import { IfCanWrite } from '../components/layout';
import { Badge, PageHeader } from '../components/states';
import { api, type Schemas } from '../lib/api';
import { formatRelative, formatTime } from '../lib/format';
import { usePaged } from '../lib/use-paged';
import { ACTIONS, formatScore, SIGNALS } from './anomalies-format';
import { RunDetectionButton, type RunOutcome, RunOutcomeNotice } from './anomalies-run';

type Anomaly = Schemas['Anomaly'];
type Status = Anomaly['status'];
type Signal = Anomaly['signal'];

const STATUSES = [
  { value: '', label: 'All statuses' },
  { value: 'open', label: 'Open' },
  { value: 'resolved', label: 'Resolved' },
];

function isSignal(value: string | null): value is Signal {
  return value !== null && value in SIGNALS;
}

export function AnomalyList() {
  const [params, setParams] = useSearchParams();
  const status = params.get('status');
  const statusFilter: Status | undefined = status === 'open' || status === 'resolved' ? status : undefined;
  const signal = params.get('signal');
  const signalFilter = isSignal(signal) ? signal : undefined;
  const anomalies = usePaged(
    (cursor, abort) =>
      api.get('/admin/api/anomalies', {
        query: { limit: 50, cursor, status: statusFilter, signal: signalFilter },
        signal: abort,
      }),
    [statusFilter, signalFilter],
  );
  const setFilter = (name: 'status' | 'signal', value: string) =>
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        if (value) next.set(name, value);
        else next.delete(name);
        return next;
      },
      { replace: true },
    );
  const filtered = statusFilter !== undefined || signalFilter !== undefined;
  const [outcome, setOutcome] = useState<RunOutcome | null>(null);

  return (
    <>
      <PageHeader
        title="Anomalies"
        subtitle="Unusual traffic found by anomaly detection, with the evidence. Resolving one lifts the block it made."
        actions={
          <IfCanWrite>
            <RunDetectionButton
              onOutcome={(result) => {
                setOutcome(result);
                if (result.ok) anomalies.reload();
              }}
            />
          </IfCanWrite>
        }
      />
      {outcome ? <RunOutcomeNotice outcome={outcome} onDismiss={() => setOutcome(null)} /> : null}
      <div className="filters">
        <Select
          label="Status"
          value={statusFilter ?? ''}
          onChange={(event) => setFilter('status', event.target.value)}
          options={STATUSES}
        />
        <Select
          label="Signal"
          value={signalFilter ?? ''}
          onChange={(event) => setFilter('signal', event.target.value)}
          options={[
            { value: '', label: 'All signals' },
            ...Object.entries(SIGNALS).map(([value, label]) => ({ value, label })),
          ]}
        />
      </div>
      <PagedTable
        state={anomalies}
        empty={{
          title: filtered ? 'No anomalies match these filters' : 'No anomalies',
          hint: filtered ? (
            'Try all statuses or all signals.'
          ) : (
            <>
              Nothing unusual was found. The detector compares each key, client, user and address with its own
              usual traffic every interval. To see it at work, run <code>portcullis anomaly smoke</code> on
              the gateway&apos;s host.
            </>
          ),
        }}
        caption="Anomalies"
        rowKey={(row) => row.id}
        columns={[
          {
            header: 'Detected',
            cell: (row) => (
              <Link href={`/${encodeURIComponent(row.id)}`} title={formatRelative(row.detectedAt)}>
                {formatTime(row.detectedAt)}
              </Link>
            ),
          },
          { header: 'Signal', cell: (row) => SIGNALS[row.signal] },
          {
            header: 'Identity',
            cell: (row) => (
              <>
                <span className="muted">{row.identityKind}</span> <code>{row.identity}</code>
              </>
            ),
          },
          { header: 'Score', numeric: true, cell: (row) => formatScore(row.score) },
          {
            header: 'Action',
            cell: (row) => <Badge tone={ACTIONS[row.action].tone}>{ACTIONS[row.action].label}</Badge>,
          },
          {
            header: 'Status',
            cell: (row) => (
              <Badge tone={row.status === 'open' ? 'bad' : 'ok'}>
                {row.status}
                {row.occurrences > 1 ? ` ×${row.occurrences}` : ''}
              </Badge>
            ),
          },
        ]}
      />
    </>
  );
}
