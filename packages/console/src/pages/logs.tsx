/**
 * Logs: every decision the gateway made (allowed, denied, errored), newest first, filtered by
 * the address's query string (shareable, survives a reload), with a live tail and CSV/NDJSON
 * exports of the same filters. Reading only: viewers see all of it.
 */
import { Fragment, useMemo, useState } from 'react';
import { Dialog } from '../components/dialog';
import { Badge, Loaded, PageHeader } from '../components/states';
import { formatBytes } from '../lib/format';
import { LogDetail } from './logs-detail';
import { type LogRecord, recordKey, TAIL_MAX_ROWS, useLogFeed } from './logs-feed';
import { exportHref, LOG_FILTER_KEYS, LogFilters, toLogQuery } from './logs-filters';
import { decisionLabel, decisionTone, latency, logTime, statusTone } from './logs-format';
import { useUrlFilters } from './logs-query';
import { Maybe, OpenButton, RecordSummary, RecordTable, useOpenRecord } from './logs-table';

/** A path that wraps after its slashes rather than inside a segment. */
function breakable(path: string) {
  return path.split(/(?<=\/)/).map((part, index) => (
    // biome-ignore lint/suspicious/noArrayIndexKey: the parts of one string, in order.
    <Fragment key={index}>
      {index > 0 ? <wbr /> : null}
      {part}
    </Fragment>
  ));
}

export function LogsPage() {
  const filters = useUrlFilters(LOG_FILTER_KEYS);
  const query = useMemo(() => toLogQuery(filters.values), [filters.values]);
  const [live, setLive] = useState(false);
  const feed = useLogFeed(query, live);
  const detail = useOpenRecord<LogRecord>();
  const open = detail.record;

  const clearButton = (
    <button type="button" className="secondary" onClick={filters.clear}>
      Clear filters
    </button>
  );

  return (
    <>
      <PageHeader
        title="Logs"
        subtitle="Every request decision through the gateway, forward-auth and the verification API."
        actions={
          <>
            <button
              type="button"
              className={live ? 'live-toggle' : 'live-toggle secondary outline'}
              aria-pressed={live}
              onClick={() => setLive((on) => !on)}
            >
              Live tail
            </button>
            {live ? (
              <output
                className={feed.paused ? 'live-indicator paused' : 'live-indicator'}
                data-testid="live-indicator"
              >
                {feed.paused ? 'Live (paused while this tab is hidden)' : 'Live'}
              </output>
            ) : null}
            <a className="export-link" href={exportHref('csv', query)} download>
              Export CSV
            </a>
            <a className="export-link" href={exportHref('ndjson', query)} download>
              Export NDJSON
            </a>
          </>
        }
      />
      <LogFilters filters={filters} />
      <Loaded
        state={feed}
        empty={{
          when: (rows) => rows.length === 0,
          title: filters.active ? 'No records match these filters' : 'No requests recorded yet',
          hint: filters.active ? (
            <>
              <p>Try a longer time range or fewer filters.</p>
              {clearButton}
            </>
          ) : (
            <p>
              Each request through the gateway, forward-auth or the verification API is recorded here within a
              second or two. Turn on <strong>Live tail</strong> to watch them arrive.
            </p>
          ),
        }}
      >
        {(rows) => (
          <>
            <RecordSummary
              shown={rows.length}
              noun={['record', 'records']}
              more={feed.loadMore !== undefined}
              onClear={filters.active ? filters.clear : undefined}
            />
            <RecordTable
              caption="Request records, newest first"
              className="log-table"
              rows={rows}
              rowKey={recordKey}
              onOpen={detail.open}
              rowClass={(row) => (feed.fresh.has(recordKey(row)) ? 'fresh' : undefined)}
              onLoadMore={feed.loadMore}
              loadingMore={feed.loadingMore}
              columns={[
                { header: 'Time', cell: (row) => <time dateTime={row.at}>{logTime(row.at)}</time> },
                { header: 'Method', cell: (row) => row.method },
                {
                  header: 'Path',
                  className: 'path',
                  cell: (row) => (
                    <OpenButton onOpen={() => detail.open(row)}>
                      <code>{breakable(row.path)}</code>
                    </OpenButton>
                  ),
                },
                {
                  header: 'Status',
                  cell: (row) => <Badge tone={statusTone(row.status)}>{row.status}</Badge>,
                },
                {
                  header: 'Decision',
                  cell: (row) => (
                    <Badge tone={decisionTone(row.decision)}>{decisionLabel(row.decision)}</Badge>
                  ),
                },
                { header: 'Code', cell: (row) => <Maybe value={row.code} /> },
                { header: 'Key', cell: (row) => <Maybe value={row.keyId} code /> },
                { header: 'Client', cell: (row) => <Maybe value={row.clientId} code /> },
                { header: 'Route', cell: (row) => <Maybe value={row.routeId} code /> },
                { header: 'IP', cell: (row) => row.ip },
                { header: 'Latency (ms)', numeric: true, cell: (row) => latency(row.totalMs) },
                { header: 'Bytes out', numeric: true, cell: (row) => formatBytes(row.bytesOut) },
              ]}
            />
            {live && rows.length >= TAIL_MAX_ROWS ? (
              <p className="muted">
                The live tail keeps the newest {TAIL_MAX_ROWS} records; older ones load again with “Load
                more”.
              </p>
            ) : null}
          </>
        )}
      </Loaded>
      <Dialog key={detail.key} open={open !== null} title="Request record" wide onClose={detail.close}>
        {open ? (
          <LogDetail
            record={open}
            onFilter={(patch) => {
              filters.set(patch);
              detail.close();
            }}
          />
        ) : null}
      </Dialog>
    </>
  );
}
