/**
 * First-use IP bindings (docs/ip-controls.md): which keys are tied to which addresses, and the
 * intercepts (uses from elsewhere). The list shows every key with a binding mode, bound yet or
 * not; each key's page (bindings-detail.tsx) holds the actions: unbind, rebind, edit, ban.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link, Route, Switch } from 'wouter';
import { DataTable } from '../components/data-table';
import { Field } from '../components/field';
import { Badge, EmptyState, Loaded, PageHeader } from '../components/states';
import { api } from '../lib/api';
import { formatRelative, formatTime } from '../lib/format';
import { consoleHref } from '../lib/links';
import { usePaged } from '../lib/use-paged';
import { BindingDetail } from './bindings-detail';
import { Intercepts, KeyLink } from './bindings-intercepts';
import type { Key } from './keys-status';
import './keys.css';

type Details = Awaited<ReturnType<typeof loadDetails>>;

/** Pages of keys read in a row while none of them has a binding, before asking the user. */
const AUTO_PAGES = 5;

export function BindingsPage() {
  return (
    <Switch>
      <Route path="/" component={BindingList} />
      <Route path="/:keyId">{(params) => <BindingDetail keyId={params.keyId} />}</Route>
    </Switch>
  );
}

function loadDetails(keyId: string) {
  return api.get('/admin/api/bindings/{keyId}', { params: { keyId } });
}

/**
 * Mode, ban and archive of each listed key (the list rows carry only addresses). Fetched once
 * per key shown, a few at a time; a failure leaves that row's cells at "—".
 */
function useKeyDetails(keys: readonly string[]): Map<string, Details> {
  const [details, setDetails] = useState(new Map<string, Details>());
  // Keys already asked for (answered or not): each is fetched once while the list is shown.
  const asked = useRef(new Set<string>());
  const wanted = keys.join('\n');
  useEffect(() => {
    const missing = wanted.split('\n').filter((key) => key && !asked.current.has(key));
    for (const key of missing) asked.current.add(key);
    (async () => {
      for (let i = 0; i < missing.length; i += 6) {
        const batch = missing.slice(i, i + 6);
        const answers = await Promise.allSettled(batch.map((key) => loadDetails(key)));
        setDetails((map) => {
          const next = new Map(map);
          answers.forEach((answer, n) => {
            const key = batch[n];
            if (key && answer.status === 'fulfilled') next.set(key, answer.value);
          });
          return next;
        });
      }
    })();
  }, [wanted]);
  return details;
}

function BindingList() {
  const [filter, setFilter] = useState('');
  const keys = usePaged(
    (cursor, signal) => api.get('/admin/api/keys', { query: { limit: 200, cursor }, signal }),
    [],
  );
  const bound = useMemo(() => (keys.data ?? []).filter((key) => key.binding !== 'off'), [keys.data]);
  const details = useKeyDetails(bound.map((key) => key.id));
  const keyNames = useMemo(
    () => new Map((keys.data ?? []).flatMap((k) => (k.name ? [[k.id, k.name] as const] : []))),
    [keys.data],
  );

  // Bound keys may be few among many: read on while a page brings none, up to AUTO_PAGES.
  const pagesRead = useRef(0);
  useEffect(() => {
    if (!keys.data || keys.loadingMore || !keys.loadMore) return;
    pagesRead.current += 1;
    if (bound.length === 0 && pagesRead.current < AUTO_PAGES) keys.loadMore();
  }, [keys.data, keys.loadingMore, keys.loadMore, bound.length]);

  const needle = filter.trim().toLowerCase();
  const rows = needle
    ? bound.filter((key) => key.id.toLowerCase().includes(needle) || key.name?.toLowerCase().includes(needle))
    : bound;

  return (
    <>
      <PageHeader
        title="Bindings"
        subtitle="Keys tied to the addresses that first used them. A use from anywhere else is refused and recorded as an intercept."
      />
      <div className="filters kv-filters-wide">
        <Field
          label="Key"
          type="search"
          value={filter}
          onChange={(event) => setFilter(event.target.value)}
          placeholder="key id or name"
        />
      </div>
      <Loaded state={{ ...keys, data: keys.data === undefined ? undefined : rows }}>
        {(list) =>
          list.length === 0 ? (
            <EmptyState title={needle ? 'No bound key matches' : 'No bindings yet'}>
              {needle && /^key_/.test(filter.trim()) ? (
                <p>
                  Not among the keys read so far:{' '}
                  <Link href={`/${encodeURIComponent(filter.trim())}`}>open {filter.trim()}</Link>.
                </p>
              ) : (
                <p>
                  Give a key a binding mode (single, multiple or all) when creating or editing it on the{' '}
                  <Link href={consoleHref('/keys')}>Keys</Link> page; its first request binds it.
                </p>
              )}
              {keys.loadMore ? (
                <button
                  type="button"
                  className="secondary"
                  onClick={keys.loadMore}
                  aria-busy={keys.loadingMore}
                >
                  Load more
                </button>
              ) : null}
            </EmptyState>
          ) : (
            <DataTable
              caption="Bound keys"
              rows={list}
              rowKey={(row) => row.id}
              onLoadMore={keys.loadMore}
              loadingMore={keys.loadingMore}
              columns={[
                { header: 'Key', cell: (row) => <KeyLink id={row.id} name={row.name ?? undefined} /> },
                { header: 'Client', className: 'kv-nowrap', cell: (row) => row.client },
                { header: 'Mode', cell: (row) => <ModeCell keyRecord={row} info={details.get(row.id)} /> },
                { header: 'Bound IPs', cell: (row) => <BoundCell info={details.get(row.id)} /> },
                {
                  header: 'Last used',
                  className: 'kv-nowrap',
                  cell: (row) => <LastUsedCell info={details.get(row.id)} />,
                },
                {
                  header: 'Archived',
                  numeric: true,
                  cell: (row) => details.get(row.id)?.archived.length ?? '…',
                },
              ]}
            />
          )
        }
      </Loaded>
      <Intercepts title="Recent intercepts" headingId="recent-intercepts-heading" keyNames={keyNames} />
    </>
  );
}

function ModeCell({ keyRecord, info }: { keyRecord: Key; info: Details | undefined }) {
  return (
    <>
      {keyRecord.binding}
      {keyRecord.binding === 'multiple' ? <small className="muted"> (max {keyRecord.maxIps})</small> : null}
      {keyRecord.status === 'revoked' ? (
        <>
          {' '}
          <Badge tone="bad">revoked</Badge>
        </>
      ) : null}
      {info?.banned ? (
        <>
          {' '}
          <Badge tone="bad">banned</Badge>
        </>
      ) : null}
    </>
  );
}

function BoundCell({ info }: { info: Details | undefined }) {
  if (!info) return '…';
  if (info.bindings.length === 0) return <span className="muted">none yet</span>;
  return (
    <span className="kv-method-list">
      {info.bindings.slice(0, 6).map((b) => (
        <code key={b.id} title={b.source === 'admin' ? 'bound by an admin' : 'bound on first use'}>
          {b.address}
        </code>
      ))}
      {info.bindings.length > 6 ? <small className="muted">+{info.bindings.length - 6} more</small> : null}
    </span>
  );
}

function LastUsedCell({ info }: { info: Details | undefined }) {
  if (!info) return '…';
  const last = info.bindings.reduce<string | null>(
    (latest, b) => (latest === null || b.lastSeenAt > latest ? b.lastSeenAt : latest),
    null,
  );
  return last ? (
    <span title={formatTime(last)}>{formatRelative(last)}</span>
  ) : (
    <span className="muted">—</span>
  );
}
