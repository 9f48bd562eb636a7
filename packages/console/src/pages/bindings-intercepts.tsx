/**
 * Intercepts: requests refused because a key was used from outside its IP binding (403
 * ip_binding_violation), newest first, with CSV and NDJSON export. The export links are plain
 * downloads: the session cookie authenticates a GET, and nothing secret goes in the address.
 */
import { type FormEvent, useState } from 'react';
import { Link } from 'wouter';
import { PagedTable } from '../components/data-table';
import { Field, Select } from '../components/field';
import { api } from '../lib/api';
import { formatRelative, formatTime } from '../lib/format';
import { consoleHref } from '../lib/links';
import { usePaged } from '../lib/use-paged';

/** A key as a link to its binding: the name when it has one, the id below it. */
export function KeyLink({ id, name }: { id: string; name: string | undefined }) {
  return (
    <>
      <Link href={consoleHref(`/bindings/${encodeURIComponent(id)}`)}>{name ?? id}</Link>
      {name ? (
        <>
          <br />
          <small className="muted kv-nowrap">{id}</small>
        </>
      ) : null}
    </>
  );
}

const SINCE = [
  { value: '1h', label: 'Last hour' },
  { value: '24h', label: 'Last 24 hours' },
  { value: '7d', label: 'Last 7 days' },
  { value: '30d', label: 'Last 30 days' },
  { value: '', label: 'All kept' },
];

export function Intercepts({
  title,
  fixedKey,
  headingId,
  keyNames,
}: {
  title: string;
  /** Names for the key column (omitted with fixedKey). */
  keyNames?: Map<string, string>;
  /** Only this key's intercepts, without a key filter. */
  fixedKey?: string;
  headingId: string;
}) {
  const [keyFilter, setKeyFilter] = useState('');
  const [since, setSince] = useState('7d');
  const key = fixedKey ?? (keyFilter || undefined);
  const intercepts = usePaged(
    (cursor, signal) =>
      api.get('/admin/api/intercepts', {
        query: { limit: 50, cursor, key, since: since || undefined },
        signal,
      }),
    [key, since],
  );
  const exportHref = (format: 'csv' | 'ndjson') => {
    const query = new URLSearchParams({ format });
    if (key) query.set('key', key);
    if (since) query.set('since', since);
    return `/admin/api/intercepts/export?${query}`;
  };
  const applyKey = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const value = new FormData(event.currentTarget).get('key');
    setKeyFilter(typeof value === 'string' ? value.trim() : '');
  };

  return (
    <section aria-labelledby={headingId}>
      <div className="kv-section-head">
        <h2 id={headingId}>{title}</h2>
        <div className="kv-exports">
          <a href={exportHref('csv')} download>
            Export CSV
          </a>
          <a href={exportHref('ndjson')} download>
            Export NDJSON
          </a>
        </div>
      </div>
      <div className="filters kv-filters">
        {fixedKey ? null : (
          <search className="kv-search">
            <form className="kv-inline-form" onSubmit={applyKey}>
              <Field
                label="Intercepts for key"
                name="key"
                placeholder="key_… (empty: every key)"
                defaultValue={keyFilter}
              />
              <button type="submit" className="secondary">
                Filter
              </button>
            </form>
          </search>
        )}
        <Select
          label="Period"
          value={since}
          onChange={(event) => setSince(event.target.value)}
          options={SINCE}
        />
      </div>
      <PagedTable
        state={intercepts}
        empty={{
          title: 'No intercepts',
          hint: fixedKey
            ? 'Nobody has used this key from outside its binding in this period.'
            : 'No key was used from outside its IP binding in this period. A violation answers 403 ip_binding_violation and is listed here.',
        }}
        caption={title}
        rowKey={(row) => `${row.requestId}-${row.at}`}
        columns={[
          {
            header: 'Time',
            className: 'kv-nowrap',
            cell: (row) => (
              <time dateTime={row.at} title={formatTime(row.at)}>
                {formatRelative(row.at)}
              </time>
            ),
          },
          ...(fixedKey
            ? []
            : [
                {
                  header: 'Key',
                  cell: (row: NonNullable<typeof intercepts.data>[number]) => (
                    <KeyLink id={row.key} name={keyNames?.get(row.key)} />
                  ),
                },
              ]),
          {
            header: 'Bound IPs',
            cell: (row) =>
              row.bound.length ? (
                <span className="kv-method-list">
                  {row.bound.map((ip) => (
                    <code key={ip}>{ip}</code>
                  ))}
                </span>
              ) : (
                '—'
              ),
          },
          { header: 'Offending IP', cell: (row) => <code className="kv-offender">{row.ip}</code> },
          { header: 'Route', cell: (row) => row.route ?? '—' },
          {
            header: 'Request',
            cell: (row) => (
              <>
                <code>
                  {row.method} {row.path}
                </code>
                <br />
                <small className="muted" title="Request id">
                  {row.requestId}
                </small>
              </>
            ),
          },
        ]}
      />
    </section>
  );
}
