/**
 * One key's binding: mode, bound and archived addresses, ban, intercepts; and the admin's
 * actions: unbind (the next request binds again), rebind to given addresses, edit the mode
 * and limits, ban and unban the key.
 */
import { useState } from 'react';
import { Link } from 'wouter';
import { DataTable } from '../components/data-table';
import { FormDialog } from '../components/dialog';
import { Field, optional, required, Select } from '../components/field';
import { IfCanWrite } from '../components/layout';
import { useNotify } from '../components/notify';
import { Badge, EmptyState, Loaded, PageHeader } from '../components/states';
import { api, isPortcullisError } from '../lib/api';
import { formatRelative, formatTime, splitList } from '../lib/format';
import { consoleHref } from '../lib/links';
import { useApi } from '../lib/use-api';
import { Intercepts } from './bindings-intercepts';
import { BINDING_OPTIONS, type BindingMode, optionalInt } from './keys-create';
import './keys.css';

type Details = Awaited<ReturnType<typeof loadDetails>>;
type Dialog = 'unbind' | 'rebind' | 'edit' | 'ban' | 'unban' | null;

function loadDetails(keyId: string, signal: AbortSignal) {
  return api.get('/admin/api/bindings/{keyId}', { params: { keyId }, signal });
}

export function BindingDetail({ keyId }: { keyId: string }) {
  const details = useApi((signal) => loadDetails(keyId, signal), [keyId]);
  if (isPortcullisError(details.error) && details.error.status === 404) {
    return (
      <EmptyState title="No such key">
        There is no key <code>{keyId}</code>.{' '}
        <Link href={consoleHref('/bindings')}>Back to the bindings</Link>
      </EmptyState>
    );
  }
  return <Loaded state={details}>{(data) => <BindingView details={data} reload={details.reload} />}</Loaded>;
}

function prefixText(length: number | null, family: 'IPv4' | 'IPv6'): string {
  return length === null ? `${family}: the address itself` : `${family}: the /${length} network`;
}

/** "" → null (the address itself), digits → the number; the browser checked the format. */
function prefixValue(form: FormData, name: string): number | null {
  return optionalInt(form, name) ?? null;
}

