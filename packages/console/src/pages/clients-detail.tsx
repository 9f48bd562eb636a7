/**
 * One client: status (suspend, revoke, activate, each confirmed), metadata, its keys, its HMAC
 * secrets (a new one is shown once), its grants, and removal.
 */
import { useState } from 'react';
import { Link, useLocation } from 'wouter';
import { DataTable } from '../components/data-table';
import { FormDialog } from '../components/dialog';
import { Field, optional, required } from '../components/field';
import { IfCanWrite } from '../components/layout';
import { useNotify } from '../components/notify';
import { SecretOnceDialog } from '../components/secret-dialog';
import { Badge, EmptyState, Loaded, PageHeader } from '../components/states';
import { api, isPortcullisError, type Schemas } from '../lib/api';
import { formatRelative, formatTime } from '../lib/format';
import { consoleHref } from '../lib/links';
import { useApi } from '../lib/use-api';
import { ClientGrants } from './clients-grants';
import './keys.css';

type Status = Schemas['Client']['status'];
type ClientDetails = Awaited<ReturnType<typeof loadClient>>;
type StatusVerb = 'suspend' | 'revoke' | 'activate';
type Dialog = StatusVerb | 'edit' | 'hmac' | 'remove' | null;

const STATUS_TONE: Record<Status, 'ok' | 'warn' | 'bad'> = {
  active: 'ok',
  suspended: 'warn',
  revoked: 'bad',
};

export function ClientStatusBadge({ status }: { status: Status }) {
  return <Badge tone={STATUS_TONE[status]}>{status}</Badge>;
}

export function MetadataList({ metadata }: { metadata: Record<string, string> }) {
  const entries = Object.entries(metadata);
  if (entries.length === 0) return <span className="muted">—</span>;
  return (
    <>
      {entries.map(([name, value]) => (
        <code key={name} className="kv-meta">
          {name}={value}
        </code>
      ))}
    </>
  );
}

/** "team=ios, tier=gold" → { team: 'ios', tier: 'gold' }; throws a message naming the field. */
export function parseMetadata(text: string): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const part of text.split(/[,\n]/)) {
    const pair = part.trim();
    if (!pair) continue;
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`Metadata: "${pair}" is not key=value.`);
    metadata[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return metadata;
}

function changeStatus(id: string, verb: StatusVerb, reason: string | undefined) {
  const options = { params: { id }, body: reason === undefined ? {} : { reason } };
  switch (verb) {
    case 'suspend':
      return api.post('/admin/api/clients/{id}/suspend', options);
    case 'revoke':
      return api.post('/admin/api/clients/{id}/revoke', options);
    case 'activate':
      return api.post('/admin/api/clients/{id}/activate', options);
  }
}

function loadClient(id: string, signal: AbortSignal) {
  return api.get('/admin/api/clients/{id}', { params: { id }, signal });
}

export function ClientDetail({ id }: { id: string }) {
  const client = useApi((signal) => loadClient(id, signal), [id]);
  if (isPortcullisError(client.error) && client.error.status === 404) {
    return (
      <EmptyState title="No such client">
        There is no client <code>{id}</code>. <Link href={consoleHref('/clients')}>Back to the clients</Link>
      </EmptyState>
    );
  }
  return <Loaded state={client}>{(data) => <ClientView client={data} reload={client.reload} />}</Loaded>;
}

const VERBS: Record<StatusVerb, { button: string; title: string; says: string; danger: boolean }> = {
  suspend: {
    button: 'Suspend',
    title: 'Suspend client',
    says: 'Every request naming this client is refused with 403 client_suspended until it is activated again. Keys and grants are kept.',
    danger: true,
  },
  revoke: {
    button: 'Revoke',
    title: 'Revoke client',
    says: 'Every request naming this client is refused with 403 client_revoked. Keys and grants are kept, so it can be activated again.',
    danger: true,
  },
  activate: {
    button: 'Activate',
    title: 'Activate client',
    says: "The client's keys, secrets and tokens are accepted again.",
    danger: false,
  },
};

