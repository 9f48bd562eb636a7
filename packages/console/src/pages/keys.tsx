/**
 * API keys: the list (filtered by client, status and environment, paged), "Create key" with
 * the plaintext shown once, and each key's page (keys-detail.tsx). Keys are shown by display
 * prefix only; the API never returns a secret after the create or rotate answer.
 */
import { useState } from 'react';
import { Link, Route, Switch, useLocation, useSearch } from 'wouter';
import { PagedTable } from '../components/data-table';
import { Select } from '../components/field';
import { IfCanWrite } from '../components/layout';
import { SecretOnceDialog } from '../components/secret-dialog';
import { PageHeader } from '../components/states';
import { api } from '../lib/api';
import { formatRelative } from '../lib/format';
import { consoleHref } from '../lib/links';
import { useApi } from '../lib/use-api';
import { usePaged } from '../lib/use-paged';
import { type CreatedKey, CreateKeyDialog } from './keys-create';
import { KeyDetail } from './keys-detail';
import { currentPrefix, KeyStatusBadge } from './keys-status';

export function KeysPage() {
  return (
    <Switch>
      <Route path="/" component={KeyList} />
      <Route path="/:id">{(params) => <KeyDetail id={params.id} />}</Route>
    </Switch>
  );
}

type Status = 'active' | 'revoked' | '';
type Environment = 'live' | 'test' | '';

/** Filters live in the address (`/keys?client=mobile-app`) so a filtered list can be linked. */
function useFilters() {
  const search = new URLSearchParams(useSearch());
  const [, navigate] = useLocation();
  const filters = {
    client: search.get('client') ?? '',
    status: (search.get('status') ?? '') as Status,
    environment: (search.get('environment') ?? '') as Environment,
  };
  const set = (change: Partial<typeof filters>) => {
    const next = new URLSearchParams(
      Object.entries({ ...filters, ...change }).filter(([, value]) => value !== ''),
    ).toString();
    navigate(consoleHref(`/keys${next ? `?${next}` : ''}`), { replace: true });
  };
  return [filters, set] as const;
}

function KeyList() {
  const [filters, setFilters] = useFilters();
  const [creating, setCreating] = useState(false);
  // The plaintext of a key just created: in this state only, dropped when its dialog closes.
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const clients = useApi((signal) => api.get('/admin/api/clients', { query: { limit: 1000 }, signal }), []);
  const keys = usePaged(
    (cursor, signal) =>
      api.get('/admin/api/keys', {
        query: {
          limit: 50,
          cursor,
          client: filters.client || undefined,
          status: filters.status || undefined,
          environment: filters.environment || undefined,
        },
        signal,
      }),
    [filters.client, filters.status, filters.environment],
  );
  const clientName = new Map((clients.data?.items ?? []).map((c) => [c.id, c.name]));
  const filtered = filters.client !== '' || filters.status !== '' || filters.environment !== '';

  return (
    <>
      <PageHeader
        title="Keys"
        subtitle="API keys by client. Only a display prefix is kept in view; the key itself is shown once, when it is made."
        actions={
          <IfCanWrite>
            <button type="button" onClick={() => setCreating(true)}>
              Create key
            </button>
          </IfCanWrite>
        }
      />
      <div className="filters">
        <Select
          label="Client"
          value={filters.client}
          onChange={(event) => setFilters({ client: event.target.value })}
          options={[
            { value: '', label: 'All clients' },
            ...(clients.data?.items ?? []).map((c) => ({ value: c.id, label: c.name })),
            // A client named in the address but not (yet) listed still shows as chosen.
            ...(filters.client && !clientName.has(filters.client)
              ? [{ value: filters.client, label: filters.client }]
              : []),
          ]}
        />
        <Select
          label="Status"
          value={filters.status}
          onChange={(event) => setFilters({ status: event.target.value as Status })}
          options={[
            { value: '', label: 'Any status' },
            { value: 'active', label: 'Active' },
            { value: 'revoked', label: 'Revoked' },
          ]}
        />
        <Select
          label="Environment"
          value={filters.environment}
          onChange={(event) => setFilters({ environment: event.target.value as Environment })}
          options={[
            { value: '', label: 'Both' },
            { value: 'live', label: 'live' },
            { value: 'test', label: 'test' },
          ]}
        />
      </div>
      <PagedTable
        state={keys}
        empty={{
          title: filtered ? 'No key matches these filters' : 'No API keys yet',
          hint: filtered
            ? 'Widen the filters to see more.'
            : 'Create a key for a client with "Create key", or `portcullis keys create --client <id>`.',
        }}
        caption="API keys"
        rowKey={(row) => row.id}
        columns={[
          {
            header: 'Key',
            cell: (row) => (
              <>
                <Link href={`/${row.id}`}>{row.name ?? row.id}</Link>
                <br />
                <code className="muted kv-nowrap">{currentPrefix(row)}</code>
              </>
            ),
          },
          {
            header: 'Client',
            cell: (row) => (
              <Link href={consoleHref(`/clients/${encodeURIComponent(row.client)}`)}>
                {clientName.get(row.client) ?? row.client}
              </Link>
            ),
          },
          { header: 'Scopes', cell: (row) => (row.scopes.length ? row.scopes.join(' ') : '—') },
          { header: 'Status', className: 'kv-nowrap', cell: (row) => <KeyStatusBadge keyRecord={row} /> },
          { header: 'Binding', cell: (row) => (row.binding === 'off' ? '—' : row.binding) },
          {
            header: 'Expires',
            className: 'kv-nowrap',
            cell: (row) => (row.expiresAt ? formatRelative(row.expiresAt) : 'never'),
          },
          {
            header: 'Last used',
            className: 'kv-nowrap',
            cell: (row) => (row.lastUsedAt ? formatRelative(row.lastUsedAt) : 'never'),
          },
        ]}
      />
      <CreateKeyDialog
        open={creating}
        client={filters.client || undefined}
        onClose={() => setCreating(false)}
        onCreated={(key) => {
          setCreated(key);
          keys.reload();
        }}
      />
      <SecretOnceDialog
        // Opens once the form has closed, so focus moves into this dialog and not back to the page.
        secret={created && !creating ? created.key : null}
        title="Your new API key"
        testId="new-key-secret"
        onDone={() => setCreated(null)}
      >
        {created ? (
          <p className="muted">
            Key <Link href={`/${created.id}`}>{created.name ?? created.id}</Link> for client{' '}
            {clientName.get(created.client) ?? created.client}. Send it as{' '}
            <code>Authorization: Bearer …</code> or <code>X-API-Key</code>.
          </p>
        ) : null}
      </SecretOnceDialog>
    </>
  );
}