function BindingView({ details, reload }: { details: Details; reload: () => void }) {
  const { notify } = useNotify();
  const [dialog, setDialog] = useState<Dialog>(null);
  const keyId = details.key;
  const key = useApi((signal) => api.get('/admin/api/keys/{id}', { params: { id: keyId }, signal }), [keyId]);
  const close = () => setDialog(null);
  const capacity = details.mode === 'single' ? 1 : details.mode === 'multiple' ? (details.maxIps ?? 1) : null;

  return (
    <>
      <p className="kv-back">
        <Link href={consoleHref('/bindings')}>← Bindings</Link>
      </p>
      <PageHeader
        title={`Binding of ${key.data?.name ?? keyId}`}
        subtitle={
          <>
            Key <Link href={consoleHref(`/keys/${encodeURIComponent(keyId)}`)}>{keyId}</Link>
            {key.data ? <> · client {key.data.client}</> : null}
          </>
        }
        actions={
          <IfCanWrite>
            <button type="button" className="secondary" onClick={() => setDialog('edit')}>
              Edit
            </button>
            <button type="button" className="secondary" onClick={() => setDialog('rebind')}>
              Rebind
            </button>
            <button type="button" className="secondary" onClick={() => setDialog('unbind')}>
              Unbind
            </button>
            {details.banned ? (
              <button type="button" className="secondary" onClick={() => setDialog('unban')}>
                Unban
              </button>
            ) : (
              <button type="button" className="danger" onClick={() => setDialog('ban')}>
                Ban
              </button>
            )}
          </IfCanWrite>
        }
      />

      <div className="grid-cards kv-cards">
        <article>
          <h2 className="kv-card-title">Mode</h2>
          <p className="stat">
            <Badge tone={details.mode === 'off' ? 'neutral' : 'ok'}>{details.mode}</Badge>
          </p>
          <p className="muted">
            {details.mode === 'off'
              ? 'Not bound: any address may use the key.'
              : details.mode === 'all'
                ? 'Records every address, refuses none.'
                : `Holds ${capacity} address${capacity === 1 ? '' : 'es'}; others are refused.`}
          </p>
        </article>
        <article>
          <h2 className="kv-card-title">Binds</h2>
          <p className="kv-stat-text">{prefixText(details.bindPrefixV4, 'IPv4')}</p>
          <p className="kv-stat-text">{prefixText(details.bindPrefixV6, 'IPv6')}</p>
        </article>
        <article>
          <h2 className="kv-card-title">Ban</h2>
          {details.banned ? (
            <>
              <p className="stat">
                <Badge tone="bad">banned</Badge>
              </p>
              <p className="muted">
                {details.banned.reason}
                {details.banned.expiresAt
                  ? `; lifts ${formatRelative(details.banned.expiresAt)}`
                  : '; until lifted'}
              </p>
            </>
          ) : (
            <>
              <p className="stat">
                <Badge tone="ok">not banned</Badge>
              </p>
              <p className="muted">A ban refuses the key everywhere (403 blocked).</p>
            </>
          )}
        </article>
      </div>

      <section aria-labelledby="bound-heading">
        <h2 id="bound-heading" className="kv-heading">
          Bound addresses
        </h2>
        {details.bindings.length === 0 ? (
          <p className="muted">
            {details.mode === 'off'
              ? 'None: binding is off for this key.'
              : 'None yet: the next request binds.'}
          </p>
        ) : (
          <DataTable
            caption="Bound addresses"
            rows={details.bindings}
            rowKey={(row) => row.id}
            columns={[
              { header: 'Address', cell: (row) => <code>{row.address}</code> },
              { header: 'Slot', numeric: true, cell: (row) => (row.slot === null ? 'recorded' : row.slot) },
              { header: 'Source', cell: (row) => (row.source === 'admin' ? 'admin' : 'first use') },
              { header: 'Bound', cell: (row) => formatTime(row.createdAt) },
              {
                header: 'Last used',
                cell: (row) => (
                  <span title={formatTime(row.lastSeenAt)}>{formatRelative(row.lastSeenAt)}</span>
                ),
              },
            ]}
          />
        )}
      </section>

      {details.archived.length > 0 ? (
        <section aria-labelledby="archived-heading">
          <h2 id="archived-heading" className="kv-heading">
            Archived
          </h2>
          <p className="muted">Bindings unused for a long time; the key binds again on its next request.</p>
          <DataTable
            caption="Archived bindings"
            rows={details.archived}
            rowKey={(row) => `${row.address}-${row.archivedAt}`}
            columns={[
              { header: 'Address', cell: (row) => <code>{row.address}</code> },
              { header: 'Last used', cell: (row) => formatTime(row.lastSeenAt) },
              { header: 'Archived', cell: (row) => formatTime(row.archivedAt) },
            ]}
          />
        </section>
      ) : null}

      <Intercepts title="Intercepts" fixedKey={keyId} headingId="key-intercepts-heading" />

      <FormDialog
        open={dialog === 'unbind'}
        title="Unbind key"
        submitLabel="Unbind"
        onClose={close}
        onSubmit={async () => {
          const result = await api.post('/admin/api/bindings/{keyId}/unbind', {
            params: { keyId },
            body: {},
          });
          notify('ok', `Unbound ${result.removed} address${result.removed === 1 ? '' : 'es'}`);
          reload();
        }}
      >
        <p>
          Forgets the {details.bindings.length} bound address{details.bindings.length === 1 ? '' : 'es'}. The
          mode stays <strong>{details.mode}</strong>, so the key's next request binds again.
        </p>
      </FormDialog>

      <FormDialog
        open={dialog === 'rebind'}
        title="Rebind key"
        submitLabel="Rebind"
        onClose={close}
        onSubmit={async (form) => {
          await api.post('/admin/api/bindings/{keyId}/rebind', {
            params: { keyId },
            body: { ips: splitList(required(form, 'ips')) },
          });
          notify('ok', 'Key rebound');
          reload();
        }}
      >
        <p>Replaces the bound addresses with these, at once.</p>
        <Field
          label="IP addresses"
          name="ips"
          required
          placeholder="10.0.0.7, 192.0.2.0/24"
          defaultValue={details.bindings.map((b) => b.address).join(', ')}
          hint={
            capacity === null
              ? 'Addresses or CIDRs, comma or space separated.'
              : `Addresses or CIDRs, comma or space separated; at most ${capacity} in ${details.mode} mode.`
          }
        />
      </FormDialog>

      <FormDialog
        open={dialog === 'edit'}
        title="Edit binding"
        submitLabel="Save changes"
        onClose={close}
        onSubmit={async (form) => {
          const body: {
            mode?: BindingMode;
            maxIps?: number;
            bindPrefixV4?: number | null;
            bindPrefixV6?: number | null;
          } = {};
          const mode = required(form, 'mode') as BindingMode;
          if (mode !== details.mode) body.mode = mode;
          const maxIps = optionalInt(form, 'maxIps');
          if (maxIps !== undefined && maxIps !== details.maxIps) body.maxIps = maxIps;
          const v4 = prefixValue(form, 'bindPrefixV4');
          if (v4 !== details.bindPrefixV4) body.bindPrefixV4 = v4;
          const v6 = prefixValue(form, 'bindPrefixV6');
          if (v6 !== details.bindPrefixV6) body.bindPrefixV6 = v6;
          if (Object.keys(body).length === 0) return;
          await api.patch('/admin/api/bindings/{keyId}', { params: { keyId }, body });
          notify('ok', 'Binding saved');
          reload();
        }}
      >
        <Select
          label="Mode"
          name="mode"
          defaultValue={details.mode}
          options={BINDING_OPTIONS}
          hint="An enforcing mode keeps the addresses that fit and drops the rest."
        />
        <Field
          label="Max IPs"
          name="maxIps"
          type="number"
          min={1}
          step={1}
          inputMode="numeric"
          defaultValue={details.maxIps ?? ''}
          hint="How many addresses a multiple binding holds."
        />
        <div className="grid">
          <Field
            label="IPv4 prefix length"
            name="bindPrefixV4"
            type="number"
            min={0}
            max={32}
            step={1}
            inputMode="numeric"
            defaultValue={details.bindPrefixV4 ?? ''}
            placeholder="the address itself"
            hint="24 binds the first address's /24. Empty: the address itself."
          />
          <Field
            label="IPv6 prefix length"
            name="bindPrefixV6"
            type="number"
            min={0}
            max={128}
            step={1}
            inputMode="numeric"
            defaultValue={details.bindPrefixV6 ?? ''}
            placeholder="the address itself"
            hint="64 binds the first address's /64. Empty: the address itself."
          />
        </div>
      </FormDialog>

      <FormDialog
        open={dialog === 'ban'}
        title="Ban key"
        submitLabel="Ban key"
        danger
        onClose={close}
        onSubmit={async (form) => {
          await api.post('/admin/api/bindings/{keyId}/ban', {
            params: { keyId },
            body: { reason: required(form, 'reason'), expires: optional(form, 'expires') },
          });
          notify('ok', 'Key banned');
          reload();
        }}
      >
        <p>Every request with this key is refused (403 blocked), from any address, on every instance.</p>
        <Field
          label="Reason"
          name="reason"
          required
          maxLength={200}
          hint="Kept for admins, never shown to callers."
        />
        <Field label="Expires" name="expires" placeholder="24h, 7d, 2027-01-01" hint="Empty: until lifted." />
      </FormDialog>

      <FormDialog
        open={dialog === 'unban'}
        title="Unban key"
        submitLabel="Unban key"
        onClose={close}
        onSubmit={async () => {
          await api.post('/admin/api/bindings/{keyId}/unban', { params: { keyId }, body: {} });
          notify('ok', 'Ban lifted');
          reload();
        }}
      >
        <p>Lifts the ban ({details.banned?.reason}). The key's binding still applies.</p>
      </FormDialog>
    </>
  );
}