function ClientView({ client, reload }: { client: ClientDetails; reload: () => void }) {
  const { notify } = useNotify();
  const [, navigate] = useLocation();
  const [dialog, setDialog] = useState<Dialog>(null);
  // A new HMAC secret's plaintext: in this state only, dropped when its dialog closes.
  const [secret, setSecret] = useState<{ secret: string; previousSecretsExpireAt: string } | null>(null);
  const verbs: StatusVerb[] =
    client.status === 'active'
      ? ['suspend', 'revoke']
      : client.status === 'suspended'
        ? ['activate', 'revoke']
        : ['activate'];

  return (
    <>
      <p className="kv-back">
        <Link href={consoleHref('/clients')}>← Clients</Link>
      </p>
      <PageHeader
        title={client.name}
        subtitle={
          <>
            <code>{client.id}</code> <ClientStatusBadge status={client.status} />
            {client.statusReason ? <span className="muted"> {client.statusReason}</span> : null}
          </>
        }
        actions={
          <IfCanWrite>
            <button type="button" className="secondary" onClick={() => setDialog('edit')}>
              Edit
            </button>
            {verbs.map((verb) => (
              <button
                key={verb}
                type="button"
                className={VERBS[verb].danger ? 'secondary outline' : 'secondary'}
                onClick={() => setDialog(verb)}
              >
                {VERBS[verb].button}
              </button>
            ))}
            <button type="button" className="secondary" onClick={() => setDialog('hmac')}>
              New HMAC secret
            </button>
            <button type="button" className="danger" onClick={() => setDialog('remove')}>
              Remove client
            </button>
          </IfCanWrite>
        }
      />

      <section aria-labelledby="client-facts-heading">
        <h2 id="client-facts-heading" className="kv-heading">
          Details
        </h2>
        <dl className="kv-facts">
          <dt>Status</dt>
          <dd>
            <ClientStatusBadge status={client.status} />
            {client.statusReason ? <span className="muted">{client.statusReason}</span> : null}
          </dd>
          <dt>Metadata</dt>
          <dd>
            <MetadataList metadata={client.metadata} />
          </dd>
          <dt>Created</dt>
          <dd>{formatTime(client.createdAt)}</dd>
          <dt>Updated</dt>
          <dd>{formatTime(client.updatedAt)}</dd>
        </dl>
      </section>

      <section aria-labelledby="client-keys-heading">
        <div className="kv-section-head">
          <h2 id="client-keys-heading">API keys</h2>
          <Link href={consoleHref(`/keys?client=${encodeURIComponent(client.id)}`)}>Open in Keys</Link>
        </div>
        {client.keys.length === 0 ? (
          <EmptyState title="No keys yet">
            Create one on the{' '}
            <Link href={consoleHref(`/keys?client=${encodeURIComponent(client.id)}`)}>Keys</Link> page.
          </EmptyState>
        ) : (
          <DataTable
            caption={`API keys of ${client.name}`}
            rows={client.keys}
            rowKey={(row) => row.id}
            columns={[
              {
                header: 'Key',
                cell: (row) => (
                  <Link href={consoleHref(`/keys/${encodeURIComponent(row.id)}`)}>{row.name ?? row.id}</Link>
                ),
              },
              { header: 'ID', cell: (row) => <code>{row.id}</code> },
              { header: 'Env', cell: (row) => row.environment },
              {
                header: 'Status',
                cell: (row) => <Badge tone={row.status === 'active' ? 'ok' : 'bad'}>{row.status}</Badge>,
              },
            ]}
          />
        )}
      </section>

      <section aria-labelledby="client-hmac-heading">
        <h2 id="client-hmac-heading" className="kv-heading">
          HMAC secrets
        </h2>
        {client.hmacSecrets.length === 0 ? (
          <p className="muted">None. Create one with "New HMAC secret" to let this client sign requests.</p>
        ) : (
          <DataTable
            caption={`HMAC secrets of ${client.name}`}
            rows={client.hmacSecrets}
            rowKey={(row) => row.id}
            columns={[
              { header: 'ID', cell: (row) => <code>{row.id}</code> },
              { header: 'Created', cell: (row) => formatTime(row.createdAt) },
              {
                header: 'Valid',
                cell: (row) =>
                  row.expiresAt === null ? (
                    <Badge tone="ok">current</Badge>
                  ) : new Date(row.expiresAt).getTime() > Date.now() ? (
                    <Badge tone="warn">overlap, ends {formatRelative(row.expiresAt)}</Badge>
                  ) : (
                    <Badge>ended {formatRelative(row.expiresAt)}</Badge>
                  ),
              },
            ]}
          />
        )}
      </section>

      <ClientGrants client={client.id} clientName={client.name} />

      {(Object.keys(VERBS) as StatusVerb[]).map((verb) => (
        <FormDialog
          key={verb}
          open={dialog === verb}
          title={VERBS[verb].title}
          submitLabel={VERBS[verb].title}
          danger={VERBS[verb].danger}
          onClose={() => setDialog(null)}
          onSubmit={async (form) => {
            await changeStatus(client.id, verb, optional(form, 'reason'));
            notify('ok', `${client.name}: ${verb === 'activate' ? 'active' : `${verb}d`}`);
            reload();
          }}
        >
          <p>{VERBS[verb].says}</p>
          {verb === 'activate' ? null : (
            <Field
              label="Reason"
              name="reason"
              maxLength={200}
              hint="Optional; kept for admins, never shown to callers."
            />
          )}
        </FormDialog>
      ))}

      <FormDialog
        open={dialog === 'edit'}
        title="Edit client"
        submitLabel="Save changes"
        onClose={() => setDialog(null)}
        onSubmit={async (form) => {
          await api.patch('/admin/api/clients/{id}', {
            params: { id: client.id },
            body: { name: required(form, 'name'), metadata: parseMetadata(required(form, 'metadata')) },
          });
          notify('ok', 'Client saved');
          reload();
        }}
      >
        <Field label="Name" name="name" required defaultValue={client.name} />
        <Field
          label="Metadata"
          name="metadata"
          defaultValue={Object.entries(client.metadata)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')}
          hint="key=value pairs, comma separated; replaces all of them."
        />
      </FormDialog>

      <FormDialog
        open={dialog === 'hmac'}
        title="New HMAC secret"
        submitLabel="Create secret"
        onClose={() => setDialog(null)}
        onSubmit={async (form) => {
          const created = await api.post('/admin/api/clients/{id}/hmac-secrets', {
            params: { id: client.id },
            body: { overlap: optional(form, 'overlap') },
          });
          setSecret(created);
          reload();
        }}
      >
        <p>
          A new secret for signing requests. The previous secrets keep working for the overlap, so callers can
          switch without a gap.
        </p>
        <Field label="Overlap" name="overlap" placeholder="24h" hint="For example 1h, 24h, 7d. Empty: 24h." />
      </FormDialog>

      <FormDialog
        open={dialog === 'remove'}
        title="Remove client"
        submitLabel="Remove client"
        danger
        onClose={() => setDialog(null)}
        onSubmit={async () => {
          await api.delete('/admin/api/clients/{id}', { params: { id: client.id } });
          notify('ok', `Client ${client.name} removed`);
          navigate(consoleHref('/clients'));
        }}
      >
        <p>
          Removes <strong>{client.name}</strong> with its {client.keys.length} key(s), {client.grants.length}{' '}
          grant(s) and {client.hmacSecrets.length} HMAC secret(s). This cannot be undone; to stop its traffic
          for now, suspend it instead.
        </p>
      </FormDialog>

      <SecretOnceDialog
        secret={secret && dialog === null ? secret.secret : null}
        title="Your new HMAC secret"
        testId="new-hmac-secret"
        onDone={() => setSecret(null)}
      >
        {secret ? (
          <p className="muted">
            Sign with client id <code>{client.id}</code>. Earlier secrets stop working at{' '}
            {formatTime(secret.previousSecretsExpireAt)}.
          </p>
        ) : null}
      </SecretOnceDialog>
    </>
  );
}
