/**
 * Blocklist: addresses, networks, keys, clients and users refused before anything else is
 * checked. Admins add (with reason and expiry) and lift blocks; viewers only look.
 */
import { useState } from 'react';
import { PagedTable } from '../components/data-table';
import { FormDialog } from '../components/dialog';
import { Field, optional, required, Select } from '../components/field';
import { IfCanWrite } from '../components/layout';
import { useNotify } from '../components/notify';
import { Badge, PageHeader } from '../components/states';
import { api, type Schemas } from '../lib/api';
import { formatRelative, formatTime } from '../lib/format';
import { usePaged } from '../lib/use-paged';

type Block = Schemas['Block'];
type Kind = 'ip' | 'key' | 'client' | 'user';
const KINDS = ['ip', 'key', 'client', 'user'] as const;

export function BlocksPage() {
  const { run } = useNotify();
  const [kind, setKind] = useState<Kind | ''>('');
  const [active, setActive] = useState<'true' | 'false' | ''>('true');
  const [adding, setAdding] = useState(false);
  const blocks = usePaged(
    (cursor, signal) =>
      api.get('/admin/api/blocks', {
        query: {
          limit: 50,
          cursor,
          kind: kind || undefined,
          active: active === '' ? undefined : active === 'true',
        },
        signal,
      }),
    [kind, active],
  );

  const lift = async (block: Block) => {
    if (!window.confirm(`Lift the block on ${block.kind} ${block.value}?`)) return;
    await run(() => api.delete('/admin/api/blocks/{id}', { params: { id: block.id } }), 'Block lifted');
    blocks.reload();
  };

  return (
    <>
      <PageHeader
        title="Blocklist"
        subtitle="Refused before any other check, on every instance within a second."
        actions={
          <IfCanWrite>
            <button type="button" onClick={() => setAdding(true)}>
              Add block
            </button>
          </IfCanWrite>
        }
      />
      <div className="filters">
        <Select
          label="Kind"
          value={kind}
          onChange={(event) => setKind(event.target.value as Kind | '')}
          options={[{ value: '', label: 'All kinds' }, ...KINDS]}
        />
        <Select
          label="State"
          value={active}
          onChange={(event) => setActive(event.target.value as 'true' | 'false' | '')}
          options={[
            { value: 'true', label: 'Active' },
            { value: 'false', label: 'Expired or lifted' },
            { value: '', label: 'All' },
          ]}
        />
      </div>
      <PagedTable
        state={blocks}
        empty={{
          title: 'No blocks',
          hint: 'Nothing is blocked. Blocks added here, by the CLI or by anomaly detection show up in this list.',
        }}
        caption="Blocks"
        rowKey={(row) => row.id}
        columns={[
          { header: 'Kind', cell: (row) => row.kind },
          { header: 'Value', cell: (row) => <code>{row.value}</code> },
          { header: 'Reason', cell: (row) => row.reason },
          { header: 'Source', cell: (row) => <Badge>{row.source}</Badge> },
          { header: 'Created', cell: (row) => formatTime(row.createdAt) },
          {
            header: 'Expires',
            cell: (row) => (row.expiresAt ? formatRelative(row.expiresAt) : 'never'),
          },
          {
            header: 'Actions',
            cell: (row) => (
              <IfCanWrite>
                <div className="row-actions">
                  <button type="button" className="secondary" onClick={() => void lift(row)}>
                    Lift
                  </button>
                </div>
              </IfCanWrite>
            ),
          },
        ]}
      />
      <FormDialog
        open={adding}
        title="Add a block"
        submitLabel="Block"
        danger
        onClose={() => setAdding(false)}
        onSubmit={async (form) => {
          await api.post('/admin/api/blocks', {
            body: {
              kind: required(form, 'kind') as Kind,
              value: required(form, 'value'),
              reason: required(form, 'reason'),
              expires: optional(form, 'expires'),
            },
          });
          blocks.reload();
        }}
      >
        <Select label="Kind" name="kind" options={KINDS} defaultValue="ip" />
        <Field label="Value" name="value" required placeholder="203.0.113.7, 198.51.100.0/24, a key id…" />
        <Field
          label="Reason"
          name="reason"
          required
          maxLength={200}
          hint="Shown to admins, never to callers."
        />
        <Field
          label="Expires"
          name="expires"
          placeholder="1h, 7d, 2027-01-01 or never"
          hint="Empty means never."
        />
      </FormDialog>
    </>
  );
}
