/**
 * Clients (the API consumers keys and HMAC secrets belong to) and their grants: the list with
 * "Add client", and each client's page (clients-detail.tsx) with status, keys, HMAC secrets
 * and the routes it may call.
 */
import { useState } from 'react';
import { Link, Route, Switch } from 'wouter';
import { PagedTable } from '../components/data-table';
import { FormDialog } from '../components/dialog';
import { Field, optional, required } from '../components/field';
import { IfCanWrite } from '../components/layout';
import { useNotify } from '../components/notify';
import { PageHeader } from '../components/states';
import { api } from '../lib/api';
import { formatTime } from '../lib/format';
import { usePaged } from '../lib/use-paged';
import { ClientDetail, ClientStatusBadge, MetadataList, parseMetadata } from './clients-detail';

export function ClientsPage() {
  return (
    <Switch>
      <Route path="/" component={ClientList} />
      <Route path="/:id">{(params) => <ClientDetail id={params.id} />}</Route>
    </Switch>
  );
}

function ClientList() {
  const { notify } = useNotify();
  const [adding, setAdding] = useState(false);
  const clients = usePaged(
    (cursor, signal) => api.get('/admin/api/clients', { query: { limit: 50, cursor }, signal }),
    [],
  );

  return (
    <>
      <PageHeader
        title="Clients & grants"
        subtitle="The API consumers: their status, keys, HMAC secrets, and the routes each may call."
        actions={
          <IfCanWrite>
            <button type="button" onClick={() => setAdding(true)}>
              Add client
            </button>
          </IfCanWrite>
        }
      />
      <PagedTable
        state={clients}
        empty={{
          title: 'No clients yet',
          hint: 'A client owns keys and HMAC secrets and is granted routes. Add one with "Add client" or `portcullis clients add --name …`.',
        }}
        caption="Clients"
        rowKey={(row) => row.id}
        columns={[
          {
            header: 'Name',
            cell: (row) => <Link href={`/${encodeURIComponent(row.id)}`}>{row.name}</Link>,
          },
          { header: 'ID', cell: (row) => <code>{row.id}</code> },
          {
            header: 'Status',
            cell: (row) => (
              <>
                <ClientStatusBadge status={row.status} />
                {row.statusReason ? <small className="muted"> {row.statusReason}</small> : null}
              </>
            ),
          },
          { header: 'Metadata', cell: (row) => <MetadataList metadata={row.metadata} /> },
          { header: 'Created', cell: (row) => formatTime(row.createdAt) },
        ]}
      />
      <FormDialog
        open={adding}
        title="Add a client"
        submitLabel="Add client"
        onClose={() => setAdding(false)}
        onSubmit={async (form) => {
          const metadata = parseMetadata(required(form, 'metadata'));
          const client = await api.post('/admin/api/clients', {
            body: {
              name: required(form, 'name'),
              id: optional(form, 'id'),
              ...(Object.keys(metadata).length ? { metadata } : {}),
            },
          });
          notify('ok', `Client ${client.name} added`);
          clients.reload();
        }}
      >
        <Field
          label="Name"
          name="name"
          required
          placeholder="Mobile App"
          hint="Sent upstream in a header: visible characters only."
        />
        <Field
          label="ID"
          name="id"
          placeholder="mobile-app"
          hint="Optional: made from the display text when empty. Lower-case letters, digits, '.', '_' and '-'."
        />
        <Field
          label="Metadata"
          name="metadata"
          placeholder="team=ios, tier=gold"
          hint="Optional key=value pairs, comma separated."
        />
      </FormDialog>
    </>
  );
}
